"""Pictures of masks for the reports: class maps painted over their image, and where two maps disagree."""

from __future__ import annotations

import numpy as np

DISAGREE_BGR = (0, 0, 255)


def palette(classes: int) -> np.ndarray:
    """Pascal VOC's colour map (bit-interleaved class index), BGR, class 0 black; readable past 21 classes."""
    colours = np.zeros((max(classes, 1), 3), np.uint8)
    for index in range(classes):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (b, g, r)
    return colours


def overlay(image_bgr: np.ndarray, labels: np.ndarray, classes: int, alpha: float = 0.55) -> np.ndarray:
    """The image with every non-background pixel tinted by its class colour."""
    colours = palette(classes)[np.minimum(labels, classes - 1)]
    out = image_bgr.astype(np.float32)
    painted = labels > 0
    out[painted] = out[painted] * (1 - alpha) + colours[painted] * alpha
    return out.astype(np.uint8)


def disagreement(image_bgr: np.ndarray, differ: np.ndarray) -> np.ndarray:
    """The image in dim grey with the pixels where two maps differ in red."""
    grey = (image_bgr.astype(np.float32).mean(2, keepdims=True) * 0.5).repeat(3, 2).astype(np.uint8)
    grey[differ] = DISAGREE_BGR
    return grey
