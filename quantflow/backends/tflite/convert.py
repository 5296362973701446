"""TFLite variants of a TF model, converted in a worker subprocess: TFLiteConverter leaks memory on every call,
and TensorFlow then never enters the quantflow process."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantflow.core.errors import UserInputError
from quantflow.core.worker import run_worker

VARIANTS = ("fp32", "dynamic", "float16", "int8", "int16x8")
FILE_NAMES = {"fp32": "{name}_fp32", "dynamic": "{name}_dynamic_int8_weights", "float16": "{name}_float16",
              "int8": "{name}_full_int8_io_{io}", "int16x8": "{name}_int16x8"}
CALIBRATED = {"int8", "int16x8"}
IO_TYPES = ("float32", "int8", "uint8")

WORKER = "quantflow.backends.tflite.worker"


def source_kind(source: Path) -> str:
    """How the worker loads the model, or a clear error naming what is accepted."""
    if source.is_dir() and (source / "saved_model.pb").is_file():
        return "saved_model"
    if source.is_file() and source.suffix in (".keras", ".h5"):
        return "keras"
    if source.is_file() and source.suffix == ".pb":
        return "frozen_graph"
    raise UserInputError(f"model.source: cannot convert {source.name} to TFLite; expected a TF SavedModel folder, "
                         "a Keras .keras/.h5 file or a frozen graph .pb")


def model_job(source: Path, calibration: np.ndarray, folder: Path, input_name: str | None,
              output_names: list[str] | None) -> dict[str, Any]:
    """The part of a worker job that says how to load the model and feed it; the calibration goes to a .npy
    in `folder` (one [1, ...] sample per row), the frozen-graph input shape is its row shape with batch 1."""
    kind = source_kind(source)
    if importlib.util.find_spec("tensorflow") is None:
        raise UserInputError("tensorflow is not installed; install quantflow[tflite] to build TFLite models")
    if calibration.ndim < 2:
        raise UserInputError(f"calibration: expected a batch of samples [N, ...], got shape {list(calibration.shape)}")
    np.save(folder / "calibration.npy", np.ascontiguousarray(calibration, dtype=np.float32))
    return {"source": str(source), "kind": kind, "calibration": str(folder / "calibration.npy"),
            "input_name": input_name, "output_names": output_names, "input_shape": [1, *calibration.shape[1:]]}


def convert_variants(source: Path, variants: list[str], io: str, calibration: np.ndarray, out_dir: Path, name: str,
                     input_name: str | None = None, output_names: list[str] | None = None,
                     denylist: dict[str, list[str]] | None = None,
                     on_progress: Callable[[str], None] = lambda text: None) -> dict[str, Path]:
    """Write each requested variant as `out_dir/{name}_<what it is>.tflite`; return variant → path.

    `calibration` holds the preprocessed float32 samples [N, ...] that calibrate int8/int16x8; `input_name` and
    `output_names` cut a frozen graph (found from the graph when omitted); `denylist` maps a variant to tensor
    names left in float (selective quantization, int8 only)."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise UserInputError(f"tflite.variants: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if io not in IO_TYPES:
        raise UserInputError(f"tflite.io: unknown {io!r}; known: {', '.join(IO_TYPES)}")
    if set(denylist or {}) - {"int8"}:
        raise UserInputError("tflite: only the int8 variant takes a denylist of layers kept in float")
    if CALIBRATED & set(variants) and len(calibration) == 0:
        raise UserInputError("calibration: no samples to calibrate the int8/int16x8 TFLite variants")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {v: out_dir / (FILE_NAMES[v].format(name=name, io=io) + ".tflite") for v in variants}
    with tempfile.TemporaryDirectory(prefix="quantflow_tflite_") as tmp:
        job = model_job(source, calibration, Path(tmp), input_name, output_names)
        job.update(task="convert", io=io, outputs={v: str(p) for v, p in paths.items()}, denylist=denylist or {})
        run_worker(WORKER, job, Path(tmp), f"model.source: TFLite conversion of {source.name} failed", on_progress)
    return paths
