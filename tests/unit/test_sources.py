"""Every supported model format becomes an `openvino.Model` that computes what the original computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantflow.backends.openvino.runner import compile_exact
from quantflow.backends.openvino.sources import conform_input, load_model, save_ir
from quantflow.config.schema import ModelConfig
from quantflow.core.errors import UserInputError
from quantflow.preprocessing import TensorSpec

INPUT = np.random.default_rng(1).uniform(-1, 1, size=(1, 32, 32, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def tf_models(tmp_path_factory) -> dict[str, Path | np.ndarray]:
    """One small Keras net exported as SavedModel, frozen graph and TFLite, plus its reference output."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3), name="image")
    x = tf.keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    outputs = tf.keras.layers.Dense(5)(tf.keras.layers.GlobalAveragePooling2D()(x))
    model = tf.keras.Model(inputs, outputs)
    folder = tmp_path_factory.mktemp("tf_models")

    model.export(folder / "saved_model", format="tf_saved_model")
    function = tf.function(lambda image: model(image)).get_concrete_function(
        tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(function)
    (folder / "frozen.pb").write_bytes(frozen.graph.as_graph_def().SerializeToString())
    (folder / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return {"folder": folder, "reference": model(INPUT).numpy(),
            "pb_output": frozen.outputs[0].name, "pb_input": frozen.inputs[0].name}


def _run(model, array: np.ndarray) -> np.ndarray:
    return compile_exact(model)(array)[0]


def _config(source: Path, **extra) -> ModelConfig:
    return ModelConfig.model_validate({"name": "m", "source": str(source), **extra})


@pytest.mark.parametrize("source", ["saved_model", "model.tflite"])
def test_tf_formats_match_keras(tf_models: dict, source: str) -> None:
    model = load_model(_config(tf_models["folder"] / source))
    conform_input(model, TensorSpec((1, 32, 32, 3), "float32", "nhwc"))
    np.testing.assert_allclose(_run(model, INPUT), tf_models["reference"], rtol=1e-4, atol=1e-5)


def test_frozen_graph_with_named_input_and_output(tf_models: dict) -> None:
    config = _config(tf_models["folder"] / "frozen.pb", inputs={tf_models["pb_input"]: [1, 32, 32, 3]},
                     outputs=[tf_models["pb_output"]])
    model = load_model(config)
    assert model.inputs[0].get_partial_shape().is_static
    np.testing.assert_allclose(_run(model, INPUT), tf_models["reference"], rtol=1e-4, atol=1e-5)


def test_onnx_and_ir_round_trip(tiny_onnx: Path, tmp_path: Path) -> None:
    chw = INPUT.transpose(0, 3, 1, 2).copy()
    onnx_model = load_model(_config(tiny_onnx))
    save_ir(onnx_model, tmp_path / "ir" / "tiny.xml")
    ir_model = load_model(_config(tmp_path / "ir" / "tiny.xml"))
    np.testing.assert_allclose(_run(ir_model, chw), _run(onnx_model, chw), rtol=1e-6)


def test_dynamic_batch_fixed_from_preprocessing(tf_models: dict) -> None:
    model = load_model(_config(tf_models["folder"] / "saved_model"))
    assert model.inputs[0].get_partial_shape().is_dynamic
    conform_input(model, TensorSpec((1, 32, 32, 3), "float32", "nhwc"))
    assert list(model.inputs[0].get_shape()) == [1, 32, 32, 3]


def test_ir_reshaped_from_config_inputs(tiny_onnx: Path, tmp_path: Path) -> None:
    save_ir(load_model(_config(tiny_onnx)), tmp_path / "tiny.xml")
    model = load_model(_config(tmp_path / "tiny.xml", inputs={"image": [1, 3, 48, 48]}))
    assert list(model.inputs[0].get_shape()) == [1, 3, 48, 48]


def test_layout_mismatch_is_explained(tiny_onnx: Path) -> None:
    model = load_model(_config(tiny_onnx))
    with pytest.raises(UserInputError, match=r"NHWC \[1, 32, 32, 3\] but model input image expects \[1, 3, 32, 32\]"):
        conform_input(model, TensorSpec((1, 32, 32, 3), "float32", "nhwc"))


def test_savedmodel_folder_must_hold_a_savedmodel(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a TF SavedModel"):
        load_model(_config(tmp_path))


def test_ir_without_weights(tiny_onnx: Path, tmp_path: Path) -> None:
    save_ir(load_model(_config(tiny_onnx)), tmp_path / "tiny.xml")
    (tmp_path / "tiny.bin").unlink()
    with pytest.raises(UserInputError, match=r"file not found: tiny.bin"):
        load_model(_config(tmp_path / "tiny.xml"))


def test_an_int32_image_input_is_fed_as_declared() -> None:
    """MoveNet-style pose graphs take int32 pixels: the dtype step makes them and the model runs on them."""
    import openvino as ov
    import openvino.opset13 as ops

    from quantflow.preprocessing import Pipeline
    from quantflow.preprocessing.steps import Dtype, Resize

    image = ops.parameter([1, 8, 8, 3], np.int32, name="image")
    model = ov.Model([ops.reduce_mean(ops.convert(image, "f32"), [1, 2, 3], False)], [image], "int32_input")
    pipeline = Pipeline([Resize.Config(type="resize", size=(8, 8)), Dtype.Config(type="dtype", name="int32")])
    conform_input(model, pipeline.spec)
    tensor, _ = pipeline(np.full((20, 30, 3), 7, np.uint8))
    assert tensor.dtype == np.int32
    compiled = compile_exact(model)
    assert float(compiled(tensor)[compiled.output(0)][0]) == pytest.approx(7.0)
    with pytest.raises(UserInputError, match="produces float32 but model input image expects int32"):
        conform_input(model, TensorSpec((1, 8, 8, 3), "float32", "nhwc"))
