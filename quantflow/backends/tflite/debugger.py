"""Which layers of the full-int8 model lose most to quantization, measured by TFLite's QuantizationDebugger
in the conversion worker; the names go back to `convert_variants(..., denylist={"int8": names})`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from quantflow.backends.tflite.convert import WORKER, model_job
from quantflow.core.errors import UserInputError
from quantflow.core.worker import run_worker


def worst_layers(source: Path, calibration: np.ndarray, limit: int = 5, threshold: float = 0.7,
                 input_name: str | None = None, output_names: list[str] | None = None) -> dict[str, float]:
    """Up to `limit` layer output tensors whose int8 error exceeds `threshold` quantization steps (RMSE / scale),
    worst first, name → error. Rounding alone gives ~0.29 steps; TensorFlow's debugging guide flags > 0.7."""
    if len(calibration) == 0:
        raise UserInputError("calibration: no samples to measure the int8 layer errors on")
    with tempfile.TemporaryDirectory(prefix="quantflow_tflite_") as tmp:
        job = model_job(source, calibration, Path(tmp), input_name, output_names)
        job.update(task="layer_errors", io="float32")
        errors = run_worker(WORKER, job, Path(tmp), f"model.source: int8 layer errors of {source.name} failed")
    return dict([(name, error) for name, error in errors if error > threshold][:limit])
