"""What detection decoders produce and detection datasets turn into COCO box results."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from quantflow.core.adapter import DatasetAdapter
from quantflow.core.geometry import Geometry


@dataclass(frozen=True)
class Detections:
    """Detections of one image.

    boxes: [N, 4] float (x1, y1, x2, y2) normalized to the model input, 0..1 (in model-input pixels when
    `in_pixels`: a decoder need not know the input size, which may differ per sample).
    scores: [N] float confidence.
    labels: [N] int class index as the model numbers classes (mapped to categories by the dataset's label map).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    in_pixels: bool = False

    def in_units(self, units: str) -> "Detections":
        """The same detections, with boxes declared in `units` ("pixels" or "normalized")."""
        return replace(self, in_pixels=units == "pixels")

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


class DetectionDataset(DatasetAdapter):
    """Detection datasets: rows are COCO box results (image_id, x, y, w, h, score, category_id)."""

    def category_of(self, model_labels: np.ndarray) -> np.ndarray:
        """Dataset category ids for the model's class indices; -1 where a label has no category."""
        raise NotImplementedError

    def rows(self, sample_id: int, decoded: Detections, geometry: Geometry) -> np.ndarray:
        normalized = decoded.boxes
        if decoded.in_pixels:
            height, width = geometry.size
            normalized = decoded.boxes / np.array([width, height, width, height], dtype=np.float64)
        boxes = geometry.boxes_to_original(normalized)
        categories = self.category_of(decoded.labels)
        keep = categories >= 0
        if not keep.any():
            return np.zeros((0, self.row_width))
        return np.column_stack([np.full(keep.sum(), sample_id), boxes[keep, :2], boxes[keep, 2:] - boxes[keep, :2],
                                decoded.scores[keep], categories[keep]])
