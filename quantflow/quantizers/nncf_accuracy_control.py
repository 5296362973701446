"""NNCF's accuracy-aware quantization (`nncf.quantize_with_accuracy_control`) as a second strategy beside
quantflow's own search, with what its users miss: a metric-ranked search, a time and iteration budget, a
per-step trace and the list of reverted layers. It ranks every quantizer group by reverting it alone, which is
what makes it slow on models with many groups; `accuracy_aware` is the default.

NNCF has no time budget. Once the budget is spent, quantflow answers NNCF's ranking calls without inference
and reports the next evaluated step as meeting the target, which ends NNCF's loop with that step's model;
every figure quantflow reports is its own measurement, never the value handed to NNCF.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from quantflow.backends.openvino.graph import quantized_operations
from quantflow.core.progress import progress_bar
from quantflow.quantizers.accuracy_target import AccuracyTargetQuantization, accuracy_drop, compress_weights
from quantflow.quantizers.base import QUANTIZERS, CalibrationData, QuantizationOutcome, ValidationData

log = logging.getLogger(__name__)


@dataclass(eq=False)
class SearchTrace(logging.Handler):
    """Watches one NNCF search: scores every validation call, notes which group NNCF just reverted (from its
    log), records each evaluated step, enforces the budget, and shows what NNCF says it is doing (`on_phase`)."""

    validation: ValidationData
    max_drop: float
    drop_type: str
    deadline: float
    steps: list[dict] = field(default_factory=list)
    reference: float | None = None
    budget_spent: bool = False
    on_phase: Callable[[str], None] = lambda text: None
    _pending_group: list[str] | None = None
    _started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.on_phase(message.splitlines()[0][:70])
        if message.startswith("Reverted "):
            self._pending_group = [line.strip() for line in message.splitlines()[1:] if line.strip()]

    def validation_fn(self, compiled_model, items) -> tuple[float, list[float]]:
        ids = list(items)
        full = len(ids) == len(self.validation.ids)
        self.budget_spent = self.budget_spent or time.perf_counter() > self.deadline
        if self.budget_spent and self.reference is not None and not full:
            return 0.0, [0.0] * len(ids)  # ranking after the deadline: no inference
        value, per_item = self.validation.score(compiled_model, ids)
        if not full:
            return value, per_item
        if self.reference is None:
            self.reference = value
            return value, per_item
        step = {"step": len(self.steps), "metric": self.validation.shown(value),
                "drop": accuracy_drop(self.reference, value, self.drop_type),
                "reverted_group": self._pending_group or [], "elapsed_s": time.perf_counter() - self._started}
        self.steps.append(step)
        self._pending_group = None
        if self.budget_spent and step["step"] > 0:
            log.warning("accuracy-aware: time budget spent; stopping after step %d", step["step"])
            return self.reference, per_item  # ends NNCF's loop with this step's model (see module docstring)
        return value, per_item


@QUANTIZERS.register("nncf_accuracy_control")
class NNCFAccuracyControl(AccuracyTargetQuantization):
    """Reverts the quantizers that hurt the metric most until the drop on the search split is ≤ max_drop."""

    # NNCF probes its validation function with one item, which a one-sample split could not tell from the full
    # evaluation it takes as the reference
    min_search_samples = 2

    class Config(AccuracyTargetQuantization.Config):
        algorithm: Literal["nncf_accuracy_control"] = "nncf_accuracy_control"
        max_iterations: int | None = Field(default=None, gt=0, description="Most layer groups to revert.")
        ranking_subset_size: int | None = Field(
            default=None, gt=0, description="Images used to rank layers; default: half of the search split."
        )
        tune_hyperparams: bool = False

    def quantize(self, model, calibration: CalibrationData, validation: ValidationData | None) -> QuantizationOutcome:
        c = self.config
        searched = len(validation.ids)
        ranking = min(c.ranking_subset_size or math.ceil(searched / 2), max(1, searched - 1))
        with progress_bar() as view:
            status = view.add_task("NNCF accuracy control: calibrating", total=None, step=True)
            trace = SearchTrace(validation, c.max_drop, c.drop_type,
                                deadline=time.perf_counter() + (c.time_budget or math.inf),
                                on_phase=lambda text: view.update(status, description=f"NNCF accuracy control: {text}"))
            return self._search(model, calibration, validation, trace, ranking)

    def _search(self, model, calibration: CalibrationData, validation: ValidationData, trace: SearchTrace,
                ranking: int) -> QuantizationOutcome:
        import nncf
        import openvino as ov
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        c = self.config
        arguments, kept = self.nncf_arguments(model, calibration)
        nncf_log = logging.getLogger("nncf")
        nncf_log.addHandler(trace)
        try:
            with tempfile.TemporaryDirectory() as folder:
                quantized = nncf.quantize_with_accuracy_control(
                    model,
                    validation_dataset=nncf.Dataset(list(validation.ids), validation.to_input),
                    validation_fn=trace.validation_fn,
                    max_drop=c.max_drop,
                    drop_type=nncf.DropType(c.drop_type),
                    advanced_quantization_parameters=self.advanced_parameters(),
                    advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                        max_num_iterations=c.max_iterations or 2**31, tune_hyperparams=c.tune_hyperparams,
                        ranking_subset_size=ranking, intermediate_model_dir=folder),
                    **arguments,
                )
                fully_quantized = ov.Core().read_model(Path(folder) / "intermediate_model.xml")
        finally:
            nncf_log.removeHandler(trace)
        return self._outcome(quantized, fully_quantized, trace, ranking, kept)

    def _outcome(self, quantized, fully_quantized, trace: SearchTrace, ranking: int,
                 kept: list[dict]) -> QuantizationOutcome:
        """Keep the better of NNCF's result and the fully quantized model, and explain what was reverted."""
        c = self.config
        chosen, final = quantized, trace.steps[-1] if trace.steps else None
        if trace.steps and trace.steps[0]["drop"] < trace.steps[-1]["drop"]:
            chosen, final = compress_weights(fully_quantized), trace.steps[0]
        before, after = quantized_operations(fully_quantized), quantized_operations(chosen)
        reverted = [{"name": name, "type": kind} for name, kind in sorted(before.items()) if name not in after]
        drop = final["drop"] if final else 0.0
        stop_reason = ("time_budget" if trace.budget_spent else
                       "reached" if drop <= c.max_drop else
                       "max_iterations" if c.max_iterations and len(trace.steps) > c.max_iterations else "unreachable")
        return QuantizationOutcome(chosen, {
            "settings": c.model_dump(mode="json"),
            "auto_ignored": kept,
            "target": {"max_drop": c.max_drop, "drop_type": c.drop_type, "reached": drop <= c.max_drop,
                       "search_drop": drop, "stop_reason": stop_reason},
            "ranking_subset_size": ranking,
            "reference_metric": trace.validation.shown(trace.reference),
            "steps": trace.steps,
            "reverted": reverted,
            "quantized_operations": {"before_search": len(before), "after_search": len(after)},
        })
