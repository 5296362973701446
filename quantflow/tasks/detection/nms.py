"""Non-maximum suppression on top of OpenCV's NMS: per class (batched) or across classes."""

from __future__ import annotations

import cv2
import numpy as np

from quantflow.tasks.detection.detections import Detections


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float, max_detections: int,
        class_agnostic: bool = False) -> Detections:
    """Keep the best boxes per class (or overall); boxes are [N, 4] (x1, y1, x2, y2), result sorted by score."""
    if len(scores) == 0:
        return Detections.empty()
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float32)
    scores32 = scores.astype(np.float32)
    if class_agnostic:
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores32, 0.0, iou_threshold), dtype=np.int64).reshape(-1)
    else:  # one NMS per class: OpenCV's batched NMS compares all boxes with all (30,000² for a YOLO floor of 0.001)
        order = np.argsort(labels, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
        groups = np.split(order, starts[1:])
        keep = np.concatenate([group[np.asarray(cv2.dnn.NMSBoxes(xywh[group], scores32[group], 0.0, iou_threshold),
                                                dtype=np.int64).reshape(-1)] for group in groups])
    keep = keep[np.argsort(-scores[keep], kind="stable")][:max_detections]
    return Detections(boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep].astype(np.int64))
