"""Decoders: box coder, NMS, and the three built-in output formats, against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantflow.core.decoder import OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.detection_output import DetectionOutput
from quantflow.tasks.detection.detections import Detections
from quantflow.tasks.detection.nms import nms
from quantflow.tasks.detection.ssd_raw import SsdRaw, decode_boxes
from quantflow.tasks.detection.tf_od_api import TfOdApi


def info(index: int, shape: tuple[int, ...], *names: str) -> OutputInfo:
    """An OutputInfo with the given names."""
    return OutputInfo(index, frozenset(names), shape)


def as_set(detections: Detections) -> list[tuple[int, float, tuple[float, ...]]]:
    """(label, score, box) per detection, rounded, in the decoder's order."""
    return [(int(label), round(float(score), 5), tuple(round(float(v), 5) for v in box))
            for box, score, label in zip(detections.boxes, detections.scores, detections.labels)]


# --- decode_boxes ------------------------------------------------------------------------------------------


def test_decode_boxes_zero_encoding_gives_the_anchor() -> None:
    anchors = np.array([[0.5, 0.5, 0.2, 0.4], [0.25, 0.75, 0.5, 0.1]], np.float32)  # (cy, cx, h, w)
    boxes = decode_boxes(np.zeros((2, 4), np.float32), anchors, (10.0, 10.0, 5.0, 5.0))
    np.testing.assert_allclose(boxes, [[0.3, 0.4, 0.7, 0.6], [0.7, 0.0, 0.8, 0.5]], atol=1e-6)


def test_decode_boxes_with_scale_factors() -> None:
    # anchor (cy, cx, h, w) = (0.5, 0.5, 0.2, 0.4); encoding (ty, tx, th, tw) = (1, -2, 5 ln 2, 0), scales 10,10,5,5:
    # cy = 0.1*0.2 + 0.5 = 0.52, cx = -0.2*0.4 + 0.5 = 0.42, h = 2*0.2 = 0.4, w = 1*0.4 = 0.4
    # → x1 = 0.22, y1 = 0.32, x2 = 0.62, y2 = 0.72.
    anchors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    encodings = np.array([[1.0, -2.0, 5 * math.log(2), 0.0]], np.float32)
    boxes = decode_boxes(encodings, anchors, (10.0, 10.0, 5.0, 5.0))
    np.testing.assert_allclose(boxes, [[0.22, 0.32, 0.62, 0.72]], atol=1e-6)


def test_decode_boxes_unit_scale_factors() -> None:
    # anchor (0.4, 0.6, 0.2, 0.2); encoding (0.5, -0.5, ln 3, ln 0.5), scales 1:
    # cy = 0.4 + 0.1 = 0.5, cx = 0.6 - 0.1 = 0.5, h = 0.6, w = 0.1 → (0.45, 0.2, 0.55, 0.8).
    anchors = np.array([[0.4, 0.6, 0.2, 0.2]], np.float32)
    encodings = np.array([[0.5, -0.5, math.log(3), math.log(0.5)]], np.float32)
    boxes = decode_boxes(encodings, anchors, (1.0, 1.0, 1.0, 1.0))
    np.testing.assert_allclose(boxes, [[0.45, 0.2, 0.55, 0.8]], atol=1e-6)


# --- nms (per class) ---------------------------------------------------------------------------------------


def test_nms_suppresses_overlapping_same_class_only() -> None:
    boxes = np.array([[0.10, 0.10, 0.50, 0.50],   # class 1, 0.9
                      [0.12, 0.10, 0.52, 0.50],   # class 1, 0.8: IoU 0.905 with the first → suppressed
                      [0.10, 0.10, 0.50, 0.50],   # class 2, 0.7: same box, other class → kept
                      [0.60, 0.60, 0.90, 0.90],   # class 1, 0.95: no overlap → kept
                      [0.30, 0.10, 0.70, 0.50]])  # class 1, 0.6: IoU 0.2/0.32+... = 1/3 with the first → kept
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
    labels = np.array([1, 1, 2, 1, 1])
    result = nms(boxes, scores, labels, iou_threshold=0.5, max_detections=100)
    assert result.scores.tolist() == pytest.approx([0.95, 0.9, 0.7, 0.6])
    assert result.labels.tolist() == [1, 1, 2, 1]
    np.testing.assert_allclose(result.boxes, boxes[[3, 0, 2, 4]], atol=1e-6)
    assert result.boxes.dtype == np.float32 and result.labels.dtype == np.int64


