"""COCOeval's matching results kept as flat arrays, and its `accumulate` over them.

Why: COCOeval keeps one dict per image × category × area range (`evalImgs`, about 1 KB each) until
`accumulate` reads them all, so its memory grows with the dataset. Here each chunk of images is folded into flat
arrays as soon as COCOeval has matched it (about 40 bytes per detection and area range), chunks may come in any
order, and `accumulate` returns COCOeval's precision / recall / scores tables exactly: the same stable sort by
score (ties in image order, then in COCOeval's order within an image), the same interpolation at the recall
points. Per-image AP is the same computation on the detections of one image and category.
"""

from __future__ import annotations

import datetime

import numpy as np


def interpolated(scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray, positives: int,
                 recall_points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision [T, R] at the recall points (made monotone, 0 beyond the last recall reached), recall [T] and
    the score at each recall point [T, R], for detections already in COCOeval's order (best score first).
    matched / ignored: [T, D] per IoU threshold; positives: ground truths that count."""
    counted = ~ignored
    tp = np.cumsum(matched & counted, axis=1, dtype=float)
    fp = np.cumsum(~matched & counted, axis=1, dtype=float)
    thresholds, found = matched.shape
    precision = np.zeros((thresholds, len(recall_points)))
    at_points = np.zeros((thresholds, len(recall_points)))
    if not found:
        return precision, np.zeros(thresholds), at_points
    recall = tp / positives
    monotone = np.maximum.accumulate((tp / (fp + tp + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    for t in range(thresholds):
        picks = np.searchsorted(recall[t], recall_points, side="left")
        inside = picks < found
        precision[t, inside] = monotone[t, picks[inside]]
        at_points[t, inside] = scores[picks[inside]]
    return precision, recall[:, -1], at_points


class MatchTable:
    """Every detection COCOeval matched, one row per (detection, area range): category index, area index,
    image index (position in the sorted image ids), rank within its image and category, score, and per IoU
    threshold whether it matched a ground truth and whether it is ignored; plus the counted ground truths of
    every (category, area, image)."""

    def __init__(self, params) -> None:
        self.params = params
        self.image_index = {image_id: n for n, image_id in enumerate(sorted(params.imgIds))}
        thresholds = len(params.iouThrs)
        self.keys = np.zeros((0, 4), dtype=np.int32)  # category, area, image, rank
        self.scores = np.zeros(0)
        self.matched = np.zeros((thresholds, 0), dtype=bool)
        self.ignored = np.zeros((thresholds, 0), dtype=bool)
        self.positives = np.zeros((0, 4), dtype=np.int32)  # category, area, image, count

    def add(self, evaluated) -> None:
        """Fold in a COCOeval that ran `evaluate()` on some of the images (with this table's categories, area
        ranges and max detections); its `evalImgs` are laid out [category, area, image] over its sorted ids."""
        images = [self.image_index[i] for i in evaluated.params.imgIds]
        areas = len(evaluated.params.areaRng)
        keys, scores, matched, ignored, positives = [], [], [], [], []
        for index, entry in enumerate(evaluated.evalImgs):
            if entry is None:
                continue
            category, rest = divmod(index, areas * len(images))
            area, image = divmod(rest, len(images))
            found = len(entry["dtScores"])
            if found:
                keys.append(np.column_stack([np.full((found, 3), (category, area, images[image])),
                                             np.arange(found)]))
                scores.append(entry["dtScores"])
                matched.append(entry["dtMatches"] > 0)
                ignored.append(entry["dtIgnore"].astype(bool))
            counted = int(np.count_nonzero(np.logical_not(entry["gtIgnore"])))
            if counted:
                positives.append((category, area, images[image], counted))
        if keys:
            self.keys = np.concatenate([self.keys, *keys]).astype(np.int32)
            self.scores = np.concatenate([self.scores, *scores])
            self.matched = np.concatenate([self.matched, *matched], axis=1)
            self.ignored = np.concatenate([self.ignored, *ignored], axis=1)
        if positives:
            self.positives = np.concatenate([self.positives, np.array(positives, dtype=np.int32)])

    def accumulate(self) -> dict:
        """COCOeval's `eval` dict (precision [T, R, K, A, M], recall [T, K, A, M], scores), as `accumulate()`
        would compute it from `evalImgs` of all images at once."""
        p = self.params
        shape = (len(p.iouThrs), len(p.recThrs), len(p.catIds), len(p.areaRng), len(p.maxDets))
        precision, scores = -np.ones(shape), -np.ones(shape)
        recall = -np.ones((shape[0], *shape[2:]))
        category, area, image, rank = self.keys.T
        order = np.lexsort((rank, image, -self.scores, area, category))  # COCOeval's order within each cell
        keys, sorted_scores = self.keys[order], self.scores[order]
        matched, ignored = self.matched[:, order], self.ignored[:, order]
        cells = keys[:, 0] * shape[3] + keys[:, 1]  # non-decreasing: rows are grouped by category and area
        for k in range(shape[2]):
            for a in range(shape[3]):
                cell = (self.positives[:, 0] == k) & (self.positives[:, 1] == a)
                counted = int(self.positives[cell, 3].sum())
                if not counted:
                    continue  # COCOeval leaves -1 where no ground truth counts
                rows = slice(*np.searchsorted(cells, [k * shape[3] + a, k * shape[3] + a + 1]))
                for m, max_det in enumerate(p.maxDets):
                    kept = np.flatnonzero(keys[rows, 3] < max_det) + rows.start
                    precision[:, :, k, a, m], recall[:, k, a, m], scores[:, :, k, a, m] = interpolated(
                        sorted_scores[kept], matched[:, kept], ignored[:, kept], counted, p.recThrs)
        return {"params": p, "counts": list(shape), "precision": precision, "recall": recall, "scores": scores,
                "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")}

    def per_image_ap(self) -> dict[int, float]:
        """image id → mean over its categories with ground truth of that category's AP on this image alone
        (area `all`, all detections kept). An image without ground truth has no AP; there a confident detection
        is a pure false positive, so its value is 1 − its top score (1 with no detections)."""
        whole = self.keys[:, 1] == 0
        keys, scores = self.keys[whole], self.scores[whole]
        order = np.lexsort((keys[:, 3], keys[:, 2], keys[:, 0]))  # by category, image, then COCOeval's order
        keys, scores = keys[order], scores[order]
        matched, ignored = self.matched[:, whole][:, order], self.ignored[:, whole][:, order]
        groups = keys[:, 0].astype(np.int64) * len(self.image_index) + keys[:, 2]
        aps: dict[int, list[float]] = {}
        for category, _, image, counted in self.positives[self.positives[:, 1] == 0]:
            group = int(category) * len(self.image_index) + int(image)
            rows = slice(*np.searchsorted(groups, [group, group + 1]))
            precision, _, _ = interpolated(scores[rows], matched[:, rows], ignored[:, rows], int(counted),
                                           self.params.recThrs)
            aps.setdefault(int(image), []).append(float(precision.mean()))
        top = np.zeros(len(self.image_index))
        np.maximum.at(top, keys[:, 2], scores)
        return {image_id: (float(np.mean(aps[n])) if n in aps else 1.0 - float(top[n]))
                for image_id, n in self.image_index.items()}
