"""The box-list decoder on hand-built outputs of each family's layout, against boxes worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.core.geometry import Geometry
from quantflow.tasks.detection.box_list import BoxList, to_corners
from quantflow.tasks.detection.detections import DetectionDataset


def decoder(outputs_shape: tuple[int, ...], **config) -> BoxList:
    built = BoxList(BoxList.Config(type="box_list", **config))
    built.bind([OutputInfo(0, frozenset({"output0"}), outputs_shape)])
    return built


def yolov8_output() -> np.ndarray:
    """[1, 4 + 3, 4]: two overlapping class-0 boxes, one class-2 box on the same spot, one box below the floor."""
    boxes = [[50, 40, 20, 10], [51, 40, 20, 10], [50, 40, 20, 10], [10, 10, 4, 4]]  # cx, cy, w, h pixels
    scores = [[0.9, 0, 0], [0.8, 0, 0], [0, 0, 0.7], [0.0005, 0, 0]]
    return np.concatenate([np.array(boxes, float), np.array(scores)], axis=1).T[None].astype(np.float32)


def test_yolov8_columns_are_decoded_and_suppressed_per_class() -> None:
    out = decoder((1, 7, -1), preset="yolov8").decode([yolov8_output()])
    assert out.in_pixels
    np.testing.assert_allclose(out.boxes, [[40, 35, 60, 45], [40, 35, 60, 45]])
    np.testing.assert_allclose(out.scores, [0.9, 0.7])
    assert out.labels.tolist() == [0, 2]  # the 0.8 duplicate goes, the other class on the same spot stays


def test_class_agnostic_nms_suppresses_across_classes() -> None:
    out = decoder((1, 7, 4), preset="yolov8", class_agnostic=True).decode([yolov8_output()])
    assert out.labels.tolist() == [0] and out.scores.tolist() == pytest.approx([0.9])


def test_yolov5_objectness_multiplies_the_class_scores() -> None:
    rows = np.array([[[30, 30, 10, 10, 0.5, 0.2, 0.8], [70, 70, 10, 10, 0.9, 0.9, 0.1]]], np.float32)
    out = decoder((1, 2, 7), preset="yolov5").decode([rows])
    assert out.labels.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(out.scores, [0.81, 0.4, 0.1, 0.09], rtol=1e-6)
    np.testing.assert_allclose(out.boxes[0], [65, 65, 75, 75])


def test_end_to_end_rows_keep_their_order_threshold_and_count() -> None:
    rows = np.array([[[1, 2, 11, 22, 0.9, 3], [5, 5, 9, 9, 0.3, 0], [0, 0, 1, 1, 0.0001, 1]]], np.float32)
    out = decoder((1, 3, 6), preset="yolov10", max_detections=2, class_offset=1).decode([rows])
    np.testing.assert_allclose(out.boxes, [[1, 2, 11, 22], [5, 5, 9, 9]])
    assert out.labels.tolist() == [4, 1] and out.scores.tolist() == pytest.approx([0.9, 0.3])


def test_centernet_rows_map_back_to_the_original_image() -> None:
    """x1, y1, x2, y2 in input pixels of a 2x letterboxed 160 input → COCO rows in original pixels."""

    class Dataset(DetectionDataset):
        def __init__(self) -> None:
            pass

        def category_of(self, labels: np.ndarray) -> np.ndarray:
            return labels + 100

    rows = np.array([[[20, 40, 60, 100, 0.8, 2]]], np.float32)
    out = decoder((1, 100, 6), preset="centernet").decode([rows])
    geometry = Geometry((80, 60), (160, 160), (2.0, 2.0), (0.0, 20.0))  # 60 wide: 20 px of padding left
    coco = Dataset().rows(7, out, geometry)
    np.testing.assert_allclose(coco, [[7, 0, 20, 20, 30, 0.8, 102]], atol=1e-5)


@pytest.mark.parametrize(("box_format", "values", "expected"), [
    ("xyxy", [1, 2, 3, 4], [1, 2, 3, 4]), ("yxyx", [2, 1, 4, 3], [1, 2, 3, 4]),
    ("xywh", [1, 2, 2, 2], [1, 2, 3, 4]), ("cxcywh", [2, 3, 2, 2], [1, 2, 3, 4])])
def test_box_formats(box_format: str, values: list[float], expected: list[float]) -> None:
    np.testing.assert_allclose(to_corners(np.array([values], float), box_format), [expected])


def test_normalized_boxes_with_softmax_and_a_no_object_class() -> None:
    """A DETR-like single output: softmax over 2 classes + 'no object'; the no-object column never wins."""
    rows = np.array([[[0.1, 0.1, 0.5, 0.5, 2.0, 0.0, 0.0], [0.2, 0.2, 0.4, 0.4, 0.0, 0.0, 5.0]]], np.float32)
    out = decoder((1, 2, 7), units="normalized", score_activation="softmax", no_object_class=True,
                  score_threshold=0.5, nms=False).decode([rows])
    assert not out.in_pixels and out.labels.tolist() == [0]
    e = np.exp([2.0, 0.0, 0.0])
    assert out.scores[0] == pytest.approx(e[0] / e.sum())


def test_config_keys_win_over_the_preset() -> None:
    config = BoxList.Config(type="box_list", preset="yolov8", nms_iou=0.5, max_detections=10)
    assert (config.layout, config.box_format, config.nms_iou, config.max_detections) == ("columns", "cxcywh", 0.5, 10)


def test_class_labels_come_from_the_output_width() -> None:
    assert decoder((1, 84, 8400), preset="yolov8").class_labels() == range(0, 80)
    assert decoder((1, 25200, 85), preset="yolov5").class_labels() == range(0, 80)
    assert decoder((1, 300, 6), preset="yolov10").class_labels() is None


@pytest.mark.parametrize(("shape", "config", "message"), [
    ((1, 4, 8400), {"preset": "yolov8"}, "decoder.num_classes: needs column 4, but axis 1 of output "
                                         "output0[1, 4, 8400] has 4 values"),
    ((1, 8400, 6), {"preset": "yolov8", "first_class_column": 4, "num_classes": 1, "layout": "rows",
                    "no_object_class": True}, "decoder.first_class_column: no class columns left"),
    ((1, 100, 5), {"preset": "centernet"}, "decoder.class_column: needs column 5, but the last axis of output "
                                           "output0[1, 100, 5] has 5 values"),
    ((1, 100, 6), {"scores": "column", "class_column": 9}, "decoder.class_column: needs column 9"),
    ((1, 100, 3), {}, "decoder.box_column: needs column 3"),
    ((1, 100), {}, "decoder.output: no output for box list"),
])
def test_a_layout_that_does_not_fit_names_the_key_and_the_shape(shape, config, message) -> None:
    with pytest.raises(UserInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decoder(shape, **config)


def test_every_readme_detector_snippet_is_a_valid_decoder_config() -> None:
    """The README's copy-paste snippets of each family must stay valid configs."""
    import yaml

    from quantflow.core.decoder import DECODERS
    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Detector families"):]
    block = section[section.index("```yaml") + 7 : section.index("```", section.index("```yaml") + 7)]
    snippets, current = [], None
    for line in block.splitlines():
        if line.startswith("decoder:"):
            current = [line]
            snippets.append(current)
        elif current is not None and line.startswith(" ") and not line.lstrip().startswith("-"):
            current.append(line)
        else:
            current = None
    assert len(snippets) >= 8
    for snippet in snippets:
        settings = yaml.safe_load("\n".join(snippet))["decoder"]
        DECODERS.get(settings["type"], "README").Config(**settings)
