"""Top-1 / top-5 accuracy, mean per-class accuracy, per-class top-1, and a per-image margin for ranking.

The per-image score is the margin p(true class) − max p(other class), not 0/1 correctness: it is positive
exactly when top-1 is right, and it moves before a prediction flips, so an accuracy-aware search can tell
which quantizers hurt long before the top-1 figure changes. p(true) counts as 0 when the true class is outside
the top 5 (the rows keep five scores per image).
"""

from __future__ import annotations

import numpy as np

from quantflow.core.config_base import ProviderConfig
from quantflow.core.metric import METRICS, Metric, MetricResult, rows_of_samples
from quantflow.tasks.classification.dataset import ROW_WIDTH, TOP_K, Labels

SUMMARY_NAMES = ("top-1", "top-5", "mean class accuracy")


def margins(classes: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """p(true) − max p(other) of each row (classes, scores: [N, TOP_K] in descending score order)."""
    hit = classes == truth[:, None]
    p_true = np.where(hit, scores, 0.0).sum(1)
    best_other = np.where(hit[:, 0], scores[:, 1], scores[:, 0])
    return p_true - best_other


@METRICS.register("accuracy")
class Accuracy(Metric):
    """Images without a label (annotation-free: FP32 below the threshold) are not scored."""

    task = "classification"
    summary_keys = SUMMARY_NAMES
    main = "top-1"

    class Config(ProviderConfig):
        pass

    def evaluate(self, ground_truth: Labels, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        rows = rows_of_samples(predictions, ROW_WIDTH, [i for i in image_ids if i in ground_truth.classes])
        if not len(rows):
            return MetricResult(dict.fromkeys(SUMMARY_NAMES, None), self.main, breakdown_label=("class", "top-1"))
        ids = rows[:, 0].astype(np.int64)
        truth = np.array([ground_truth.classes[i] for i in ids])
        classes, scores = rows[:, 1:1 + TOP_K], rows[:, 1 + TOP_K:]
        top1 = classes[:, 0] == truth
        top5 = (classes == truth[:, None]).any(1)
        names = ground_truth.names or [str(c) for c in range(int(truth.max()) + 1)]
        per_class = {name: (float(top1[truth == c].mean()) if (truth == c).any() else None)
                     for c, name in enumerate(names)}
        present = [v for v in per_class.values() if v is not None]
        summary = {"top-1": float(top1.mean()), "top-5": float(top5.mean()),
                   "mean class accuracy": float(np.mean(present))}
        per_image = dict(zip(ids.tolist(), margins(classes, scores, truth).tolist())) if per_item else {}
        return MetricResult(summary, self.main, per_class, per_image, breakdown_label=("class", "top-1"))