def test_nms_iou_threshold_decides() -> None:
    # IoU of the two boxes = 0.2*0.4 / (0.16 + 0.16 - 0.08) = 1/3.
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.3, 0.1, 0.7, 0.5]])
    scores, labels = np.array([0.9, 0.8]), np.array([0, 0])
    assert len(nms(boxes, scores, labels, 0.3, 10).scores) == 1
    assert len(nms(boxes, scores, labels, 0.4, 10).scores) == 2


def test_nms_sorted_by_score_and_capped() -> None:
    rng = np.random.default_rng(3)
    corners = np.linspace(0, 0.9, 10)
    boxes = np.stack([corners, corners, corners + 0.05, corners + 0.05], axis=1)  # disjoint diagonal boxes
    scores = rng.permutation(np.linspace(0.1, 1.0, 10))
    labels = rng.integers(0, 3, 10)
    result = nms(boxes, scores, labels, 0.5, max_detections=4)
    expected = np.argsort(-scores)[:4]
    np.testing.assert_allclose(result.scores, scores[expected], rtol=1e-6)
    np.testing.assert_array_equal(result.labels, labels[expected])
    np.testing.assert_allclose(result.boxes, boxes[expected], atol=1e-6)


def test_nms_empty() -> None:
    result = nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5, 10)
    assert result.boxes.shape == (0, 4) and result.scores.shape == (0,) and result.labels.shape == (0,)


# --- SsdRaw ------------------------------------------------------------------------------------------------

ANCHORS = np.array([
    [0.25, 0.25, 0.2, 0.2],  # → (0.15, 0.15, 0.35, 0.35)
    [0.75, 0.75, 0.2, 0.2],  # → (0.65, 0.65, 0.85, 0.85)
    [0.50, 0.50, 0.4, 0.4],  # → (0.30, 0.30, 0.70, 0.70)
    [0.26, 0.25, 0.2, 0.2],  # → (0.15, 0.16, 0.35, 0.36): IoU 0.9 with anchor 0
], np.float32)
BOX_0, BOX_1, BOX_2 = (0.15, 0.15, 0.35, 0.35), (0.65, 0.65, 0.85, 0.85), (0.3, 0.3, 0.7, 0.7)
PROBABILITIES = np.array([[[0.10, 0.90, 0.05],     # anchor 0: class 1
                           [0.95, 0.02, 0.03],     # anchor 1: background
                           [0.20, 0.30, 0.60],     # anchor 2: class 2, and class 1 weaker
                           [0.15, 0.80, 0.05]]],   # anchor 3: class 1, overlapping anchor 0
                         np.float32)


@pytest.fixture
def anchors_file(tmp_path: Path) -> Path:
    """The four ANCHORS as .npy."""
    path = tmp_path / "anchors.npy"
    np.save(path, ANCHORS)
    return path


def ssd(tmp_path: Path, outputs: list[OutputInfo] | None = None, **options) -> SsdRaw:
    """An SsdRaw decoder on `anchors.npy` in tmp_path (relative path resolved via base_dir), bound to outputs."""
    config = SsdRaw.Config.model_validate({"type": "ssd_raw", "anchors": "anchors.npy", **options},
                                          context={"base_dir": tmp_path})
    decoder = SsdRaw(config)
    decoder.bind(outputs or [info(0, (1, 4, 4), "box_encodings"), info(1, (1, 4, 3), "class_scores")])
    return decoder


def test_ssd_raw_background_dropped_threshold_and_nms(anchors_file: Path) -> None:
    decoder = ssd(anchors_file.parent, score_threshold=0.25)
    assert decoder.config.anchors == anchors_file.resolve()
    result = decoder.decode([np.zeros((1, 4, 4), np.float32), PROBABILITIES])
    # Anchor 3's class-1 box is suppressed by anchor 0's; anchor 1 only has background; 0.05/0.02/0.03 < 0.25.
    assert as_set(result) == [(1, 0.9, BOX_0), (2, 0.6, BOX_2), (1, 0.3, BOX_2)]


def test_ssd_raw_without_background_column(anchors_file: Path) -> None:
    decoder = ssd(anchors_file.parent, score_threshold=0.25, background_class=False)
    result = decoder.decode([np.zeros((1, 4, 4), np.float32), PROBABILITIES])
    assert as_set(result) == [(0, 0.95, BOX_1), (1, 0.9, BOX_0), (2, 0.6, BOX_2), (1, 0.3, BOX_2)]


