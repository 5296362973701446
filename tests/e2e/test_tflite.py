"""TFLite variants of a small two-head Keras net: real conversion in the worker, real LiteRT inference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quantflow.backends.tflite import LiteRTRunner, convert_variants, describe
from quantflow.backends.tflite.debugger import worst_layers
from quantflow.core.errors import UserInputError

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

HEADS = ("box_encodings", "class_scores")


@pytest.fixture(scope="module")
def tf_models(tmp_path_factory) -> dict:
    """Conv+dense net with a [1,64,4] box head and a [1,64,3] softmax score head, as SavedModel, .keras and
    frozen .pb, plus calibration samples, other test samples and the Keras outputs on them."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf.keras.utils.set_random_seed(0)
    image = tf.keras.Input((32, 32, 3), name="image")
    x = tf.keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(image)
    x = tf.keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = tf.keras.layers.Reshape((64, 32))(x)
    heads = {"box_encodings": tf.keras.layers.Dense(4)(x),
             "class_scores": tf.keras.layers.Dense(3, activation="softmax")(x)}
    model = tf.keras.Model(image, heads)
    folder = tmp_path_factory.mktemp("tflite_models")
    model.export(folder / "saved_model")
    model.save(folder / "model.keras")
    function = tf.function(lambda image: model(image)).get_concrete_function(
        tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image"))
    frozen = convert_variables_to_constants_v2(function)
    (folder / "frozen.pb").write_bytes(frozen.graph.as_graph_def().SerializeToString())
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0, 1, (32, 32, 32, 3)).astype(np.float32)
    samples = rng.uniform(0, 1, (8, 1, 32, 32, 3)).astype(np.float32)
    reference = [{k: v.numpy() for k, v in model(sample).items()} for sample in samples]
    return {"folder": folder, "calibration": calibration, "samples": samples, "reference": reference}


@pytest.fixture(scope="module")
def variants(tf_models: dict) -> dict[str, Path]:
    return convert_variants(tf_models["folder"] / "saved_model", ["fp32", "dynamic", "float16", "int8", "int16x8"],
                            "int8", tf_models["calibration"], tf_models["folder"] / "out", "tiny")


