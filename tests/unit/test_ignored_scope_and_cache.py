"""Graph analysis for the ignored scope, and the FP32 reference cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from quantflow.backends.openvino.graph import quantized_operations
from quantflow.pipeline.cache import PredictionCache, files_digest, reference_key
from quantflow.pipeline.evaluate import Predictions
from quantflow.quantizers.ignored_scope import IgnoredScopeConfig, detection_head


def _ssd_like_model() -> ov.Model:
    """conv → (box head conv → reshape) and (class head conv → reshape → softmax), then outputs."""
    image = ops.parameter([1, 3, 8, 8], np.float32, name="image")
    rng = np.random.default_rng(0)
    features = ops.relu(ops.convolution(image, ops.constant(rng.normal(size=(4, 3, 3, 3)).astype(np.float32)),
                                        [1, 1], [1, 1], [1, 1], [1, 1]))
    features.set_friendly_name("backbone_relu")
    boxes = ops.convolution(features, ops.constant(rng.normal(size=(8, 4, 1, 1)).astype(np.float32)),
                            [1, 1], [0, 0], [0, 0], [1, 1])
    boxes.set_friendly_name("box_head")
    scores = ops.convolution(features, ops.constant(rng.normal(size=(6, 4, 1, 1)).astype(np.float32)),
                             [1, 1], [0, 0], [0, 0], [1, 1])
    scores.set_friendly_name("class_head")
    box_out = ops.reshape(boxes, ops.constant(np.array([1, -1, 4], np.int64)), False)
    box_out.set_friendly_name("box_reshape")
    class_reshape = ops.reshape(scores, ops.constant(np.array([1, -1, 3], np.int64)), False)
    class_reshape.set_friendly_name("class_reshape")
    class_out = ops.softmax(class_reshape, 2)
    class_out.set_friendly_name("class_softmax")
    return ov.Model([box_out, class_out], [image], "ssd_like")


def test_detection_head_stops_at_weighted_layers() -> None:
    head = detection_head(_ssd_like_model())
    assert {op["name"]: op["type"] for op in head} == {
        "box_reshape": "Reshape", "class_reshape": "Reshape", "class_softmax": "Softmax"}


def _yolov8_like_model(dfl_weights: np.ndarray) -> ov.Model:
    """Ultralytics' exported head: box conv → reshape [1,4,R,A] → softmax over bins → DFL conv (weights
    0..R-1, stored f16 and converted, as OpenVINO keeps them) → anchor arithmetic; sigmoid class scores; concat."""
    reg_max = 4
    image = ops.parameter([1, 3, 4, 4], np.float32, name="image")
    rng = np.random.default_rng(1)
    box = ops.convolution(image, ops.constant(rng.normal(size=(4 * reg_max, 3, 1, 1)).astype(np.float32)),
                          [1, 1], [0, 0], [0, 0], [1, 1])
    box.set_friendly_name("box_conv")
    bins = ops.reshape(box, ops.constant(np.array([1, 4, reg_max, 16], np.int64)), False)
    moved = ops.transpose(bins, ops.constant(np.array([0, 2, 1, 3], np.int64)))
    soft = ops.softmax(moved, 1)
    soft.set_friendly_name("dfl_softmax")
    weights = ops.convert(ops.constant(dfl_weights.astype(np.float16).reshape(1, reg_max, 1, 1)), ov.Type.f32)
    dfl = ops.convolution(soft, weights, [1, 1], [0, 0], [0, 0], [1, 1])
    dfl.set_friendly_name("dfl_conv")
    distances = ops.reshape(dfl, ops.constant(np.array([1, 4, 16], np.int64)), False)
    boxes = ops.multiply(distances, ops.constant(np.float32(8.0)))
    boxes.set_friendly_name("stride_multiply")
    cls = ops.convolution(image, ops.constant(rng.normal(size=(2, 3, 1, 1)).astype(np.float32)),
                          [1, 1], [0, 0], [0, 0], [1, 1])
    cls.set_friendly_name("cls_conv")
    scores = ops.sigmoid(ops.reshape(cls, ops.constant(np.array([1, 2, 16], np.int64)), False))
    out = ops.concat([boxes, scores], 1)
    out.set_friendly_name("output_concat")
    return ov.Model([out], [image], "yolov8_like")


def test_detection_head_passes_the_dfl_convolution_of_a_yolo_head() -> None:
    head = {op["name"] for op in detection_head(_yolov8_like_model(np.arange(4)))}
    assert {"dfl_conv", "dfl_softmax", "stride_multiply", "output_concat"} <= head
    assert not {"box_conv", "cls_conv"} & head
    learned = {op["name"] for op in detection_head(_yolov8_like_model(np.array([0.5, 1, 2, 3])))}
    assert "dfl_conv" not in learned and "dfl_softmax" not in learned  # other weights: a layer like any other


def test_resolve_merges_config_names_with_found_operations() -> None:
    config = IgnoredScopeConfig(names=["box_head"], auto=["detection_head"], types=["Softmax"])
    scope, found = config.resolve(_ssd_like_model())
    assert scope.names[0] == "box_head" and set(scope.names[1:]) == {op["name"] for op in found}
    assert scope.types == ["Softmax"]


def test_quantized_operations_lists_ops_fed_by_fake_quantize() -> None:
    model = _ssd_like_model()
    assert quantized_operations(model) == {}
    image = model.get_parameters()[0]
    consumer = next(iter(image.output(0).get_target_inputs()))
    low, high = ops.constant(np.float32(-1)), ops.constant(np.float32(1))
    fake_quantize = ops.fake_quantize(image, low, high, low, high, 256)
    consumer.replace_source_output(fake_quantize.output(0))
    assert quantized_operations(model) == {consumer.get_node().get_friendly_name(): "Convolution"}


def test_files_digest_covers_every_file_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "variables" / "variables.data").write_bytes(b"weights")
    before = files_digest(tmp_path)
    (tmp_path / "variables" / "variables.data").write_bytes(b"weightz")
    assert files_digest(tmp_path) != before


def test_ir_digest_includes_the_weights(tmp_path: Path) -> None:
    (tmp_path / "m.xml").write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"\x00")
    before = files_digest(tmp_path / "m.xml")
    (tmp_path / "m.bin").write_bytes(b"\x01")
    assert files_digest(tmp_path / "m.xml") != before


def test_prediction_cache_round_trip(tmp_path: Path) -> None:
    cache = PredictionCache(tmp_path)
    key = reference_key({"model": "abc", "ids": [1, 2]})
    assert cache.load(key) is None
    rows = np.array([[1, 10.5, 20, 30, 40, 0.9, 3], [2, 0, 0, 5, 5, 0.1, 1]])
    cache.store(key, Predictions(rows, [1, 2], 1.25, {1: (480, 640), 2: (200, 276)}))
    loaded = cache.load(key)
    np.testing.assert_array_equal(loaded.rows, rows)
    assert loaded.image_ids == [1, 2] and loaded.seconds == 1.25
    assert loaded.sizes == {1: (480, 640), 2: (200, 276)}  # annotation-free mode reads no image again
    cache.store(key, Predictions(rows, [1, 2], 1.25, {1: (480, 640)}))
    assert cache.load(key).sizes == {}  # incomplete sizes are not stored: the images are read instead
    assert key != reference_key({"model": "abc", "ids": [1, 3]})


def test_unreadable_cache_entry_is_ignored(tmp_path: Path) -> None:
    cache = PredictionCache(tmp_path)
    (tmp_path / "fp32").mkdir()
    (tmp_path / "fp32" / "k.npz").write_bytes(b"garbage")
    assert cache.load("k") is None
