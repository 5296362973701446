"""Stereo disparity metrics on valid pixels: EPE, D1-all (KITTI), bad-N (Middlebury) and RMSE.

Dense predictions never leave the evaluation loop: each sample is reduced to error counts against its ground
truth (`error_counts`), so memory stays flat; the metric pools the counts over all valid pixels of all
samples, as the KITTI development kit does for D1-all.
"""

from __future__ import annotations

import numpy as np

from quantflow.core.config_base import ProviderConfig
from quantflow.core.metric import METRICS, Metric, MetricResult, rows_of_samples

BAD_THRESHOLDS = (0.5, 1.0, 2.0, 4.0)
# One row per sample: id, valid pixels, Σ|e|, Σe², D1 outliers, then pixels with |e| > each bad-N threshold.
ROW_WIDTH = 5 + len(BAD_THRESHOLDS)
SUMMARY_NAMES = ("EPE", "D1-all", *(f"bad-{t:g}" for t in BAD_THRESHOLDS), "RMSE")


def error_counts(sample_id: int, disparity: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The row of one sample. Valid ground truth is finite and > 0 (inf in Middlebury PFM, 0 in KITTI PNG).

    D1 outlier (KITTI): error > 3 px and > 5 % of the true disparity.
    """
    valid = np.isfinite(truth) & (truth > 0)
    error = np.abs(disparity[valid].astype(np.float64) - truth[valid])
    d1 = np.count_nonzero((error > 3.0) & (error > 0.05 * truth[valid]))
    bad = [np.count_nonzero(error > t) for t in BAD_THRESHOLDS]
    return np.array([[sample_id, valid.sum(), error.sum(), (error**2).sum(), d1, *bad]], dtype=np.float64)


@METRICS.register("disparity")
class DisparityMetric(Metric):
    """EPE (px), D1-all (%), bad-0.5/1/2/4 (%), RMSE (px), pooled over valid pixels; main: EPE, lower is
    better. Per item: minus the sample's own EPE, so that higher is better for accuracy-aware ranking."""

    task = "stereo"
    summary_keys = ("EPE", "D1-all", "bad-0.5", "bad-1", "bad-2", "bad-4", "RMSE")
    main = "EPE"
    higher_is_better = False

    class Config(ProviderConfig):
        pass

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        rows = rows_of_samples(predictions, ROW_WIDTH, image_ids)
        pixels = rows[:, 1].sum()
        if not pixels:
            return MetricResult(dict.fromkeys(SUMMARY_NAMES, None), self.main,
                                higher_is_better=self.higher_is_better)
        summary = {"EPE": rows[:, 2].sum() / pixels, "D1-all": 100 * rows[:, 4].sum() / pixels}
        summary.update({f"bad-{t:g}": 100 * rows[:, 5 + i].sum() / pixels for i, t in enumerate(BAD_THRESHOLDS)})
        summary["RMSE"] = float(np.sqrt(rows[:, 3].sum() / pixels))
        scores = ({int(r[0]): -(r[2] / r[1]) if r[1] else 0.0 for r in rows} if per_item else {})
        return MetricResult({k: float(v) for k, v in summary.items()}, self.main, {}, scores,
                            higher_is_better=self.higher_is_better)