def test_ssd_raw_applies_box_encodings(anchors_file: Path) -> None:
    encodings = np.zeros((1, 4, 4), np.float32)
    encodings[0, 2] = (1.0, -2.0, 5 * math.log(2), 0.0)  # anchor 2 (0.5, 0.5, 0.4, 0.4): cy 0.54, cx 0.42, h 0.8
    result = ssd(anchors_file.parent, score_threshold=0.5).decode([encodings, PROBABILITIES])
    assert as_set(result) == [(1, 0.9, BOX_0), (2, 0.6, (0.22, 0.14, 0.62, 0.94))]


def test_ssd_raw_softmax(anchors_file: Path) -> None:
    # Softmax of logits ln(1, 2, 7) = (0.1, 0.2, 0.7); ln(8, 1, 1) → (0.8, 0.1, 0.1); ln(1, 1, 2) → (0.25, 0.25, 0.5);
    # ln(1, 3, 1) → (0.2, 0.6, 0.2). A constant shift (+4) changes nothing.
    logits = np.log(np.array([[[1, 2, 7], [8, 1, 1], [1, 1, 2], [1, 3, 1]]], np.float32)) + 4.0
    result = ssd(anchors_file.parent, score_activation="softmax", score_threshold=0.15).decode(
        [np.zeros((1, 4, 4), np.float32), logits])
    # Anchors 0 and 3 overlap: class 2 keeps anchor 0 (0.7 > 0.2), class 1 keeps anchor 3 (0.6 > 0.2).
    assert as_set(result) == [(2, 0.7, BOX_0), (1, 0.6, (0.15, 0.16, 0.35, 0.36)), (2, 0.5, BOX_2), (1, 0.25, BOX_2)]


def test_ssd_raw_sigmoid(anchors_file: Path) -> None:
    # sigmoid(ln 3) = 0.75, sigmoid(0) = 0.5, sigmoid(ln 1/9) = 0.1.
    logits = np.full((1, 4, 3), math.log(1 / 9), np.float32)
    logits[0, 0, 1] = math.log(3)
    logits[0, 1, 0] = 10.0  # background only
    logits[0, 2, 2] = 0.0
    result = ssd(anchors_file.parent, score_activation="sigmoid", score_threshold=0.2).decode(
        [np.zeros((1, 4, 4), np.float32), logits])
    assert as_set(result) == [(1, 0.75, BOX_0), (2, 0.5, BOX_2)]


def test_ssd_raw_max_detections_and_pre_nms_top_k(anchors_file: Path) -> None:
    outputs = [np.zeros((1, 4, 4), np.float32), PROBABILITIES]
    assert as_set(ssd(anchors_file.parent, score_threshold=0.25, max_detections=2).decode(outputs)) == [
        (1, 0.9, BOX_0), (2, 0.6, BOX_2)]
    # Top 2 candidates before NMS are anchor 0 (0.9) and anchor 3 (0.8), both class 1: NMS leaves one.
    assert as_set(ssd(anchors_file.parent, score_threshold=0.25, pre_nms_top_k=2).decode(outputs)) == [
        (1, 0.9, BOX_0)]


def test_ssd_raw_nothing_above_threshold(anchors_file: Path) -> None:
    result = ssd(anchors_file.parent, score_threshold=0.99).decode([np.zeros((1, 4, 4), np.float32), PROBABILITIES])
    assert result.boxes.shape == (0, 4) and len(result.labels) == 0


def test_ssd_raw_binds_by_shape_when_names_are_mangled(anchors_file: Path) -> None:
    outputs = [info(0, (1, 4, 3), "StatefulPartitionedCall:0"), info(1, (1, 4, 4), "StatefulPartitionedCall:1")]
    decoder = ssd(anchors_file.parent, outputs, score_threshold=0.5)
    assert (decoder.boxes, decoder.scores) == (1, 0)
    result = decoder.decode([PROBABILITIES, np.zeros((1, 4, 4), np.float32)])
    assert as_set(result) == [(1, 0.9, BOX_0), (2, 0.6, BOX_2)]


def test_ssd_raw_binds_by_name_with_suffix(anchors_file: Path) -> None:
    # Both outputs are [1, 4, 4] (4 classes), so only the names can tell them apart.
    outputs = [info(0, (1, 4, 4), "class_scores:0", "x"), info(1, (1, -1, 4), "box_encodings:0")]
    decoder = ssd(anchors_file.parent, outputs)
    assert (decoder.boxes, decoder.scores) == (1, 0)


