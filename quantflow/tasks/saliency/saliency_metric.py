"""Salient-object metrics as the DUTS / ECSSD literature computes them (PySODMetrics' conventions):

- ground truth: mask ≥ 128 of 255 is foreground;
- MAE: mean |prediction − truth| per image, averaged over images (main; lower is better);
- max F-measure: each image's F(t) = (1 + β²)·P·R / (β²·P + R) with β² = 0.3 at 256 thresholds (prediction
  levels ⌊255·p⌋ ≥ t), averaged over images per threshold, the best threshold's value;
- IoU@0.5: each image's IoU of prediction ≥ 0.5 with the truth, averaged over images.

Each image is reduced in the loop to one row: id, its MAE, intersection and union at 0.5, its foreground
pixels, then the true positives and predicted positives at each of the 256 thresholds (t = 255 .. 0).
"""

from __future__ import annotations

import numpy as np

from quantflow.core.config_base import ProviderConfig
from quantflow.core.metric import METRICS, Metric, MetricResult, rows_of_samples

LEVELS = 256
BETA_SQUARED = 0.3
ROW_WIDTH = 5 + 2 * LEVELS
SUMMARY_NAMES = ("MAE", "max F", "IoU@0.5")


def saliency_row(sample_id: int, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The row of one image (predicted: probabilities in 0..1; truth: boolean), both at the image's size."""
    levels = (predicted * 255).astype(np.uint8)
    bins = np.arange(LEVELS + 1)
    true_positives = np.cumsum(np.histogram(levels[truth], bins)[0][::-1])
    predicted_positives = true_positives + np.cumsum(np.histogram(levels[~truth], bins)[0][::-1])
    binary = predicted >= 0.5
    head = [sample_id, np.abs(predicted - truth).mean(), np.count_nonzero(binary & truth),
            np.count_nonzero(binary | truth), np.count_nonzero(truth)]
    return np.concatenate([head, true_positives, predicted_positives])[None].astype(np.float64)


def f_curves(rows: np.ndarray) -> np.ndarray:
    """F-measure of each image at each threshold [N, 256] (0 where precision and recall are both 0)."""
    positives = np.maximum(rows[:, 4:5], 1)
    true_positives, predicted = rows[:, 5:5 + LEVELS], np.maximum(rows[:, 5 + LEVELS:], 1)
    precision, recall = true_positives / predicted, true_positives / positives
    numerator = (1 + BETA_SQUARED) * precision * recall
    return numerator / np.where(numerator == 0, 1, BETA_SQUARED * precision + recall)


@METRICS.register("saliency")
class SaliencyMetric(Metric):
    """Per item: minus the image's MAE, so that higher is better for accuracy-aware ranking."""

    task = "saliency"
    summary_keys = SUMMARY_NAMES
    main = "MAE"
    higher_is_better = False

    class Config(ProviderConfig):
        pass

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        rows = rows_of_samples(predictions, ROW_WIDTH, image_ids)
        if not len(rows):
            return MetricResult(dict.fromkeys(SUMMARY_NAMES, None), self.main, higher_is_better=False)
        iou = np.where(rows[:, 3] > 0, rows[:, 2] / np.maximum(rows[:, 3], 1), 1.0)
        summary = {"MAE": float(rows[:, 1].mean()), "max F": float(f_curves(rows).mean(0).max()),
                   "IoU@0.5": float(iou.mean())}
        per_image = {int(r[0]): -float(r[1]) for r in rows} if per_item else {}
        return MetricResult(summary, self.main, {}, per_image, higher_is_better=False)
