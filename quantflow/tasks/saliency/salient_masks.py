"""Salient-object datasets in the DUTS / ECSSD / HKU-IS layout: an image folder and a mask folder of grey PNGs
(0..255) with the same names (DUTS-TE-Image/ + DUTS-TE-Mask/, images/ + ground_truth_mask/)."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS, IMAGE_SUFFIXES, ImageFiles, fingerprint_files
from quantflow.core.config_base import ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.core.geometry import Geometry
from quantflow.tasks.saliency.foreground_map import ForegroundMap
from quantflow.tasks.saliency.saliency_metric import ROW_WIDTH, saliency_row

FOREGROUND_LEVEL = 128  # of 255: the benchmarks' binarization of grey masks


@ADAPTERS.register("salient_masks")
class SalientMasks(ImageFiles):
    """Every image needs its mask: `masks/<image stem><mask_suffix>`."""

    task = "saliency"
    row_width = ROW_WIDTH
    where = "dataset.masks"

    class Config(ProviderConfig):
        images: ExistingFolder = Field(description="Folder of images.")
        masks: ExistingFolder = Field(description="Folder of grey masks (0..255), named as the images.")
        mask_suffix: str = Field(default=".png", description="Replaces the image suffix in mask names.")

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.files = sorted(p for p in config.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise UserInputError(f"dataset.images: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in "
                                 f"{shown(config.images)}")
        self.masks = [config.masks / f"{f.stem}{config.mask_suffix}" for f in self.files]
        missing = [m for m in self.masks if not m.is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UserInputError(f"dataset.masks: no mask {shown(missing[0].name)} for image "
                                 f"{shown(self.files[self.masks.index(missing[0])].name)}{more}")

    def fingerprint(self) -> str:
        return fingerprint_files(self.files + self.masks)

    def ground_truth(self) -> None:
        """Masks are read per image while evaluating; the metric pools the rows."""
        return None

    def truth(self, sample_id: int, size: tuple[int, int]) -> np.ndarray:
        """The image's foreground (mask ≥ 128), which must be the image's `size`."""
        path = self.masks[sample_id - 1]
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise UserInputError(f"dataset.masks: {shown(path.name)} is not a readable image")
        if mask.shape != tuple(size):
            raise UserInputError(f"dataset.masks: {shown(path.name)} is {mask.shape[1]}x{mask.shape[0]} (width x "
                                 f"height), its image is {size[1]}x{size[0]}; a mask must match its image")
        return mask >= FOREGROUND_LEVEL

    def check_sample(self, sample_id: int) -> None:
        self.truth(sample_id, self.load_image(sample_id).shape[:2])

    def rows(self, sample_id: int, decoded: ForegroundMap, geometry: Geometry) -> np.ndarray:
        return saliency_row(sample_id, decoded.to_original(geometry), self.truth(sample_id, geometry.orig_size))
