"""A folder of unlabeled images: calibration data, or annotation-free evaluation against FP32 predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS, IMAGE_SUFFIXES, fingerprint_files
from quantflow.core.config_base import ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.detections import DetectionDataset


@ADAPTERS.register("image_folder")
class ImageFolder(DetectionDataset):
    """Images sorted by file name get ids 1..N. Without labels, the FP32 model's confident predictions
    become the reference labels (as POT's annotation-free mode did) and the report says so."""

    has_labels = False

    class Config(ProviderConfig):
        images: ExistingFolder = Field(description="Folder of images (jpg, png, bmp, webp, tif).")
        pseudo_label_threshold: float = Field(
            default=0.5, ge=0, le=1, description="FP32 detections at or above this score become reference labels."
        )

    def __init__(self, config: Config, where: str = "dataset.images") -> None:
        super().__init__(config)
        self.where = where
        self.files = sorted(p for p in config.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise UserInputError(f"{where}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {config.images}")

    @classmethod
    def from_folder(cls, folder: Path, where: str) -> "ImageFolder":
        return cls(cls.Config(type="image_folder", images=folder), where)

    def ids(self) -> list[int]:
        return list(range(1, len(self.files) + 1))

    def file_of(self, image_id: int) -> Path:
        return self.files[image_id - 1]

    def fingerprint(self) -> str:
        return fingerprint_files(self.files)

    def category_of(self, model_labels: np.ndarray) -> np.ndarray:
        return np.asarray(model_labels, dtype=np.int64)
