"""DETR set predictions and DFL point heads on hand-built tensors, against boxes worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.detr import Detr
from quantflow.tasks.detection.dfl_heads import DflHeads, integral


def bound(kind, shapes: list[tuple[int, ...]], **config):
    decoder = kind(kind.Config(type="detr" if kind is Detr else "dfl_heads", **config))
    decoder.bind([OutputInfo(i, frozenset({f"out{i}"}), shape) for i, shape in enumerate(shapes)])
    return decoder


def test_rt_detr_keeps_the_top_k_query_class_pairs() -> None:
    boxes = np.array([[[0.5, 0.5, 0.2, 0.4], [0.25, 0.25, 0.1, 0.1]]], np.float32)
    logits = np.array([[[2.0, 1.0, -5.0], [-1.0, 3.0, 0.0]]], np.float32)  # sigmoid scores
    out = bound(Detr, [(1, 2, 4), (1, 2, 3)], max_detections=3).decode([boxes, logits])
    sigmoid = 1 / (1 + np.exp(-np.array([3.0, 2.0, 1.0])))
    np.testing.assert_allclose(out.scores, sigmoid, rtol=1e-6)
    assert out.labels.tolist() == [1, 0, 1] and not out.in_pixels
    np.testing.assert_allclose(out.boxes[0], [0.2, 0.2, 0.3, 0.3], atol=1e-6)  # query 1, class 1
    np.testing.assert_allclose(out.boxes[1], [0.4, 0.3, 0.6, 0.7], atol=1e-6)  # query 0, class 0


def test_detr_softmax_drops_the_no_object_class_and_keeps_one_class_per_query() -> None:
    boxes = np.array([[[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.4, 0.4]]], np.float32)
    logits = np.array([[[0.0, 2.0, 0.0], [0.0, 0.0, 4.0]]], np.float32)  # query 1 is mostly "no object"
    decoder = bound(Detr, [(1, 2, 4), (1, 2, 3)], scoring="softmax_no_object", class_offset=1)
    out = decoder.decode([boxes, logits])
    e0, e1 = np.exp([0.0, 2.0, 0.0]), np.exp([0.0, 0.0, 4.0])
    np.testing.assert_allclose(out.scores, [e0[1] / e0.sum(), e1[0] / e1.sum()], rtol=1e-6)
    assert out.labels.tolist() == [2, 1] and decoder.class_labels() == range(1, 3)


def test_detr_outputs_that_disagree_are_named() -> None:
    with pytest.raises(UserInputError, match=r"decoder.logits: out1\[1, 5, 3\] has 5 queries"):
        bound(Detr, [(1, 4, 4), (1, 5, 3)])


def test_the_integral_is_the_softmax_expectation() -> None:
    logits = np.log(np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.25, 0.75], [0.25] * 4, [1.0, 0, 0, 0]]) + 1e-12)
    np.testing.assert_allclose(integral(logits[None]), [[0.5, 2.75, 1.5, 0.0]], atol=1e-9)


def one_hot_bins(distance: float, reg_max: int) -> np.ndarray:
    """Logits whose softmax puts all weight on the bins around `distance` (linear split between two bins)."""
    weights = np.zeros(reg_max)
    low = int(np.floor(distance))
    weights[low], weights[min(low + 1, reg_max - 1)] = 1 - (distance - low), distance - low
    return np.log(weights + 1e-12)


def test_dfl_heads_decode_a_box_at_its_grid_point_and_stride() -> None:
    """Two levels (4x4 at stride 8, 2x2 at stride 16), Ultralytics layout: 4·R box channels then 2 classes."""
    reg_max, classes = 4, 2
    fine = np.full((1, 4 * reg_max + classes, 4, 4), -20.0)
    coarse = np.full((1, 4 * reg_max + classes, 2, 2), -20.0)
    sides = [1.5, 0.5, 2.0, 1.0]  # left, top, right, bottom in strides
    for side, d in enumerate(sides):
        coarse[0, side * reg_max : (side + 1) * reg_max, 1, 0] = one_hot_bins(d, reg_max)
    coarse[0, 4 * reg_max + 1, 1, 0] = 3.0  # class 1 at grid (row 1, col 0)
    decoder = bound(DflHeads, [(1, 18, 2, 2), (1, 18, 4, 4)], reg_max=reg_max, strides=[8, 16])
    out = decoder.decode([coarse, fine])
    x, y = (0 + 0.5) * 16, (1 + 0.5) * 16
    np.testing.assert_allclose(out.boxes[0], [x - 1.5 * 16, y - 0.5 * 16, x + 2.0 * 16, y + 1.0 * 16], atol=1e-4)
    assert out.labels[0] == 1 and out.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0))) and out.in_pixels
    assert decoder.class_labels() == range(0, 2)


def test_separate_box_and_class_outputs_pair_by_grid() -> None:
    reg_max = 2
    box = np.broadcast_to(np.log([0.5, 0.5] * 4), (1, 2, 2, 8)).copy()
    cls = np.full((1, 2, 2, 3), -20.0)
    cls[0, 0, 1, 2] = 5.0
    decoder = bound(DflHeads, [(1, 2, 2, 8), (1, 2, 2, 3)], reg_max=reg_max, strides=[32], layout="nhwc")
    out = decoder.decode([box, cls])
    x, y = 1.5 * 32, 0.5 * 32  # grid (row 0, col 1); every side 0.5 bins = 16 px
    np.testing.assert_allclose(out.boxes[0], [x - 16, y - 16, x + 16, y + 16], atol=1e-6)
    assert out.labels[0] == 2


@pytest.mark.parametrize(("shapes", "config", "message"), [
    ([(1, 18, 4, 4), (1, 18, 2, 2)], {"reg_max": 4, "strides": [8, 32]}, r"decoder.strides: \[8, 32\] do not match"),
    ([(1, 18, 4, 4)], {"reg_max": 4, "strides": [8, 16]}, "decoder.strides: 2 levels expected"),
    ([(1, 10, 4, 4), (1, 10, 2, 2)], {"reg_max": 16, "strides": [8, 16]}, "64 box channels"),
])
def test_heads_that_do_not_fit_name_the_key_and_shapes(shapes, config, message) -> None:
    with pytest.raises(UserInputError, match=message):
        bound(DflHeads, shapes, **config)
