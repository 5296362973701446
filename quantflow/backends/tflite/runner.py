"""Runs a .tflite model with LiteRT as a `core.runner.Runner`; integer I/O is hidden from callers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.core.progress import quiet_native_output


def quantize(tensor: np.ndarray, detail: dict) -> np.ndarray:
    """Float → the input's integer type with its scale/zero point; float inputs only get cast."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if not np.issubdtype(dtype, np.integer) or not scale:
        return tensor.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(tensor / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(tensor: np.ndarray, detail: dict) -> np.ndarray:
    """A quantized integer output → float32; anything else (float, plain int32 indices) is returned as is."""
    scale, zero_point = detail["quantization"]
    if not np.issubdtype(tensor.dtype, np.integer) or not scale:
        return tensor
    return ((tensor.astype(np.float32) - zero_point) * scale).astype(np.float32)


def channels_first(tensor: np.ndarray) -> np.ndarray:
    """[1, ..., C] → [1, C, ...]: a channels-last tensor in the layout of the NCHW model it was converted from."""
    return np.moveaxis(tensor, -1, 1)


class LiteRTRunner:
    """One LiteRT interpreter; `run` infers synchronously and always takes and returns float tensors.

    `source_outputs`: for a model converted from an NCHW source (ONNX, PyTorch), the source's output shapes; the
    runner then takes NCHW input, as the source does, and gives back each channels-last output the converter
    made in the source's own layout, so preprocessing and decoder are the source's."""

    def __init__(self, path: Path, threads: int | None = None,
                 source_outputs: list[OutputInfo] | None = None) -> None:
        self.source_outputs = source_outputs
        from ai_edge_litert.interpreter import Interpreter

        try:
            with quiet_native_output():  # LiteRT prints a banner when it applies its default delegate
                self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UserInputError(f"model.source: cannot load TFLite model {Path(path).name}: {exc}") from None
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise UserInputError(f"model.source: expected a single-input model, got inputs "
                                 f"{', '.join(d['name'] for d in inputs)}")
        self.input = inputs[0]
        self.outputs = self.interpreter.get_output_details()
        self.signature_names = self._signature_output_names()

    def _signature_output_names(self) -> dict[int, str]:
        """Tensor index → SavedModel signature output name (conversion renames tensors, signatures keep names)."""
        names: dict[int, str] = {}
        for key in self.interpreter.get_signature_list():
            for name, detail in self.interpreter.get_signature_runner(key).get_output_details().items():
                names.setdefault(detail["index"], name)
        return names

    @property
    def jobs(self) -> int:
        return 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input["shape"])

    @property
    def input_dtype(self) -> np.dtype:
        """The model's own input type; `run` still takes float and quantizes it."""
        return np.dtype(self.input["dtype"])

    def _restores_layout(self, index: int, shape: tuple[int, ...]) -> bool:
        """Whether output `index` (of `shape`) is the channels-last form of the source's output of the same name
        (or, unnamed, the same position)."""
        if self.source_outputs is None or len(shape) < 3:
            return False
        names = self._names(index)
        source = next((o for o in self.source_outputs if o.names & names), None)
        if source is None and index < len(self.source_outputs):
            source = self.source_outputs[index]
        if source is None or len(source.shape) != len(shape):
            return False
        moved = (shape[0], shape[-1], *shape[1:-1])
        return all(w in (m, -1) for w, m in zip(source.shape, moved)) and (len(shape) == 4 or moved != shape)

    def _names(self, index: int) -> set[str]:
        detail = self.outputs[index]
        names = {detail["name"], self.signature_names.get(detail["index"])}
        if ":" not in detail["name"]:
            names.add(f"{detail['name']}:0")
        return set(filter(None, names))

    def output_infos(self) -> list[OutputInfo]:
        """Names and shapes (-1 = dynamic) in the order `run` returns outputs. Names: the tensor name, as TF
        names it too (`Identity:0` for the `Identity` node of a frozen graph), and the signature name."""
        infos = []
        for i, detail in enumerate(self.outputs):
            shape = tuple(int(s) for s in detail["shape_signature"])
            if self._restores_layout(i, shape):
                shape = (shape[0], shape[-1], *shape[1:-1])
            infos.append(OutputInfo(i, frozenset(self._names(i)), shape))
        return infos

    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self.source_outputs is not None and tensor.ndim >= 3:
            tensor = np.ascontiguousarray(np.moveaxis(tensor, 1, -1))
        if tuple(tensor.shape) != self.input_shape:
            try:
                self.interpreter.resize_tensor_input(self.input["index"], list(tensor.shape), strict=True)
                self.interpreter.allocate_tensors()
            except (ValueError, RuntimeError):
                raise UserInputError(f"preprocessing: produces {list(tensor.shape)} but the TFLite model input "
                                     f"{self.input['name']} expects {list(self.input_shape)}") from None
            self.input = self.interpreter.get_input_details()[0]
        self.interpreter.set_tensor(self.input["index"], quantize(tensor, self.input))
        self.interpreter.invoke()
        outputs = [dequantize(self.interpreter.get_tensor(d["index"]), d) for d in self.outputs]
        return [channels_first(o) if self._restores_layout(i, o.shape) else o for i, o in enumerate(outputs)]

    def run(self, inputs: Iterable[tuple[Any, np.ndarray]], on_result: Callable[[Any, list[np.ndarray]], None]) -> None:
        """Infer every (key, tensor) in order; `on_result(key, outputs)` runs in the calling thread."""
        for key, tensor in inputs:
            on_result(key, self.infer(tensor))
