"""The dataset adapter interface: ids, lazily decoded images, and (optionally) COCO-style ground truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from quantflow.core.geometry import Geometry
from quantflow.core.image_decode import read_bgr
from quantflow.core.registry import Registry

ADAPTERS: Registry = Registry("dataset type", package="quantflow.tasks")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: Path, where: str) -> np.ndarray:
    """Decode one image as 3-channel BGR, ignoring EXIF rotation as COCO's own tools do; a truncated or corrupt
    file is a UserInputError, never a silently grey image."""
    return read_bgr(path, where)


def fingerprint_files(paths: list[Path], extra: bytes = b"") -> str:
    """sha256 over names and sizes of the files (and extra bytes such as the annotation file): cheap and stable."""
    digest = hashlib.sha256(extra)
    for path in sorted(paths):
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


class DatasetAdapter:
    """A dataset: sample `ids()` in a stable order, each sample decoded on demand so memory stays flat.

    A sample is an image (detection) or a region of one (a person crop for top-down pose). `task` names what
    the decoder must produce for it; `rows` turns a decoded sample into result rows for the metric.
    """

    Config: type
    task: str = "detection"
    has_labels: bool = True
    where: str = "dataset.images"
    row_width: int = 7
    sample_noun: str = "images"
    views: int = 1

    def __init__(self, config) -> None:
        self.config = config

    def ids(self) -> list[int]:
        raise NotImplementedError

    def file_of(self, sample_id: int) -> Path:
        raise NotImplementedError

    def load_image(self, sample_id: int) -> np.ndarray:
        """The whole image a sample comes from, decoded as BGR."""
        return read_image(self.file_of(sample_id), self.where)

    def load_sample(self, sample_id: int) -> tuple[np.ndarray, Geometry | None]:
        """The sample's pixels (BGR) and, for a crop, where they sit in the original image (None: whole image)."""
        return self.load_image(sample_id), None

    def fingerprint(self) -> str:
        raise NotImplementedError

    def ground_truth(self):
        """What the metric compares predictions against (a pycocotools index for the COCO tasks)."""
        raise NotImplementedError

    def rows(self, sample_id: int, decoded, geometry: Geometry) -> np.ndarray:
        """Result rows of one decoded sample in original-image coordinates; column 0 is the sample id."""
        raise NotImplementedError

    def check_sample(self, sample_id: int) -> None:
        """Read everything a sample consists of, so a broken file is found before any model runs."""
        self.load_sample(sample_id)

    def check_labels(self, labels: range) -> None:
        """Refuse a class numbering under which the model's `labels` could never score (datasets with classes)."""


class ImageFiles(DatasetAdapter):
    """A dataset whose samples are the image files in `self.files`, with ids 1..N in that order."""

    files: list[Path]

    def ids(self) -> list[int]:
        return list(range(1, len(self.files) + 1))

    def file_of(self, sample_id: int) -> Path:
        return self.files[sample_id - 1]

    def name_of(self, sample_id: int) -> str:
        """A readable name for reports: the file's stem."""
        return self.files[sample_id - 1].stem
