"""Direct tests of the two inference runners (OpenVINO's async queue, LiteRT's interpreter) and the OpenVINO
helpers around them, on tiny real models whose outputs are checked against numpy."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from quantflow.backends.openvino.runner import OpenVINORunner, bounded_map, check_device, compile_exact, runs_in_int8
from quantflow.core.errors import UserInputError

RNG = np.random.default_rng(7)
WEIGHTS = RNG.normal(size=(16, 8)).astype(np.float32)
BIAS = RNG.normal(size=(8,)).astype(np.float32)


def affine_model():
    """x [1,16] → x @ WEIGHTS + BIAS: a MatMul, so bf16 execution would show (bf16 keeps ~3 significant digits)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 16], np.float32, name="x")
    y = ops.add(ops.matmul(x, ops.constant(WEIGHTS), False, False), ops.constant(BIAS))
    return ov.Model([y], [x], "affine")


def two_input_model():
    """(a, b) → (a + b, a * b): two inputs fed by index, two outputs returned in model order."""
    import openvino as ov
    import openvino.opset13 as ops

    a = ops.parameter([1, 6], np.float32, name="a")
    b = ops.parameter([1, 6], np.float32, name="b")
    return ov.Model([ops.add(a, b), ops.multiply(a, b)], [a, b], "two_inputs")


