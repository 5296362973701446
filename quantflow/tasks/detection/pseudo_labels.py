"""Annotation-free evaluation: the FP32 model's confident detections become the reference labels."""

from __future__ import annotations

import numpy as np

from quantflow.core.progress import quiet_stdout


def pseudo_ground_truth(rows: np.ndarray, image_sizes: dict[int, tuple[int, int]], threshold: float):
    """A pycocotools COCO index whose annotations are the FP32 rows scoring >= threshold.

    rows: [N, 7] (image_id, x, y, w, h, score, category_id); image_sizes: id → (height, width).
    Categories are the labels the model emits, named by their number.
    """
    from pycocotools.coco import COCO

    confident = rows[rows[:, 5] >= threshold]
    categories = sorted({int(c) for c in rows[:, 6]})
    annotations = [
        {"id": n + 1, "image_id": int(r[0]), "category_id": int(r[6]), "bbox": [float(v) for v in r[1:5]],
         "area": float(r[3] * r[4]), "iscrowd": 0}
        for n, r in enumerate(confident)
    ]
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i, "height": h, "width": w} for i, (h, w) in sorted(image_sizes.items())],
        "annotations": annotations,
        "categories": [{"id": c, "name": str(c)} for c in categories],
    }
    with quiet_stdout():
        coco.createIndex()
    return coco