def run_all(path: Path, samples: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Outputs per sample keyed by signature name, collected through `run` as a workflow would."""
    runner = LiteRTRunner(path, threads=1)
    heads = [next(n for n in info.names if n in HEADS) for info in runner.output_infos()]
    results: dict[int, dict[str, np.ndarray]] = {}
    runner.run(enumerate(samples), lambda key, outputs: results.__setitem__(key, dict(zip(heads, outputs))))
    return [results[key] for key in range(len(samples))]


def assert_close(results: list[dict[str, np.ndarray]], reference: list[dict[str, np.ndarray]], atol: float) -> None:
    for got, want in zip(results, reference, strict=True):
        for head in HEADS:
            np.testing.assert_allclose(got[head], want[head], atol=atol)


def test_every_variant_is_what_its_file_name_says(variants: dict[str, Path]) -> None:
    assert {v: p.name for v, p in variants.items()} == {
        "fp32": "tiny_fp32.tflite", "dynamic": "tiny_dynamic_int8_weights.tflite", "float16": "tiny_float16.tflite",
        "int8": "tiny_full_int8_io_int8.tflite", "int16x8": "tiny_int16x8.tflite"}
    d = {v: describe(p) for v, p in variants.items()}
    assert {v: info["kind"] for v, info in d.items()} == {v: v for v in variants}
    float_io = {"inputs": ["float32"], "outputs": ["float32", "float32"]}
    assert {k: d["fp32"][k] for k in float_io} == float_io and not {"int8", "float16"} & set(d["fp32"]["weights"])
    assert "int8" in d["dynamic"]["weights"] and not {"int8", "int16"} & set(d["dynamic"]["activations"])
    assert "float16" in d["float16"]["weights"] and "int8" not in d["float16"]["weights"]
    assert "float32" not in d["int8"]["weights"] and "float32" not in d["int8"]["activations"]
    assert d["int8"]["inputs"] == ["int8"] and d["int8"]["outputs"] == ["int8", "int8"]
    assert "int16" in d["int16x8"]["activations"] and "int8" in d["int16x8"]["weights"]
    assert {k: d["int16x8"][k] for k in float_io} == float_io


def test_fp32_variants_of_saved_model_and_keras_file_match_keras(tf_models: dict, variants: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    keras = convert_variants(tf_models["folder"] / "model.keras", ["fp32"], "float32", tf_models["calibration"],
                             tmp_path, "keras")["fp32"]
    for path in (variants["fp32"], keras):
        assert_close(run_all(path, tf_models["samples"]), tf_models["reference"], atol=1e-5)



@pytest.mark.parametrize(("variant", "atol"), [("float16", 1e-3), ("dynamic", 0.02), ("int16x8", 0.02)])
def test_float_io_variants_stay_close_to_keras(tf_models: dict, variants: dict[str, Path], variant: str,
                                               atol: float) -> None:
    """float16 keeps ~3 significant digits; int8 weights cost ~1% of the outputs' range (~0.7 here)."""
    assert_close(run_all(variants[variant], tf_models["samples"]), tf_models["reference"], atol)


def test_int8_and_uint8_io_runner_returns_float_close_to_keras(tf_models: dict, variants: dict[str, Path]) -> None:
    """Error is counted in output quantization steps: rounding at the output alone is 0.5 step, rounding of the
    input and of the two conv activations upstream adds a little more (measured: max 2.0, mean 0.46 steps), so
    every value must be within 3 steps and the mean within 1; uint8 I/O is int8 I/O shifted by 128, so both
    models must agree to within a step."""
    uint8 = convert_variants(tf_models["folder"] / "saved_model", ["int8"], "uint8", tf_models["calibration"],
                             tf_models["folder"] / "out", "tiny")["int8"]
    assert uint8.name == "tiny_full_int8_io_uint8.tflite" and describe(uint8)["inputs"] == ["uint8"]
    runner = LiteRTRunner(variants["int8"])
    steps = {runner.signature_names[d["index"]]: d["quantization"][0] for d in runner.outputs}
    int8_results, uint8_results = run_all(variants["int8"], tf_models["samples"]), run_all(uint8, tf_models["samples"])
    for head in HEADS:
        want = np.stack([r[head] for r in tf_models["reference"]])
        got = np.stack([r[head] for r in int8_results])
        assert got.dtype == np.float32
        error = np.abs(got - want) / steps[head]
        assert error.max() <= 3 and error.mean() <= 1, (head, error.max(), error.mean())
        np.testing.assert_allclose(np.stack([r[head] for r in uint8_results]), got, atol=steps[head])


def test_output_infos_name_signature_outputs_in_run_order(variants: dict[str, Path]) -> None:
    runner = LiteRTRunner(variants["int8"])
    infos = runner.output_infos()
    assert [info.index for info in infos] == [0, 1]
    assert {info.shape for info in infos} == {(-1, 64, 4), (-1, 64, 3)}
    for info in infos:
        head = next(n for n in info.names if n in HEADS)
        assert info.shape[-1] == (4 if head == "box_encodings" else 3)
        assert any(name.endswith(":0") or name.endswith(":1") for name in info.names)
    assert runner.input_shape == (1, 32, 32, 3) and runner.input_dtype == np.int8 and runner.jobs == 1
    outputs: list = []
    runner.run([("a", np.zeros((1, 32, 32, 3), np.float32))], lambda key, out: outputs.append(out))
    assert [o.shape[1:] for o in outputs[0]] == [info.shape[1:] for info in infos]


def test_frozen_graph_converts_with_fixed_shape_and_without_tensorflow_in_process(tf_models: dict,
                                                                                  tmp_path: Path) -> None:
    """A fresh interpreter, since this test process already imported TensorFlow to build the model."""
    np.save(tmp_path / "calibration.npy", tf_models["calibration"])
    script = (
        "import sys; from pathlib import Path; import numpy as np\n"
        "from quantflow.backends.tflite import convert_variants\n"
        "assert 'tensorflow' not in sys.modules\n"
        f"paths = convert_variants(Path({str(tf_models['folder'] / 'frozen.pb')!r}), ['fp32'], 'float32', "
        f"np.load({str(tmp_path / 'calibration.npy')!r}), Path({str(tmp_path)!r}), 'frozen')\n"
        "print(paths['fp32'], 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    path, tf_imported = done.stdout.split()[-2:]
    assert tf_imported == "False" and Path(path) == tmp_path / "frozen_fp32.tflite"
    runner = LiteRTRunner(Path(path))
    infos = runner.output_infos()
    assert runner.input_shape == (1, 32, 32, 3) and [info.shape for info in infos] == [(1, 64, 4), (1, 64, 3)]
    assert "Identity:0" in infos[0].names and "Identity_1:0" in infos[1].names
    results = [dict(zip(HEADS, runner.infer(sample))) for sample in tf_models["samples"]]
    assert_close(results, tf_models["reference"], atol=1e-5)


def test_non_tensorflow_source_is_user_input_error(tiny_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"model.source: cannot convert tiny.onnx to TFLite; expected"):
        convert_variants(tiny_onnx, ["fp32"], "float32", np.zeros((1, 3, 32, 32), np.float32), tmp_path, "x")


def test_worker_failure_reports_its_last_error_line(tmp_path: Path) -> None:
    (tmp_path / "broken.pb").write_bytes(b"not a graph")
    with pytest.raises(UserInputError, match=r"TFLite conversion of broken.pb failed: .*DecodeError"):
        convert_variants(tmp_path / "broken.pb", ["fp32"], "float32", np.zeros((1, 8, 8, 3), np.float32),
                         tmp_path, "broken")
    assert not list(tmp_path.glob("*.tflite*"))


def test_debugger_ranks_layers_and_denylisted_ones_stay_float(tf_models: dict, variants: dict[str, Path]) -> None:
    errors = worst_layers(tf_models["folder"] / "saved_model", tf_models["calibration"], limit=3, threshold=0.0)
    assert 1 <= len(errors) <= 3 and list(errors.values()) == sorted(errors.values(), reverse=True)
    assert all(0.1 < error < 2 for error in errors.values())  # rounding noise is ~0.29 steps on this tiny net
    worst = next(iter(errors))
    path = convert_variants(tf_models["folder"] / "saved_model", ["int8"], "int8", tf_models["calibration"],
                            tf_models["folder"] / "selective", "tiny", denylist={"int8": [worst]})["int8"]
    info = describe(path)
    assert info["kind"] == "int8" and info["inputs"] == ["int8"] and info["outputs"] == ["int8", "int8"]
    assert "float32" in info["activations"] and "float32" not in describe(variants["int8"])["activations"]