def conv_model():
    """Two 3×3 convolutions: enough for NNCF to insert quantizers the CPU plugin runs in int8."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    image = ops.parameter([1, 3, 16, 16], np.float32, name="image")
    x = ops.convolution(image, ops.constant(rng.normal(size=(8, 3, 3, 3)).astype(np.float32)),
                        [1, 1], [1, 1], [1, 1], [1, 1])
    x = ops.convolution(ops.relu(x), ops.constant(rng.normal(size=(8, 8, 3, 3)).astype(np.float32)),
                        [1, 1], [1, 1], [1, 1], [1, 1])
    return ov.Model([x], [image], "convs")


def samples(count: int, shape=(1, 16)) -> list[np.ndarray]:
    return [RNG.uniform(-3, 3, shape).astype(np.float32) for _ in range(count)]


# --- OpenVINORunner -----------------------------------------------------------------------------------------------


def test_runner_results_match_numpy_and_stay_keyed_to_their_inputs() -> None:
    """Many requests in flight at once: every key must get the output of its own input, and the arrays handed
    out must be copies (requests are reused, so views would be overwritten by later inferences)."""
    inputs = samples(200)
    runner = OpenVINORunner(affine_model())
    results: dict[int, list[np.ndarray]] = {}
    lock = threading.Lock()

    def on_result(key, outputs):
        with lock:
            assert key not in results, f"key {key} delivered twice"
            results[key] = outputs

    runner.run(enumerate(inputs), on_result)
    assert runner.jobs >= 1
    assert sorted(results) == list(range(len(inputs)))
    for key, x in enumerate(inputs):
        (output,) = results[key]
        np.testing.assert_allclose(output, x.astype(np.float64) @ WEIGHTS + BIAS, rtol=1e-5, atol=1e-5)


def test_runner_feeds_tuples_by_input_index_and_returns_every_output() -> None:
    """Stereo pairs are fed as a tuple, one tensor per model input; all outputs come back, in model order."""
    runner = OpenVINORunner(two_input_model())
    pairs = [(a, b) for a, b in zip(samples(20, (1, 6)), samples(20, (1, 6)))]
    results: dict[str, list[np.ndarray]] = {}
    runner.run(((f"pair{i}", pair) for i, pair in enumerate(pairs)),
               lambda key, outputs: results.__setitem__(key, outputs))
    assert len(results) == len(pairs)
    for i, (a, b) in enumerate(pairs):
        total, product = results[f"pair{i}"]
        np.testing.assert_allclose(total, a + b, rtol=1e-6)
        np.testing.assert_allclose(product, a * b, rtol=1e-6)


def test_runner_uses_a_compiled_model_as_is_and_compiles_a_model_exactly() -> None:
    """A compiled model is not recompiled (its properties are the caller's); a plain model is compiled in f32
    with the requested performance hint."""
    import openvino as ov

    compiled = compile_exact(affine_model(), "CPU", "LATENCY")
    assert OpenVINORunner(compiled).compiled is compiled
    runner = OpenVINORunner(affine_model(), "CPU", "THROUGHPUT")
    assert str(runner.compiled.get_property("PERFORMANCE_HINT")) == "THROUGHPUT"
    assert runner.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_runner_reraises_a_callback_error_and_stops_feeding() -> None:
    """An exception in `on_result` runs in OpenVINO's thread and would vanish; `run` must raise it in the caller
    and stop taking inputs, and the runner must still work afterwards."""
    runner = OpenVINORunner(affine_model())
    taken = []

    def inputs():
        for i, x in enumerate(samples(500)):
            taken.append(i)
            yield i, x

    def failing(key, outputs):
        raise ValueError(f"decoder failed on {key}")

    with pytest.raises(ValueError, match="decoder failed on"):
        runner.run(inputs(), failing)
    assert len(taken) < 500, "run kept feeding after the callback failed"

    x = samples(1)[0]
    again: list = []
    runner.run([("k", x)], lambda key, outputs: again.append((key, outputs[0])))
    assert [key for key, _ in again] == ["k"]
    np.testing.assert_allclose(again[0][1], x @ WEIGHTS + BIAS, rtol=1e-5, atol=1e-5)


# --- compile_exact, runs_in_int8, check_device --------------------------------------------------------------------


def test_compile_exact_runs_in_float32() -> None:
    """On CPUs with native bf16 OpenVINO would run "FP32" in bf16 by default; compile_exact must ask for f32 and
    get f32-exact results (a bf16 MatMul misses this tolerance by orders of magnitude)."""
    import openvino as ov

    compiled = compile_exact(affine_model())
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    x = samples(1)[0]
    np.testing.assert_allclose(compiled(x)[0], x.astype(np.float64) @ WEIGHTS + BIAS, rtol=1e-5, atol=1e-5)
    assert str(compile_exact(affine_model(), hint="LATENCY").get_property("PERFORMANCE_HINT")) == "LATENCY"


def test_runs_in_int8_tells_fp32_from_nncf_int8() -> None:
    """The search scores FP32 models from the cached reference and runs INT8 ones: the test must not mistake one
    for the other."""
    import nncf

    model = conv_model()
    assert not runs_in_int8(compile_exact(model))
    calibration = nncf.Dataset([RNG.normal(size=(1, 3, 16, 16)).astype(np.float32) for _ in range(3)])
    quantized = nncf.quantize(conv_model(), calibration, subset_size=3)
    assert runs_in_int8(compile_exact(quantized))


@pytest.mark.parametrize("device", ["CPU", "AUTO", "AUTO:CPU", "HETERO:CPU", "MULTI:CPU", "AUTO:-GPU",
                                    "AUTO:CPU,-GPU", "BATCH:CPU(4)"])
def test_check_device_accepts_devices_openvino_has(device: str) -> None:
    """Real and virtual devices built on the CPU must pass (they compile on this machine)."""
    check_device(device)
    compile_exact(affine_model(), device)


@pytest.mark.parametrize("device", ["TPU", "MULTI:CPU,TPU", "HETERO:FPGA,CPU", "", "cpu", "CPU.0"])
def test_check_device_refuses_unknown_devices(device: str) -> None:
    """A device OpenVINO lacks is a user error naming what this machine has, raised before any work."""
    import openvino as ov

    with pytest.raises(UserInputError, match="evaluation.device: unknown device") as error:
        check_device(device)
    assert all(name in str(error.value) for name in ov.Core().available_devices)


def test_check_device_message_stays_on_one_line() -> None:
    """The CLI prints one `quantflow: error:` line: control characters of the user's value must be escaped."""
    with pytest.raises(UserInputError) as error:
        check_device("GPU\nrm -rf")
    message = str(error.value)
    assert "\n" not in message and "'GPU\\nrm -rf'" in message  # escaped once, as the user typed it


# --- bounded_map --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 3, 8])
def test_bounded_map_keeps_order_and_at_most_window_in_flight(window: int) -> None:
    """Preparation runs ahead of inference in a pool; results must come back in input order although later items
    finish first, and no more than `window` items may be submitted and not yet consumed (memory bound)."""
    count = 24
    pulled, consumed, running, peak = [0], [0], [0], [0]
    lock = threading.Lock()

    def items():
        for i in range(count):
            pulled[0] += 1
            assert pulled[0] - consumed[0] <= window, "bounded_map pulled more than `window` items ahead"
            yield i

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.004 * ((count - i) % 5))  # early items are slower: completion order differs from input order
        with lock:
            running[0] -= 1
        return i * i

    results = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for value in bounded_map(pool, work, items(), window):
            results.append(value)
            consumed[0] += 1
    assert results == [i * i for i in range(count)]
    assert peak[0] <= window
    if window > 1:
        assert peak[0] > 1, "bounded_map never ran items concurrently"


