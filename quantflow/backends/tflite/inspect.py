"""What a .tflite file really is, read from its tensors: weight and activation types, I/O types, and the kind."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np


def derive_kind(weights: dict[str, int], activations: dict[str, int]) -> str:
    """int16 activations → int16x8; int8 activations → int8; int8 weights on float activations → dynamic;
    float16 weights → float16; else fp32."""
    if "int16" in activations:
        return "int16x8"
    if "int8" in activations or "uint8" in activations:
        return "int8"
    if "int8" in weights:
        return "dynamic"
    return "float16" if "float16" in weights else "fp32"


def describe(path: Path) -> dict[str, Any]:
    """Weights are the tensors no operation produces and that are not model inputs (constant buffers);
    activations are model inputs and operation outputs. Delegates are off so every operation stays visible."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    inputs = interpreter.get_input_details()
    produced = {t for op in interpreter._get_ops_details() for t in op["outputs"]}  # no public per-op listing
    activation_ids = produced | {d["index"] for d in inputs}
    weights: Counter[str] = Counter()
    activations: Counter[str] = Counter()
    for tensor in interpreter.get_tensor_details():
        dtype = np.dtype(tensor["dtype"]).name
        (activations if tensor["index"] in activation_ids else weights)[dtype] += 1
    weights_, activations_ = dict(sorted(weights.items())), dict(sorted(activations.items()))
    return {
        "kind": derive_kind(weights_, activations_),
        "weights": weights_,
        "activations": activations_,
        "inputs": [np.dtype(d["dtype"]).name for d in inputs],
        "outputs": [np.dtype(d["dtype"]).name for d in interpreter.get_output_details()],
    }


def mixed_range_outputs(outputs: list[np.ndarray], names: list[str]) -> list[str]:
    """Outputs whose columns (the last axis, or axis 1 of a rank-3 output laid out [1, columns, N] as YOLOv8's)
    hold both coordinate-range values (beyond ±10, e.g. pixels) and score-range values (within ±1): one
    per-tensor int8 scale cannot serve both, the trap that makes full-integer detectors find nothing.
    `outputs` may stack several samples along the leading axis."""
    mixed = []
    for name, output in zip(names, outputs):
        for axis in {output.ndim - 1, 1} if output.ndim == 3 else {output.ndim - 1}:
            if output.ndim < 2 or output.shape[axis] < 2:
                continue
            columns = np.moveaxis(np.abs(output), axis, -1)
            spans = columns.reshape(-1, columns.shape[-1]).max(axis=0)
            if spans.max() > 10 and (spans <= 1).any():
                mixed.append(name)
                break
    return mixed
