"""Subprocess side of TFLite conversion, `python -m quantflow.backends.tflite.worker job.json`: the only module that
imports TensorFlow (and onnx2tf, which converts NCHW ONNX models to NHWC SavedModels). Writes each .tflite through a temporary name, and its answer to `result.json`."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from quantflow.core.progress import tell_parent
from quantflow.core.worker import serve


class Failure(Exception):
    """An error already phrased for the user, naming the variant that failed."""


def frozen_graph_arrays(tf, path: str, input_name: str | None, output_names: list[str] | None) -> tuple[str, list[str]]:
    """Input and output node names of a frozen graph: as given (without `:0`), else its only Placeholder and the
    nodes nothing consumes."""
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(Path(path).read_bytes())
    node_name = lambda ref: ref.lstrip("^").split(":")[0]  # noqa: E731
    if not input_name:
        placeholders = [n.name for n in graph.node if n.op == "Placeholder"]
        if len(placeholders) != 1:
            raise ValueError(f"frozen graph has inputs {placeholders}; name the one to use")
        input_name = placeholders[0]
    if not output_names:
        consumed = {node_name(ref) for n in graph.node for ref in n.input}
        output_names = [n.name for n in graph.node if n.name not in consumed and n.op not in ("Const", "NoOp")]
    return node_name(input_name), [node_name(n) for n in output_names]


def converter_factory(tf, job: dict[str, Any]) -> Callable[[], Any]:
    """A fresh converter per variant, so no option leaks from one variant into the next."""
    if job["kind"] == "saved_model":
        return lambda: tf.lite.TFLiteConverter.from_saved_model(job["source"])
    if job["kind"] == "keras":
        model = tf.keras.models.load_model(job["source"], compile=False)
        return lambda: tf.lite.TFLiteConverter.from_keras_model(model)
    name, outputs = frozen_graph_arrays(tf, job["source"], job["input_name"], job["output_names"])
    return lambda: tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(job["source"], [name], outputs,
                                                                       {name: job["input_shape"]})


def representative(job: dict[str, Any]) -> Callable[[], Iterator[list[np.ndarray]]]:
    calibration = np.load(job["calibration"])
    return lambda: ([row[None]] for row in calibration)


def configure(tf, converter, variant: str, job: dict[str, Any]) -> None:
    """Converter options that make each variant what its file name says."""
    if variant == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        converter.representative_dataset = representative(job)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = getattr(tf, job["io"])
    elif variant == "int16x8":
        converter.representative_dataset = representative(job)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]


def selective_int8(tf, converter, denylist: list[str], job: dict[str, Any]) -> bytes:
    """Full-int8 model with the `denylist` tensors kept in float (QuantizationDebugger's selective quantization);
    the debugger quantizes with float I/O, so the requested I/O type is applied afterwards."""
    from tensorflow.lite.python.util import modify_model_io_type

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylist)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=converter.representative_dataset, debug_options=options)
    io_type = getattr(tf, job["io"])
    return modify_model_io_type(debugger.get_nondebug_quantized_model(), io_type, io_type)


def convert(tf, job: dict[str, Any]) -> dict[str, str]:
    make = converter_factory(tf, job)
    for number, (variant, out) in enumerate(job["outputs"].items(), 1):
        tell_parent(f"TFLite: converting {variant} ({number} of {len(job['outputs'])})")
        try:
            converter = make()
            configure(tf, converter, variant, job)
            denylist = job["denylist"].get(variant)
            data = selective_int8(tf, converter, denylist, job) if denylist else converter.convert()
        except Exception as exc:
            raise Failure(f"{variant} variant: {describe(exc)}") from exc
        partial = Path(out).with_name(Path(out).name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, out)
    return job["outputs"]


def layer_errors(tf, job: dict[str, Any]) -> list[tuple[str, float]]:
    """Per-layer error of the full-int8 model, RMSE of (quantized − float) in quantization steps (RMSE / scale),
    worst first: ~0.29 is plain rounding noise, layers well above it lose information to int8."""
    converter = converter_factory(tf, job)()
    configure(tf, converter, "int8", job)
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter,
                                                         debug_dataset=converter.representative_dataset)
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    errors = [(row["tensor_name"], float(np.sqrt(float(row["mean_squared_error"])) / float(row["scale"])))
              for row in csv.DictReader(dump) if float(row["scale"]) > 0]
    return sorted(errors, key=lambda item: -item[1])


def describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    if isinstance(exc, Failure):
        return lines[0]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


ONNX2TF_TEST_DATA = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx_to_saved_model(job: dict[str, Any]) -> str:
    """ONNX → NHWC SavedModel with onnx2tf, after onnxsim has folded the shape arithmetic of exported resizes
    (onnx2tf loses the channel axis in it). onnx2tf downloads sample images into the working directory unless
    a file of that name is there, so the calibration samples (20, at 128x128, as it expects) are put there."""
    import cv2
    import onnx
    import onnx2tf
    import onnxsim

    folder = Path(job["folder"])
    simplified, _ = onnxsim.simplify(onnx.load(job["onnx"]))
    onnx.save(simplified, folder / "simplified.onnx")
    samples = np.load(job["calibration"])[:20]
    if samples.ndim == 4 and samples.shape[3] == 3:
        samples = np.stack([cv2.resize(s, (128, 128)) for s in samples])
        np.save(folder / ONNX2TF_TEST_DATA, np.resize(samples, (20, 128, 128, 3)).astype(np.float32))
    previous = os.getcwd()
    os.chdir(folder)
    try:
        onnx2tf.convert(input_onnx_file_path=str(folder / "simplified.onnx"), output_folder_path=job["out"],
                        non_verbose=True)
    finally:
        os.chdir(previous)
    return job["out"]


def work(job: dict[str, Any]) -> Any:
    if job["task"] == "onnx_to_saved_model":
        return onnx_to_saved_model(job)
    import tensorflow as tf

    return convert(tf, job) if job["task"] == "convert" else layer_errors(tf, job)


if __name__ == "__main__":
    serve(work, describe)
