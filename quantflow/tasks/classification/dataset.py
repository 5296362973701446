"""What every classification dataset shares: image files with class indices (or none: annotation-free), the
class names, and one result row per image.

Row layout: sample id, the top-5 class indices (-1 past the class count), then their probabilities. Five
classes and scores per image keep a full ImageNet pass at 50 000 × 11 numbers; the metric needs no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantflow.core.adapter import ImageFiles, fingerprint_files
from quantflow.core.geometry import Geometry
from quantflow.tasks.class_names import names_for_model

TOP_K = 5
ROW_WIDTH = 1 + 2 * TOP_K


@dataclass(frozen=True)
class ClassScores:
    """The decoder's output for one image: the best TOP_K class indices (dataset numbering) and probabilities."""

    classes: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Labels:
    """Ground truth: sample id → class index, and the class names in index order."""

    classes: dict[int, int]
    names: list[str]


class ClassificationDataset(ImageFiles):
    """Subclasses find the files, their labels (None: annotation-free) and the names, then call `__init__`."""

    task = "classification"
    row_width = ROW_WIDTH

    def __init__(self, config, files: list[Path], labels: list[int] | None, names: list[str] | None,
                 names_source: str, extra: bytes = b"") -> None:
        super().__init__(config)
        self.files, self.labels, self.names, self.names_source = files, labels, names, names_source
        self.has_labels = labels is not None
        self._fingerprint = fingerprint_files(files, extra)

    def fingerprint(self) -> str:
        return self._fingerprint

    def name_of(self, sample_id: int) -> str:
        return self.files[sample_id - 1].name

    def class_name(self, index: int) -> str:
        return self.names[index] if self.names and 0 <= index < len(self.names) else str(index)

    def ground_truth(self) -> Labels:
        return Labels({i: label for i, label in zip(self.ids(), self.labels or [])}, list(self.names or []))

    def rows(self, sample_id: int, decoded: ClassScores, geometry: Geometry) -> np.ndarray:
        return np.concatenate([[sample_id], decoded.classes, decoded.scores])[None].astype(np.float64)

    def check_labels(self, labels: range) -> None:
        self.names = names_for_model(self.names, labels, self.names_source)
