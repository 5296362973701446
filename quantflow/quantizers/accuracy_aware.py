"""quantflow's accuracy-aware quantization: reach `max_drop` on the search split with as much of the model in
INT8 as the time allows, by a coarse-to-fine search over which quantizer groups go back to float
(`search/coarse_to_fine.py` gives the order).

The model is calibrated once with its weight quantizers left as FakeQuantize nodes; every candidate is that graph
with some groups bypassed, so no candidate calibrates again (a recipe is the only new calibration). The best
candidate of the whole search is returned with its weights compressed to int8, whenever the search ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, model_validator

from quantflow.backends.openvino.graph import quantized_operations
from quantflow.backends.openvino.quantizer_groups import quantizer_groups, shifted_constants
from quantflow.backends.openvino.runner import compile_exact
from quantflow.core.progress import progress_bar
from quantflow.quantizers.accuracy_target import AccuracyTargetQuantization
from quantflow.quantizers.base import QUANTIZERS, CalibrationData, QuantizationOutcome, ValidationData
from quantflow.quantizers.ignored_scope import detection_head
from quantflow.quantizers.search.coarse_to_fine import coarse_to_fine, first_and_last, groups_feeding
from quantflow.quantizers.search.judge import Base, BudgetSpent, Judge, candidate_model
from quantflow.quantizers.search.sensitivity import rounding_noise

log = logging.getLogger(__name__)

NNCF_ONLY = {"max_iterations", "ranking_subset_size", "tune_hyperparams"}
Recipe = Literal["bias_correction", "mixed_preset", "quantile_ranges", "smooth_quant"]


@QUANTIZERS.register("accuracy_aware")
class AccuracyAwareQuantization(AccuracyTargetQuantization):
    """Coarse-to-fine search (default, recipes, operation types, graph segments, ranked bisection, pruning) for
    the fewest quantizer groups in float that keep the drop on the search split ≤ max_drop."""

    class Config(AccuracyTargetQuantization.Config):
        algorithm: Literal["accuracy_aware"] = "accuracy_aware"
        recipes: list[Recipe] = Field(
            default_factory=lambda: ["bias_correction"],
            description="Other calibrations tried, fully quantized, when the default misses the target: "
                        "bias_correction (full), mixed_preset, quantile_ranges, smooth_quant (MatMul-heavy models).")
        signal_samples: int = Field(default=8, gt=0, description="Search samples the rounding-noise ranking sees.")

        @model_validator(mode="before")
        @classmethod
        def _nncf_keys(cls, data: Any) -> Any:
            """Configs written for NNCF's search (accuracy_aware before quantflow had its own) name the move."""
            moved = sorted(set(data) & NNCF_ONLY) if isinstance(data, dict) else []
            if moved:
                raise ValueError(f"{', '.join(moved)}: settings of NNCF's search; use algorithm: "
                                 "nncf_accuracy_control for it, or drop them (accuracy_aware is bounded by time_budget)")
            return data

    def _calibrate(self, model, arguments: dict, name: str, **overrides) -> Base:
        import nncf

        arguments = dict(arguments)
        advanced = self.advanced_parameters()
        advanced.backend_params = {**advanced.backend_params, "compress_weights": False}
        for key, value in overrides.items():
            if key in arguments:
                arguments[key] = value
            else:
                setattr(advanced, key, value)
        quantized = nncf.quantize(model, advanced_parameters=advanced, **arguments)
        return Base(name, quantized, quantizer_groups(quantized), shifted_constants(model, quantized))

    def _recipes(self, model, arguments: dict) -> list[tuple[str, Callable[[], Base]]]:
        """The configured recipes that differ from the settings already used."""
        import nncf
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        c, recipes = self.config, []
        for name in c.recipes:
            if name == "bias_correction" and c.fast_bias_correction:
                overrides = {"fast_bias_correction": False}
            elif name == "mixed_preset" and c.preset != "mixed":
                overrides = {"preset": nncf.QuantizationPreset.MIXED}
            elif name == "quantile_ranges":
                overrides = {"activations_range_estimator_params": RangeEstimatorParametersSet.MEAN_QUANTILE}
            elif name == "smooth_quant" and c.model_type is None and _matmul_heavy(model):
                overrides = {"model_type": nncf.ModelType.TRANSFORMER}
            else:
                continue
            recipes.append((name, lambda o=overrides, n=name: self._calibrate(model, arguments, n, **o)))
        return recipes

    def _graph_recipes(self, model) -> list[tuple[str, Callable[[Base], frozenset[int]]]]:
        """Candidates that need no calibration: the detection head's tail (unless the config already keeps it in
        float) and the first and last groups."""
        recipes = []
        if "detection_head" not in self.config.ignored_scope.auto:
            head = {op["name"] for op in detection_head(model)}
            recipes.append(("detection head", lambda base: groups_feeding(base, head)))
        return [*recipes, ("first and last groups", first_and_last)]

    def quantize(self, model, calibration: CalibrationData, validation: ValidationData | None) -> QuantizationOutcome:
        c = self.config
        deadline = time.perf_counter() + (c.time_budget or math.inf)
        started = time.perf_counter()
        with progress_bar() as view:
            status = view.add_task("accuracy-aware search: calibrating", total=None)
            arguments, kept = self.nncf_arguments(model, calibration)
            default = self._calibrate(model, arguments, "default")
            calibration_seconds = time.perf_counter() - started
            device = validation.device
            reference, _ = validation.score(compile_exact(model, device), list(validation.ids), per_item=False)
            judge = Judge(validation, reference, c.max_drop, c.drop_type, deadline,
                          on_step=lambda step: view.update(status, description=_status(step, judge, deadline)))
            samples = [validation.to_input(i) for i in list(validation.ids)[: c.signal_samples]]

            def signal(base):
                view.update(status, description=f"accuracy-aware search · ranking {len(base.groups)} quantizer "
                            f"groups by their rounding noise on {len(samples)} samples")
                return rounding_noise(base.model, base.groups, samples, device)

            try:
                coarse_to_fine(judge, default, self._recipes(model, arguments), self._graph_recipes(model), signal,
                               calibration_seconds)
            except BudgetSpent:
                log.warning("accuracy-aware: time budget spent after %d candidates; keeping the best one",
                            len(judge.steps))
        best = judge.best
        log.info("accuracy-aware search: %d candidates in %.0f s; best drop %+.5f with %d of %d quantizer groups in "
                 "float (%s)", len(judge.steps), time.perf_counter() - started, best.drop, len(best.reverted),
                 len(best.base.groups), "target met" if best.met else "target missed")
        chosen = candidate_model(best.base, best.reverted)
        before, after = quantized_operations(best.base.model), quantized_operations(chosen)
        stop_reason = "reached" if best.met else "time_budget" if judge.budget_spent else "unreachable"
        return QuantizationOutcome(chosen, {
            "settings": c.model_dump(mode="json"),
            "auto_ignored": kept,
            "target": {"max_drop": c.max_drop, "drop_type": c.drop_type, "reached": best.met,
                       "search_drop": best.drop, "stop_reason": stop_reason},
            "reference_metric": validation.shown(reference),
            "steps": judge.steps,
            "reverted": [{"name": name, "type": kind} for name, kind in sorted(before.items()) if name not in after],
            "quantized_operations": {"before_search": len(before), "after_search": len(after)},
            "search": {"strategy": "coarse_to_fine", "base": best.base.name, "groups": len(best.base.groups),
                       "groups_in_float": len(best.reverted), "evaluations": len(judge.steps),
                       "budget_spent": judge.budget_spent, "seconds": time.perf_counter() - started,
                       "scored_together": judge.batches},
        })


def _status(step: dict, judge: Judge, deadline: float) -> str:
    """The one line a search shows: phase, candidates tried, best drop so far, time left."""
    best = judge.best
    left = deadline - time.perf_counter()
    minutes, seconds = divmod(int(max(left, 0)), 60) if math.isfinite(left) else (0, 0)
    clock = f" · {minutes}:{seconds:02d} left" if math.isfinite(left) else ""
    return (f"accuracy-aware search · {step['phase']} · {len(judge.steps)} candidates · best drop {best.drop:+.4f} "
            f"with {len(best.reverted)} groups in float{clock}")


def _matmul_heavy(model) -> bool:
    """SmoothQuant targets activation outliers in front of MatMuls (transformers); convolution nets gain nothing."""
    types = [op.get_type_name() for op in model.get_ops()]
    return types.count("MatMul") >= max(4, types.count("Convolution"))
