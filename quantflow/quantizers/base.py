"""The quantizer interface: FP model + calibration data → quantized model plus what was done."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantflow.core.registry import Registry

QUANTIZERS: Registry = Registry("quantization algorithm", package="quantflow.quantizers")


@contextlib.contextmanager
def nncf_at_work() -> Iterator[None]:
    """While NNCF works: torch is hidden unless something imported it already, and NNCF logs through Python's
    logging like every library, not to stdout.

    NNCF imports torch whenever it is installed (2 s and 470 MB of RSS on this machine) and asks it about every
    model, though quantflow hands it OpenVINO models only (PyTorch sources are converted in a worker process).
    On import NNCF gives its logger a handler that prints `INFO:nncf:...` to stdout, where quantflow's results go,
    and stops it from propagating; without that handler its records reach the application's handlers (the
    command line shows NNCF's warnings, and its info with `-v`) and the handlers quantflow adds to read them."""
    hidden = "torch" not in sys.modules
    if hidden:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now fails fast
    try:
        from nncf.common.logging.logger import nncf_logger, stdout_handler

        nncf_logger.removeHandler(stdout_handler)
        nncf_logger.propagate = True
        yield
    finally:
        if hidden and sys.modules.get("torch", False) is None:
            del sys.modules["torch"]


@dataclass(frozen=True)
class CalibrationData:
    """Calibration items and how to turn each into the model input (the validation preprocessing)."""

    ids: Sequence[int]
    to_input: Callable[[int], np.ndarray]


@dataclass(frozen=True)
class ValidationData:
    """The images an accuracy-aware search judges on, and its scorer.

    score(compiled_model, ids, per_item=True) → (metric over those ids, per-item values in the order of ids; empty
    with per_item=False, which lets the metric take its fastest path): the shape of NNCF's `validation_fn`, so a
    search ranks layers by the task metric, not by raw output error. NNCF wants
    higher = better, so a lower-is-better metric (EPE) is scored negated; `shown` turns a score back into
    the metric's own value for reports. `device` is where a search compiles its candidates: the evaluation's.
    score_many(models, ids) → the score of each (uncompiled) model over those ids, when they can be scored at once
    (on a Ray cluster); None when candidates are scored one by one in this process.
    """

    ids: Sequence[int]
    to_input: Callable[[int], np.ndarray]
    score: Callable[..., tuple[float, list[float]]]
    higher_is_better: bool = True
    device: str = "CPU"
    score_many: Callable[[list, list[int]], list[float]] | None = None

    def shown(self, score: float | None) -> float | None:
        return score if score is None or self.higher_is_better else -score


@dataclass
class QuantizationOutcome:
    model: Any
    details: dict[str, Any] = field(default_factory=dict)


class Quantizer:
    """Subclasses declare `Config` and implement `quantize`; one that judges candidates by the metric sets
    `needs_validation` and may hold images out of its search with `split`."""

    Config: type
    needs_validation: bool = False

    def __init__(self, config) -> None:
        self.config = config

    def split(self, evaluation_ids: list[int]) -> tuple[list[int], list[int]]:
        """(the images a search judges on, the held-out images judged once at the end)."""
        return list(evaluation_ids), []

    def quantize(self, model, calibration: CalibrationData, validation: ValidationData | None) -> QuantizationOutcome:
        raise NotImplementedError
