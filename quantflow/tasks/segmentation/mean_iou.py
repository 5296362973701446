"""Mean IoU, pixel accuracy, mean class accuracy and per-class IoU from one confusion matrix.

Each image is reduced in the evaluation loop to the non-zero cells of its own confusion matrix (`confusion_rows`:
rows id, true class, predicted class, pixels), so dense maps never leave the loop and the pass keeps a few
numbers per image; the metric's session adds them into one C x C matrix as images finish. Classes absent from
both the ground truth and the predictions have no IoU and do not count in the mean (as mmseg and
scikit-learn's jaccard_score do). Ignored pixels (the dataset's ignore index) are not counted at all.
"""

from __future__ import annotations

import numpy as np

from quantflow.core.config_base import ProviderConfig
from quantflow.core.metric import METRICS, Metric, MetricResult, MetricSession

ROW_WIDTH = 4
SUMMARY_NAMES = ("mIoU", "pixel accuracy", "mean class accuracy")


def confusion_rows(sample_id: int, truth: np.ndarray, predicted: np.ndarray, valid: np.ndarray,
                   classes: int) -> np.ndarray:
    """The non-zero confusion cells of one image (truth, predicted: class indices; valid: pixels scored)."""
    cells = np.bincount(truth[valid].astype(np.int64) * classes + predicted[valid].astype(np.int64),
                        minlength=classes * classes)
    nonzero = np.flatnonzero(cells)
    return np.stack([np.full(len(nonzero), sample_id), nonzero // classes, nonzero % classes, cells[nonzero]],
                    1).astype(np.float64)


def iou_per_class(matrix: np.ndarray) -> np.ndarray:
    """IoU of each class, NaN where the class is in neither truth nor predictions."""
    intersection = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def image_miou(cells: np.ndarray, classes: int) -> float:
    """Mean IoU of one image's confusion cells (its classes only): the per-image score for ranking."""
    matrix = np.zeros((classes, classes))
    np.add.at(matrix, (cells[:, 1].astype(np.int64), cells[:, 2].astype(np.int64)), cells[:, 3])
    iou = iou_per_class(matrix)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else 1.0


class ConfusionSession(MetricSession):
    """Adds each image's cells into the matrix as the image finishes; keeps per-image figures only if asked."""

    def __init__(self, metric: "MeanIoU", ground_truth, image_ids: list[int], per_item: bool) -> None:
        super().__init__(metric, ground_truth, image_ids, per_item)
        self.wanted = set(image_ids)
        self.matrix = np.zeros((len(ground_truth.names),) * 2)
        self.per_image: dict[int, float] = {}

    def add(self, image_ids: list[int], rows: np.ndarray) -> None:
        rows = rows[np.isin(rows[:, 0], list(self.wanted))]
        np.add.at(self.matrix, (rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64)), rows[:, 3])
        if self.per_item:
            for image_id in np.unique(rows[:, 0]).astype(int):
                self.per_image[image_id] = image_miou(rows[rows[:, 0] == image_id], len(self.matrix))

    def result(self) -> MetricResult:
        return self.metric.from_matrix(self.matrix, self.ground_truth.names, self.per_image)


@METRICS.register("mean_iou")
class MeanIoU(Metric):
    """main: mIoU. Per item: the image's own mean IoU over the classes it shows or is predicted to show."""

    task = "segmentation"
    summary_keys = SUMMARY_NAMES
    main = "mIoU"

    class Config(ProviderConfig):
        pass

    def session(self, ground_truth, image_ids: list[int], per_item: bool = False) -> ConfusionSession:
        return ConfusionSession(self, ground_truth, image_ids, per_item)

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        session = self.session(ground_truth, image_ids, per_item)
        session.add(image_ids, np.asarray(predictions, dtype=np.float64).reshape(-1, ROW_WIDTH))
        return session.result()

    def from_matrix(self, matrix: np.ndarray, names: list[str], per_image: dict[int, float]) -> MetricResult:
        total = matrix.sum()
        if not total:
            return MetricResult(dict.fromkeys(SUMMARY_NAMES, None), self.main, breakdown_label=("class", "IoU"))
        iou = iou_per_class(matrix)
        truth_pixels = matrix.sum(1)
        accuracy = np.diag(matrix)[truth_pixels > 0] / truth_pixels[truth_pixels > 0]
        summary = {"mIoU": float(np.nanmean(iou)), "pixel accuracy": float(np.trace(matrix) / total),
                   "mean class accuracy": float(accuracy.mean())}
        breakdown = {name: (None if np.isnan(v) else float(v)) for name, v in zip(names, iou)}
        return MetricResult(summary, self.main, breakdown, per_image, breakdown_label=("class", "IoU"))
