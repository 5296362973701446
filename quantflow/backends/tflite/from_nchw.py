"""NCHW sources (ONNX, PyTorch) to the NHWC TensorFlow SavedModel the TFLite converter reads, so their TFLite
variants are made, calibrated and judged exactly as a TensorFlow source's are.

PyTorch is first exported to ONNX in the torch worker; ONNX goes through onnx2tf (the maintained successor of
openvino2tensorflow) in the TFLite worker. onnx2tf moves channels last, inputs and outputs included; the
converter's layout never reaches the config: `LiteRTRunner(source_outputs=...)` feeds NCHW and restores the
source's output layout. onnx2tf's release pins numpy 1.26 and TensorFlow 2.19; it runs on this environment's
versions and is installed without its pins (requirements/unpinned.txt).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from quantflow.backends.openvino.sources.torch_worker import export_onnx_in_worker
from quantflow.backends.tflite.convert import WORKER
from quantflow.core.errors import UserInputError, shown
from quantflow.core.worker import run_worker

INSTALL = "pip install --no-deps -r requirements/unpinned.txt"


def check_onnx2tf() -> None:
    if importlib.util.find_spec("onnx2tf") is None:
        raise UserInputError(f"quantization.tflite: ONNX and PyTorch models reach TFLite through onnx2tf, which is "
                             f"not installed; install it without its pins: {INSTALL}")


def converter_version() -> str:
    return f"onnx2tf {importlib.metadata.version('onnx2tf')}"


def channels_last(batch: np.ndarray) -> np.ndarray:
    """[N, C, H, W] samples as the NHWC model takes them."""
    return np.ascontiguousarray(np.moveaxis(batch, 1, -1)) if batch.ndim >= 4 else batch


def saved_model_from(model_config, route: str, calibration: np.ndarray, folder: Path) -> Path:
    """The NHWC SavedModel of an ONNX (`route` "onnx") or PyTorch ("pytorch") source, written under `folder`."""
    check_onnx2tf()
    onnx = model_config.source
    if route == "pytorch":
        onnx = folder / "model.onnx"
        export_onnx_in_worker(model_config, onnx)
    np.save(folder / "samples.npy", channels_last(calibration).astype(np.float32))
    job = {"task": "onnx_to_saved_model", "onnx": str(onnx), "folder": str(folder),
           "out": str(folder / "saved_model"), "calibration": str(folder / "samples.npy")}
    run_worker(WORKER, job, folder, f"model.source: onnx2tf conversion of {shown(model_config.source.name)} failed")
    return folder / "saved_model"
