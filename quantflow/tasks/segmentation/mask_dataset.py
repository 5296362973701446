"""What every segmentation dataset shares: images, a ground-truth class map per image (read when the image is
scored, checked against the image's size and the class list), class names and an ignore index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantflow.core.adapter import ImageFiles, fingerprint_files
from quantflow.core.errors import UserInputError, shown
from quantflow.core.geometry import Geometry
from quantflow.tasks.class_names import names_for_model
from quantflow.tasks.segmentation.class_map import ClassMap
from quantflow.tasks.segmentation.mean_iou import ROW_WIDTH, confusion_rows


@dataclass(frozen=True)
class SegmentationTruth:
    """What the metric needs beyond the per-image rows: the class names (their count sizes the matrix)."""

    names: list[str]


class SegmentationDataset(ImageFiles):
    """Subclasses list `files` (images), say where each one's truth comes from (`truth_name`) and read it
    (`read_truth`: class indices [H, W])."""

    task = "segmentation"
    row_width = ROW_WIDTH

    def __init__(self, config, files: list[Path], names: list[str] | None, names_source: str,
                 ignore_index: int | None, fingerprint_of: list[Path], extra: bytes = b"") -> None:
        super().__init__(config)
        self.files, self.names, self.names_source, self.ignore_index = files, names, names_source, ignore_index
        self._fingerprint = fingerprint_files(fingerprint_of, extra)

    def fingerprint(self) -> str:
        return self._fingerprint

    def ground_truth(self) -> SegmentationTruth:
        return SegmentationTruth(list(self.names or []))

    def read_truth(self, sample_id: int, size: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def truth_name(self, sample_id: int) -> str:
        raise NotImplementedError

    def truth(self, sample_id: int, size: tuple[int, int]) -> np.ndarray:
        """The image's class map, which must be the image's `size` and hold only known classes (or ignore)."""
        truth = self.read_truth(sample_id, size)
        name = shown(self.truth_name(sample_id))
        if truth.shape != tuple(size):
            raise UserInputError(f"{self.where}: {name} is {truth.shape[1]}x{truth.shape[0]} (width x height), its "
                                 f"image is {size[1]}x{size[0]}; a mask must match its image")
        if self.names is not None:
            scored = truth[truth != self.ignore_index] if self.ignore_index is not None else truth
            top = int(scored.max()) if scored.size else 0
            if top >= len(self.names):
                raise UserInputError(f"{self.where}: {name} holds class {top}, beyond the {len(self.names)} classes "
                                     f"of {self.names_source} (ignore_index {self.ignore_index})")
        return truth

    def check_sample(self, sample_id: int) -> None:
        self.truth(sample_id, self.load_image(sample_id).shape[:2])

    def check_labels(self, labels: range) -> None:
        self.names = names_for_model(self.names, labels, self.names_source)

    def rows(self, sample_id: int, decoded: ClassMap, geometry: Geometry) -> np.ndarray:
        truth = self.truth(sample_id, geometry.orig_size)
        predicted = decoded.to_original(geometry)
        classes = len(self.names)
        valid = truth != self.ignore_index if self.ignore_index is not None else np.ones(truth.shape, bool)
        return confusion_rows(sample_id, truth, np.minimum(predicted, classes - 1), valid, classes)
