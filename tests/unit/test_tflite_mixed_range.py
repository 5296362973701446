"""The warning for outputs that mix pixel-range coordinates with 0–1 scores in one tensor."""

from __future__ import annotations

import numpy as np

from quantflow.backends.tflite.inspect import mixed_range_outputs


def test_concatenated_boxes_and_scores_are_flagged() -> None:
    boxes_and_scores = np.array([[[12.0, 40.0, 280.0, 300.0, 0.9], [0.0, 5.0, 30.0, 64.0, 0.2]]])
    encodings = np.array([[[0.5, -1.2, 0.3, 0.8]]])
    scores = np.array([[[0.1, 0.7, 0.2]]])
    assert mixed_range_outputs([boxes_and_scores, encodings, scores], ["det", "enc", "cls"]) == ["det"]


def test_single_column_and_zero_columns_are_not_flagged() -> None:
    assert mixed_range_outputs([np.array([[300.0], [0.1]]), np.zeros((1, 3, 2))], ["a", "b"]) == []


def test_the_yolov8_layout_is_flagged_along_its_column_axis() -> None:
    """[1, 4 + C, N]: rows of pixel coordinates above rows of sigmoid scores."""
    rng = np.random.default_rng(0)
    output = np.concatenate([rng.uniform(5, 160, (1, 4, 525)), rng.uniform(0, 1, (1, 5, 525))], axis=1)
    assert mixed_range_outputs([output, output[:, 4:], output[:, :4]], ["output0", "scores", "boxes"]) == ["output0"]
