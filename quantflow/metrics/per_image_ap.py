"""Per-image AP from an evaluated COCOeval: the per-item score accuracy-aware quantization ranks layers by.

Why per-image AP: NNCF uses per-item values to pick the images where INT8 hurts most, then ranks layers by the
real metric on those images. Per-image AP reacts to everything COCO AP reacts to (lost boxes, shifted boxes,
reordered scores), so the picked images are the ones that move the dataset AP. An image without ground truth
has no AP; there a confident detection is a pure false positive, so its value is 1 − the top score.
"""

from __future__ import annotations

import numpy as np


def _image_category_ap(entry: dict, recall_points: np.ndarray, max_det: int) -> float | None:
    """AP of one (image, category) `evalImgs` entry, averaged over IoU thresholds; the same interpolation
    as COCOeval.accumulate (101 recall points, precision made monotone). None without ground truth."""
    gt_ignore = np.asarray(entry["gtIgnore"], dtype=bool)
    positives = np.count_nonzero(~gt_ignore)
    if positives == 0:
        return None
    scores = np.asarray(entry["dtScores"][:max_det])
    order = np.argsort(-scores, kind="mergesort")
    matched = entry["dtMatches"][:, :max_det][:, order] > 0
    ignored = entry["dtIgnore"][:, :max_det][:, order].astype(bool)
    tp = np.cumsum(matched & ~ignored, axis=1, dtype=float)
    fp = np.cumsum(~matched & ~ignored, axis=1, dtype=float)
    per_threshold = []
    for tp_t, fp_t in zip(tp, fp):
        if not len(tp_t):  # ground truth but no detections: nothing found
            per_threshold.append(0.0)
            continue
        recall = tp_t / positives
        precision = np.maximum.accumulate((tp_t / (tp_t + fp_t + np.spacing(1)))[::-1])[::-1]
        picks = np.searchsorted(recall, recall_points, side="left")
        sampled = np.where(picks < len(precision), precision[np.minimum(picks, len(precision) - 1)], 0.0)
        per_threshold.append(sampled.mean())
    return float(np.mean(per_threshold))


def per_image_ap(evaluator) -> dict[int, float]:
    """image id → AP over its categories with ground truth (area `all`, largest max-detections setting).

    `evaluator.evalImgs` is laid out [K, A, I] (categories, area ranges, images) after `evaluate()`.
    """
    params = evaluator.params
    images, areas = len(params.imgIds), len(params.areaRng)
    max_det = params.maxDets[-1]
    values = {}
    for i, image_id in enumerate(params.imgIds):
        entries = [evaluator.evalImgs[k * areas * images + i] for k in range(len(params.catIds))]
        entries = [e for e in entries if e is not None]
        aps = [ap for e in entries if (ap := _image_category_ap(e, params.recThrs, max_det)) is not None]
        if aps:
            values[image_id] = float(np.mean(aps))
        else:
            top = max((max(e["dtScores"][:max_det], default=0.0) for e in entries), default=0.0)
            values[image_id] = 1.0 - float(top)
    return values
