"""Object detection: COCO box rows (image_id, x, y, w, h, score, category_id) in original pixels."""

from __future__ import annotations

import numpy as np

from quantflow.core.task import TASKS, Task
from quantflow.tasks.detection.pseudo_labels import pseudo_ground_truth


@TASKS.register("detection")
class DetectionTask(Task):
    name = "detection"

    def pseudo_ground_truth(self, dataset, rows: np.ndarray, sizes: dict[int, tuple[int, int]], threshold: float):
        return pseudo_ground_truth(rows, sizes, threshold)
