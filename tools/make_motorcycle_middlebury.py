"""Write the Middlebury 2014 "Motorcycle" pair shipped with scikit-image in Middlebury's own layout.

The synthetic stereo split shows that the sample network and the evaluation
code agree with each other; this real pair shows how they cope with a real
scene and a real file format. ``skimage.data.stereo_motorcycle()`` holds the
default-exposure images and ground truth of the Middlebury 2014 scene,
downsampled by 4 (741x500). They are written as a MiddEval3-style scene
folder::

    Motorcycle/im0.png       left view, colour
    Motorcycle/im1.png       right view, colour
    Motorcycle/disp0GT.pfm   left disparity, float32 PFM, inf = no ground truth
    Motorcycle/calib.txt     Middlebury calibration file

PFM as Middlebury writes it: header ``Pf`` (one channel), ``width height``,
a negative scale (little-endian floats), then rows from bottom to top.

calib.txt holds the real Motorcycle calibration of the full-resolution
(2964x2000) Middlebury 2014 scene, ``cam0=[3979.911 0 1244.772; 0 3979.911
1019.507; 0 0 1]``, ``cam1=[3979.911 0 1369.115; ...]``, ``doffs=124.343``,
``baseline=193.001``, ``ndisp=270``, ``vmin=23``, ``vmax=245``, with every
pixel quantity divided by the downsampling factor 4; focal length, principal
point and doffs agree with the values in scikit-image's docstring. The
baseline is in millimetres and stays as it is. ``ndisp`` (67.5) is rounded
up, and ``vmin``/``vmax`` (5.75, 61.25) are rounded outwards to integers, so
they stay bounds of the ground truth (7.2 to 59.9 here).

Usage::

    python tools/make_motorcycle_middlebury.py --out datasets/stereo/middlebury
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
from skimage import data

SCENE = "Motorcycle"
DOWNSAMPLE = 4
# Middlebury 2014 Motorcycle calib.txt, full resolution.
FOCAL = 3979.911
CX0, CX1, CY = 1244.772, 1369.115, 1019.507
DOFFS = 124.343
BASELINE_MM = 193.001
NDISP, VMIN, VMAX = 270, 23, 245


def _num(value: float) -> str:
    """Three decimals without trailing zeros, as in Middlebury's files."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _camera(cx: float) -> str:
    """Intrinsic matrix in Middlebury's ``[fx 0 cx; 0 fy cy; 0 0 1]`` notation."""
    f, cy = FOCAL / DOWNSAMPLE, CY / DOWNSAMPLE
    return f"[{_num(f)} 0 {_num(cx / DOWNSAMPLE)}; 0 {_num(f)} {_num(cy)}; 0 0 1]"


def calib_text(width: int, height: int) -> str:
    """calib.txt for the downsampled scene."""
    lines = [
        f"cam0={_camera(CX0)}",
        f"cam1={_camera(CX1)}",
        f"doffs={_num(DOFFS / DOWNSAMPLE)}",
        f"baseline={_num(BASELINE_MM)}",
        f"width={width}",
        f"height={height}",
        f"ndisp={math.ceil(NDISP / DOWNSAMPLE)}",
        "isint=0",
        f"vmin={math.floor(VMIN / DOWNSAMPLE)}",
        f"vmax={math.ceil(VMAX / DOWNSAMPLE)}",
        "dyavg=0",
        "dymax=0",
    ]
    return "\n".join(lines) + "\n"


def write_pfm(path: Path, image: np.ndarray) -> None:
    """Single-channel little-endian PFM, rows bottom to top."""
    height, width = image.shape
    header = f"Pf\n{width} {height}\n-1.0\n".encode("ascii")
    path.write_bytes(header + np.flipud(image).astype("<f4").tobytes())


def read_pfm(path: Path) -> np.ndarray:
    """Read a single-channel PFM into a top-to-bottom float32 array."""
    with path.open("rb") as f:
        if f.readline().strip() != b"Pf":
            raise ValueError(f"{path}: not a single-channel PFM")
        width, height = (int(v) for v in f.readline().split())
        scale = float(f.readline())
        dtype = "<f4" if scale < 0 else ">f4"
        rows = np.frombuffer(f.read(width * height * 4), dtype).reshape(height, width)
    return np.flipud(rows).astype(np.float32)


def _check(scene: Path, left: np.ndarray, right: np.ndarray, disparity: np.ndarray) -> None:
    """Read every file back and compare with the scikit-image arrays."""
    for name, rgb in (("im0.png", left), ("im1.png", right)):
        if not np.array_equal(cv2.imread(str(scene / name), cv2.IMREAD_COLOR), rgb[..., ::-1]):
            raise RuntimeError(f"{name} does not read back as the scikit-image image")
    back = read_pfm(scene / "disp0GT.pfm")
    valid = np.isfinite(disparity)
    same_valid = np.array_equal(np.isfinite(back), valid) and np.isinf(back[~valid]).all()
    if not (same_valid and np.array_equal(back[valid], disparity[valid])):
        raise RuntimeError("disp0GT.pfm does not read back as the scikit-image disparity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/stereo/middlebury"))
    args = parser.parse_args()

    left, right, disparity = data.stereo_motorcycle()
    scene = args.out / SCENE
    scene.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(scene / "im0.png"), cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(scene / "im1.png"), cv2.cvtColor(right, cv2.COLOR_RGB2BGR))
    # scikit-image marks missing ground truth as inf or NaN; Middlebury uses inf.
    write_pfm(scene / "disp0GT.pfm", np.where(np.isfinite(disparity), disparity, np.inf))
    height, width = disparity.shape
    (scene / "calib.txt").write_text(calib_text(width, height))
    _check(scene, left, right, disparity)
    valid = np.isfinite(disparity)
    print(
        f"wrote {scene}: {width}x{height}, {valid.sum()} pixels with ground truth, "
        f"disparity {disparity[valid].min():.2f}..{disparity[valid].max():.2f}"
    )


if __name__ == "__main__":
    main()
