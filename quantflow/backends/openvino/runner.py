"""Runs a compiled OpenVINO model over a stream of inputs with an AsyncInferQueue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np

from quantflow.core.errors import UserInputError, shown

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(executor: Executor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """Like `executor.map`, but with at most `window` items in flight, so memory does not grow with the dataset."""
    pending: deque = deque()
    for item in items:
        pending.append(executor.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def compile_exact(model, device: str = "CPU", hint: str | None = None, threads: int | None = None):
    """Compile with float32 inference precision: on CPUs with native bf16 (AVX512-BF16, AMX) OpenVINO would
    otherwise run "FP32" models in bf16, and every FP32 figure (and the float parts of INT8) would be bf16's.
    `threads`: the CPUs a task was given (OpenVINO would otherwise take the whole machine)."""
    import openvino as ov

    properties = {"INFERENCE_PRECISION_HINT": "f32", **({"PERFORMANCE_HINT": hint} if hint else {}),
                  **({"INFERENCE_NUM_THREADS": threads} if threads else {})}
    return ov.Core().compile_model(model, device, properties)


def check_device(device: str) -> None:
    """Refuse a device OpenVINO does not have here before any work, naming the ones it has. Virtual devices
    (AUTO:, MULTI:, HETERO:, BATCH:) are checked by the devices they list, with AUTO's `-GPU` exclusions and
    BATCH's `CPU(4)` batch sizes."""
    import re

    import openvino as ov

    available = ov.Core().available_devices
    virtual = {"AUTO", "HETERO", "MULTI", "BATCH"}
    head, _, listed = device.partition(":")
    names = [head] if head not in virtual else []
    parts = [part.strip() for part in listed.split(",") if part.strip()]
    names += [re.sub(r"\(\d+\)$", "", part) for part in parts if not part.startswith("-")]  # `-GPU`: excluded

    def known(name: str) -> bool:
        base = name.split(".")[0]
        return name in available or (base != name and base in available and base != "CPU")

    unknown = [name for name in names if not known(name)]
    if not (names or parts or head in virtual) or unknown:
        raise UserInputError(f"evaluation.device: unknown device '{shown(device)}'; this machine has "
                             f"{', '.join(available)} (and AUTO, HETERO:, MULTI:, BATCH:)")


def feed(tensors: np.ndarray | tuple) -> dict[int, np.ndarray]:
    """Request inputs by index: one tensor, or one per model input (stereo pairs fed as two inputs)."""
    return dict(enumerate(tensors)) if isinstance(tensors, tuple) else {0: tensors}


class OpenVINORunner:
    """A compiled model plus an async queue; `run` feeds inputs and hands every result to a callback."""

    def __init__(self, model, device: str = "CPU", hint: str = "THROUGHPUT", threads: int | None = None) -> None:
        """`model` is an `openvino.Model` (compiled here) or an already compiled model (used as is)."""
        import openvino as ov

        if isinstance(model, ov.CompiledModel):
            self.compiled = model
        else:
            self.compiled = compile_exact(model, device, hint, threads)
        self.queue = ov.AsyncInferQueue(self.compiled, 0)
        self.num_outputs = len(self.compiled.outputs)

    @property
    def jobs(self) -> int:
        return len(self.queue)

    def run(self, inputs: Iterable[tuple[Any, np.ndarray]], on_result: Callable[[Any, list[np.ndarray]], None]) -> None:
        """Infer every (key, tensor); `on_result(key, outputs)` runs in OpenVINO's callback thread."""
        errors: list[BaseException] = []

        def callback(request, key) -> None:
            try:
                on_result(key, [request.get_output_tensor(i).data.copy() for i in range(self.num_outputs)])
            except BaseException as exc:  # exceptions raised in callbacks would vanish otherwise
                errors.append(exc)

        self.queue.set_callback(callback)
        try:
            for key, tensor in inputs:
                if errors:
                    break
                self.queue.start_async(feed(tensor), key)
        finally:
            self.queue.wait_all()
        if errors:
            raise errors[0]


def runs_in_int8(compiled) -> bool:
    """Whether any operation of a compiled model executes in int8 (an FP32 model has none)."""
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "runtimePrecision" in info and info["runtimePrecision"].astype(str) == "i8":
            return True
    return False