def test_ssd_raw_anchor_count_mismatch_by_shape(anchors_file: Path) -> None:
    outputs = [info(0, (1, 10, 4), "StatefulPartitionedCall:0"), info(1, (1, 10, 3), "StatefulPartitionedCall:1")]
    with pytest.raises(UserInputError, match=r"^decoder\.box_encodings: no output for box encodings") as error:
        ssd(anchors_file.parent, outputs)
    assert "[1,4,4]" in str(error.value) and "StatefulPartitionedCall:0[1, 10, 4]" in str(error.value)


def test_ssd_raw_anchor_count_mismatch_by_name(anchors_file: Path) -> None:
    outputs = [info(0, (1, 10, 4), "box_encodings"), info(1, (1, 10, 3), "class_scores")]
    with pytest.raises(UserInputError, match=r"^decoder\.box_encodings: .*4 anchors"):
        ssd(anchors_file.parent, outputs)


def test_ssd_raw_class_score_count_mismatch_by_name(anchors_file: Path) -> None:
    outputs = [info(0, (1, 4, 4), "box_encodings"), info(1, (1, 5, 3), "class_scores")]
    with pytest.raises(UserInputError, match=r"^decoder\.class_scores: .*4 anchors"):
        ssd(anchors_file.parent, outputs)


def test_ssd_raw_anchors_with_three_columns(tmp_path: Path) -> None:
    np.save(tmp_path / "anchors.npy", np.zeros((4, 3), np.float32))
    with pytest.raises(UserInputError, match=r"decoder\.anchors: expected shape \[A, 4\], got \[4, 3\]"):
        ssd(tmp_path)


def test_ssd_raw_anchors_not_npy(tmp_path: Path) -> None:
    (tmp_path / "anchors.npy").write_text("not numpy")
    with pytest.raises(UserInputError, match=r"decoder\.anchors: cannot read anchors\.npy"):
        ssd(tmp_path)


def test_ssd_raw_anchors_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file not found"):
        SsdRaw.Config.model_validate({"type": "ssd_raw", "anchors": "nope.npy"}, context={"base_dir": tmp_path})


# --- TfOdApi -----------------------------------------------------------------------------------------------

TF_OUTPUTS = [
    info(0, (1, 4), "detection_scores:0", "StatefulPartitionedCall:2"),
    info(1, (1,), "num_detections:0", "StatefulPartitionedCall:3"),
    info(2, (1, 4, 4), "detection_boxes:0", "StatefulPartitionedCall:0"),
    info(3, (1, 4), "detection_classes:0", "StatefulPartitionedCall:1"),
]


def tf_arrays(count: float = 3.0) -> list[np.ndarray]:
    """Raw outputs in TF_OUTPUTS order: 3 valid detections of 4 slots, boxes as (y1, x1, y2, x2)."""
    scores = np.array([[0.9, 0.6, 0.2, 0.95]], np.float32)
    num = np.array([count], np.float32)
    boxes = np.array([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.7], [0.0, 0.0, 1.0, 1.0], [0.2, 0.2, 0.4, 0.4]]],
                     np.float32)
    classes = np.array([[1.0, 18.0, 3.0, 44.0]], np.float32)
    return [scores, num, boxes, classes]


def tf_decoder(outputs: list[OutputInfo] = TF_OUTPUTS, **options) -> TfOdApi:
    """A bound TfOdApi decoder."""
    decoder = TfOdApi(TfOdApi.Config(type="tf_od_api", **options))
    decoder.bind(outputs)
    return decoder


def test_tf_od_api_binds_by_name_with_suffix() -> None:
    decoder = tf_decoder()
    assert (decoder.scores, decoder.num, decoder.boxes, decoder.classes) == (0, 1, 2, 3)


def test_tf_od_api_decodes_and_truncates() -> None:
    result = tf_decoder().decode(tf_arrays())
    assert as_set(result) == [(1, 0.9, (0.2, 0.1, 0.4, 0.3)), (18, 0.6, (0.5, 0.5, 0.7, 0.9)),
                              (3, 0.2, (0.0, 0.0, 1.0, 1.0))]
    assert result.labels.dtype == np.int64


