"""Top-down pose: one row per person crop (sample_id, image_id, category_id, score, then x, y, confidence of
each keypoint) in original pixels."""

from __future__ import annotations

import numpy as np

from quantflow.core.task import TASKS, Task


def keypoint_shift(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean distance in pixels between the keypoints of two passes over the same samples (rows in order)."""
    return float(np.hypot(other[:, 4::3] - reference[:, 4::3], other[:, 5::3] - reference[:, 5::3]).mean())


@TASKS.register("keypoints")
class KeypointsTask(Task):
    name = "keypoints"

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        return {"keypoint shift px": keypoint_shift(reference, other)}