def test_bounded_map_with_fewer_items_than_window_returns_them_all() -> None:
    """A dataset smaller than the window (a 2-image smoke run) must not lose the tail."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(bounded_map(pool, str.upper, iter(["a", "b"]), window=10)) == ["A", "B"]
        assert list(bounded_map(pool, str.upper, iter([]), window=10)) == []


# --- LiteRTRunner -------------------------------------------------------------------------------------------------

LITE_W = np.random.default_rng(3).normal(size=(8, 3)).astype(np.float32)
LITE_B = np.random.default_rng(4).normal(size=(3,)).astype(np.float32)


@pytest.fixture(scope="module")
def tflite_models(tmp_path_factory) -> dict[str, Path]:
    """x [batch, 8] → {"scores": x @ LITE_W + LITE_B} as float .tflite, full-integer .tflite (int8 I/O), a
    fixed-shape .tflite, and a two-input .tflite, converted by TF's own converter."""
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("ai_edge_litert")

    folder = tmp_path_factory.mktemp("litert")

    class Affine(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="x")])
        def serve(self, x):
            return {"scores": tf.matmul(x, LITE_W) + LITE_B}

    module = Affine()
    tf.saved_model.save(module, str(folder / "saved"), signatures={"serving_default": module.serve})

    def write(name: str, converter) -> Path:
        path = folder / f"{name}.tflite"
        path.write_bytes(converter.convert())
        return path

    paths = {"float": write("float", tf.lite.TFLiteConverter.from_saved_model(str(folder / "saved")))}
    calibration = np.random.default_rng(5).uniform(-1, 1, (32, 1, 8)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(folder / "saved"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample] for sample in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    paths["int8"] = write("int8", converter)

    fixed = tf.function(lambda x: tf.matmul(x, LITE_W) + LITE_B).get_concrete_function(
        tf.TensorSpec([1, 8], tf.float32))
    paths["fixed"] = write("fixed", tf.lite.TFLiteConverter.from_concrete_functions([fixed]))
    pair = tf.function(lambda a, b: a + b).get_concrete_function(tf.TensorSpec([1, 8], tf.float32),
                                                                  tf.TensorSpec([1, 8], tf.float32))
    paths["two_inputs"] = write("two_inputs", tf.lite.TFLiteConverter.from_concrete_functions([pair]))
    return paths


def test_litert_runner_matches_numpy_in_input_order(tflite_models: dict[str, Path]) -> None:
    """LiteRT infers synchronously: results must match numpy and arrive in the order the inputs were given."""
    from quantflow.backends.tflite.runner import LiteRTRunner

    runner = LiteRTRunner(tflite_models["float"], threads=1)
    inputs = [np.random.default_rng(i).uniform(-1, 1, (1, 8)).astype(np.float32) for i in range(10)]
    keys, outputs = [], []
    runner.run(((f"img{i}", x) for i, x in enumerate(inputs)), lambda key, out: (keys.append(key), outputs.append(out)))
    assert keys == [f"img{i}" for i in range(10)]
    for x, (scores,) in zip(inputs, outputs):
        assert scores.dtype == np.float32
        np.testing.assert_allclose(scores, x @ LITE_W + LITE_B, rtol=1e-5, atol=1e-5)
    assert runner.jobs == 1 and runner.input_dtype == np.float32


def test_litert_runner_names_outputs_after_the_signature(tflite_models: dict[str, Path]) -> None:
    """Conversion renames tensors; decoders bind outputs by the SavedModel signature name, so it must be listed."""
    from quantflow.backends.tflite.runner import LiteRTRunner

    (info,) = LiteRTRunner(tflite_models["float"]).output_infos()
    assert "scores" in info.names
    assert info.index == 0 and info.shape == (-1, 3)


def test_litert_runner_hides_integer_io(tflite_models: dict[str, Path]) -> None:
    """A full-integer model with int8 I/O still takes and returns float: the runner quantizes the input and
    dequantizes the output with the tensors' own scale and zero point."""
    from quantflow.backends.tflite.runner import LiteRTRunner

    runner = LiteRTRunner(tflite_models["int8"], threads=1)
    assert runner.input_dtype == np.int8
    in_scale = runner.input["quantization"][0]
    out_scale = runner.outputs[0]["quantization"][0]
    tolerance = 3 * out_scale + in_scale * np.abs(LITE_W).sum(axis=0).max()
    for seed in range(5):
        x = np.random.default_rng(100 + seed).uniform(-1, 1, (1, 8)).astype(np.float32)
        (scores,) = runner.infer(x)
        assert scores.dtype == np.float32
        np.testing.assert_allclose(scores, x @ LITE_W + LITE_B, atol=tolerance)
        assert np.abs(scores - (x @ LITE_W + LITE_B)).max() < 0.2 * np.abs(x @ LITE_W + LITE_B).max()


def test_litert_runner_resizes_a_dynamic_batch(tflite_models: dict[str, Path]) -> None:
    """A model with a dynamic batch dimension is resized to the tensor it gets, and back again."""
    from quantflow.backends.tflite.runner import LiteRTRunner

    runner = LiteRTRunner(tflite_models["float"])
    batch = np.random.default_rng(9).uniform(-1, 1, (4, 8)).astype(np.float32)
    np.testing.assert_allclose(runner.infer(batch)[0], batch @ LITE_W + LITE_B, rtol=1e-5, atol=1e-5)
    assert runner.input_shape == (4, 8)
    np.testing.assert_allclose(runner.infer(batch[:1])[0], batch[:1] @ LITE_W + LITE_B, rtol=1e-5, atol=1e-5)


def test_litert_runner_refuses_bad_models_and_inputs(tflite_models: dict[str, Path], tmp_path: Path) -> None:
    """Bad user input is a one-line UserInputError naming the config key, never an interpreter traceback."""
    from quantflow.backends.tflite.runner import LiteRTRunner

    garbage = tmp_path / "broken.tflite"
    garbage.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(UserInputError, match="model.source: cannot load TFLite model broken.tflite"):
        LiteRTRunner(garbage)
    with pytest.raises(UserInputError, match="expected a single-input model"):
        LiteRTRunner(tflite_models["two_inputs"])
    with pytest.raises(UserInputError, match=r"preprocessing: produces \[1, 5\] .* expects \[1, 8\]"):
        LiteRTRunner(tflite_models["fixed"]).infer(np.zeros((1, 5), np.float32))


def test_quantize_dequantize_round_trip_and_clip() -> None:
    """The integer I/O conversion: within half a step for in-range values, saturating (not wrapping) outside."""
    from quantflow.backends.tflite.runner import dequantize, quantize

    detail = {"dtype": np.int8, "quantization": (0.05, -3)}
    x = np.linspace(-8, 8, 161, dtype=np.float32)
    q = quantize(x, detail)
    assert q.dtype == np.int8
    back = dequantize(q, detail)
    inside = (x >= (-128 + 3) * 0.05) & (x <= (127 + 3) * 0.05)
    assert np.abs(back[inside] - x[inside]).max() <= 0.025 + 1e-6
    assert q[0] == -128 and q[-1] == 127
    float_detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert quantize(x, float_detail) is x and dequantize(x, float_detail) is x
