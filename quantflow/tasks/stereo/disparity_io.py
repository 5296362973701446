"""Ground-truth disparity files as the benchmarks ship them: Middlebury PFM and KITTI 16-bit PNG."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from quantflow.core.errors import UserInputError, shown
from quantflow.core.image_decode import read_png_unchanged

PFM_HEADER = re.compile(rb"^(PF|Pf)\s+(\d+)\s+(\d+)\s+(-?[\d.eE+-]+)\s")


def read_pfm(path: Path) -> np.ndarray:
    """A PFM image as float32 [H, W] (or [H, W, 3] for colour PF): a negative scale means little-endian, and rows
    are stored bottom to top. Middlebury marks invalid pixels with inf, which is kept."""
    data = path.read_bytes()
    match = PFM_HEADER.match(data)
    if not match:
        raise UserInputError(f"dataset: {path.name} is not a PFM file (expected a 'Pf' or 'PF' header)")
    kind, width, height, scale = match.group(1), int(match.group(2)), int(match.group(3)), float(match.group(4))
    channels = 3 if kind == b"PF" else 1
    count = width * height * channels
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    if len(data) - match.end() < count * 4:
        raise UserInputError(f"dataset: {path.name} is truncated ({width}×{height}×{channels} floats expected)")
    values = np.frombuffer(data, dtype, count, offset=match.end()).astype(np.float32)
    image = values.reshape(height, width, channels)[::-1]
    return np.ascontiguousarray(image[:, :, 0] if channels == 1 else image)


def read_kitti_disparity(path: Path) -> np.ndarray:
    """A KITTI disparity PNG (uint16, disparity × 256, 0 = no ground truth) as float32 pixels, 0 where invalid;
    a truncated or corrupt PNG is an error, since a partly decoded map would skew the metric."""
    raw = read_png_unchanged(path, "dataset", kind="disparity image")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise UserInputError(f"dataset: {path.name} is not a KITTI disparity map (expected a 16-bit one-channel "
                             f"PNG, got {raw.dtype} with shape {raw.shape})")
    return raw.astype(np.float32) / 256.0


def read_disparity(path: Path) -> np.ndarray:
    """Ground truth by file type: .pfm (Middlebury, inf invalid), .png (KITTI), .npy (float, inf/NaN/0 invalid)."""
    if path.suffix.lower() == ".pfm":
        return read_pfm(path)
    if path.suffix.lower() == ".png":
        return read_kitti_disparity(path)
    if path.suffix.lower() == ".npy":
        try:
            truth = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise UserInputError(f"dataset: cannot read {shown(path.name)} as .npy ({shown(exc)})") from None
        if truth.ndim != 2 or not np.issubdtype(truth.dtype, np.number):
            raise UserInputError(f"dataset: {shown(path.name)} is not a disparity map (expected a 2-D array of "
                                 f"numbers, got {truth.dtype} {list(truth.shape)})")
        return truth.astype(np.float32)
    raise UserInputError(f"dataset: unsupported disparity file {path.name}; expected .pfm, .png or .npy")
