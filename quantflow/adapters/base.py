"""The dataset adapter interface: ids, lazily decoded images, and (optionally) COCO-style ground truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from quantflow.errors import UserInputError
from quantflow.registry import Registry

ADAPTERS: Registry = Registry("dataset type")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: Path, where: str) -> np.ndarray:
    """Decode one image as 3-channel BGR, ignoring EXIF rotation as COCO's own tools do."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise UserInputError(f"{where}: cannot decode image {path}")
    return image


def fingerprint_files(paths: list[Path], extra: bytes = b"") -> str:
    """sha256 over names and sizes of the files (and extra bytes such as the annotation file): cheap and stable."""
    digest = hashlib.sha256(extra)
    for path in sorted(paths):
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


class DatasetAdapter:
    """A dataset: `ids()` in a stable order, `load_image(id)` decoded on demand so memory stays flat."""

    Config: type
    has_labels: bool = True

    def __init__(self, config) -> None:
        self.config = config

    def ids(self) -> list[int]:
        raise NotImplementedError

    def load_image(self, image_id: int) -> np.ndarray:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def category_of(self, model_labels: np.ndarray) -> np.ndarray:
        """Dataset category ids for the model's class indices; -1 where a label has no category."""
        raise NotImplementedError