def test_tf_od_api_score_threshold() -> None:
    result = tf_decoder(score_threshold=0.5).decode(tf_arrays())
    assert as_set(result) == [(1, 0.9, (0.2, 0.1, 0.4, 0.3)), (18, 0.6, (0.5, 0.5, 0.7, 0.9))]


def test_tf_od_api_zero_detections() -> None:
    result = tf_decoder().decode(tf_arrays(0.0))
    assert result.boxes.shape == (0, 4) and len(result.scores) == 0


def test_tf_od_api_custom_names() -> None:
    outputs = [info(0, (1, 4), "s"), info(1, (1,), "n"), info(2, (1, 4, 4), "b"), info(3, (1, 4), "c")]
    decoder = tf_decoder(outputs, boxes="b", classes="c", scores="s", num_detections="n")
    result = decoder.decode(tf_arrays(1.0))
    assert as_set(result) == [(1, 0.9, (0.2, 0.1, 0.4, 0.3))]


def test_tf_od_api_mangled_names_are_ambiguous() -> None:
    outputs = [info(o.index, o.shape, f"Identity_{o.index}") for o in TF_OUTPUTS]
    with pytest.raises(UserInputError, match=r"^decoder\.classes: several outputs for classes"):
        tf_decoder(outputs)


# --- DetectionOutput ---------------------------------------------------------------------------------------

DETECTION_ROWS = np.array([[[
    [0, 1, 0.90, 0.1, 0.2, 0.3, 0.4],
    [0, 3, 0.40, 0.5, 0.5, 0.6, 0.7],
    [0, 2, 0.05, 0.0, 0.0, 1.0, 1.0],
    [-1, 0, 0.00, 0.0, 0.0, 0.0, 0.0],
    [0, 7, 0.99, 0.2, 0.2, 0.3, 0.3],  # after the terminator: padding garbage
]]], np.float32)


def detection_output(outputs: list[OutputInfo], **options) -> DetectionOutput:
    """A bound DetectionOutput decoder."""
    decoder = DetectionOutput(DetectionOutput.Config(type="detection_output", **options))
    decoder.bind(outputs)
    return decoder


def test_detection_output_stops_at_terminator() -> None:
    decoder = detection_output([info(0, (1, 1, 5, 7), "detection_out")])
    result = decoder.decode([DETECTION_ROWS])
    assert as_set(result) == [(1, 0.9, (0.1, 0.2, 0.3, 0.4)), (3, 0.4, (0.5, 0.5, 0.6, 0.7)),
                              (2, 0.05, (0.0, 0.0, 1.0, 1.0))]


def test_detection_output_threshold_and_shape_binding() -> None:
    outputs = [info(0, (1, 10), "other"), info(1, (1, 1, -1, 7), "DetectionOutput_123")]
    decoder = detection_output(outputs, score_threshold=0.3)
    assert decoder.index == 1
    result = decoder.decode([np.zeros((1, 10), np.float32), DETECTION_ROWS])
    assert as_set(result) == [(1, 0.9, (0.1, 0.2, 0.3, 0.4)), (3, 0.4, (0.5, 0.5, 0.6, 0.7))]


def test_detection_output_without_terminator_keeps_every_row() -> None:
    rows = DETECTION_ROWS[:, :, [0, 1, 4]]
    result = detection_output([info(0, (1, 1, 3, 7), "out")]).decode([rows])
    assert result.labels.tolist() == [1, 3, 7]


def test_detection_output_missing_output() -> None:
    with pytest.raises(UserInputError, match=r"^decoder\.output: no output for detections .*model outputs: "
                                             r"boxes\[1, 100, 4\]"):
        detection_output([info(0, (1, 100, 4), "boxes")])


# --- find_output -------------------------------------------------------------------------------------------


def test_find_output_prefers_name_over_shape() -> None:
    outputs = [info(0, (1, 5), "a"), info(1, (1, 5), "b:0")]
    assert find_output(outputs, "b", (1, None), "x", "where") == 1
    assert find_output(outputs, "a", (1, None), "x", "where") == 0
    with pytest.raises(UserInputError, match=r"^where: several outputs for x \(name 'c' or shape \[1,\?\]\)"):
        find_output(outputs, "c", (1, None), "x", "where")


def test_find_output_unnamed_output_described_by_index() -> None:
    with pytest.raises(UserInputError, match=r"model outputs: #0\[3\]"):
        find_output([info(0, (3,))], None, (1, None), "x", "where")
