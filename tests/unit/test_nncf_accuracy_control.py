"""Direct tests of the accuracy-aware search bookkeeping: `accuracy_drop`, `SearchTrace` driven the way NNCF drives
`validation_fn` (a one-item mode probe, the full-set reference, partial ranking calls, full step calls, "Reverted"
log records) and `NNCFAccuracyControl._outcome` on small real NNCF-quantized OpenVINO models."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pytest

from quantflow.quantizers.accuracy_target import accuracy_drop
from quantflow.quantizers.base import ValidationData
from quantflow.quantizers.nncf_accuracy_control import NNCFAccuracyControl, SearchTrace

IDS = list(range(10))
RANKING = IDS[:4]


class Scorer:
    """The search's scorer (test input): a "model" here is a per-image score table; the metric is their mean."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, model: dict[int, float], ids: list[int]) -> tuple[float, list[float]]:
        self.calls.append(list(ids))
        values = [model[i] for i in ids]
        return float(np.mean(values)), values


def model_scoring(mean: float, spread: float = 0.0) -> dict[int, float]:
    """A per-image score table with the given mean (ids symmetric around the middle get ±spread)."""
    offsets = np.linspace(-spread, spread, len(IDS))
    return {i: mean + float(offset) for i, offset in zip(IDS, offsets)}


def make_trace(drop_type: str = "absolute", deadline: float = math.inf, higher_is_better: bool = True,
               max_drop: float = 0.01) -> tuple[SearchTrace, Scorer]:
    scorer = Scorer()
    validation = ValidationData(IDS, lambda i: np.zeros((1, 3, 16, 16), np.float32), scorer, higher_is_better)
    return SearchTrace(validation, max_drop, drop_type, deadline=deadline), scorer


def reverted_record(*names: str) -> logging.LogRecord:
    """The record NNCF logs after reverting a group (accuracy_control/algorithm.py: tab-indented node names)."""
    lines = "\n".join(f"\t{name}" for name in names)
    message = f"Reverted {len(names)} operations to the floating-point precision: \n{lines}"
    return logging.LogRecord("nncf", logging.INFO, __file__, 0, message, None, None)


def start(trace: SearchTrace, reference: dict[int, float]) -> None:
    """NNCF's first calls: `Evaluator.determine_mode` probes one item, then the initial model is validated in full."""
    trace.validation_fn(reference, iter(IDS[:1]))
    trace.validation_fn(reference, iter(IDS))


# --- accuracy_drop ------------------------------------------------------------------------------------------------


def test_accuracy_drop_absolute_and_relative() -> None:
    """Drops are reference - value, relative ones divided by |reference| (as NNCF computes them), so a negated
    lower-is-better metric still gives a positive drop when it gets worse."""
    assert accuracy_drop(0.8, 0.7, "absolute") == pytest.approx(0.8 - 0.7)
    assert accuracy_drop(0.8, 0.6, "relative") == pytest.approx((0.8 - 0.6) / 0.8)
    assert accuracy_drop(-2.0, -2.5, "relative") == pytest.approx(0.5 / 2.0)
    assert accuracy_drop(0.5, 0.6, "absolute") < 0  # an improvement is a negative drop
    assert accuracy_drop(0.0, -0.5, "relative") == accuracy_drop(0.0, -0.5, "absolute")  # no division by zero


# --- SearchTrace --------------------------------------------------------------------------------------------------


def test_probe_and_reference_calls_set_the_reference_not_a_step() -> None:
    """NNCF's one-item probe is partial and the first full call is the FP reference: neither is a step."""
    trace, scorer = make_trace()
    reference = model_scoring(0.8, spread=0.1)
    value, per_item = trace.validation_fn(reference, iter(IDS[:1]))
    assert trace.reference is None and per_item == [reference[0]] and value == pytest.approx(reference[0])
    value, per_item = trace.validation_fn(reference, iter(IDS))
    assert trace.reference == pytest.approx(0.8) and value == trace.reference
    assert per_item == [reference[i] for i in IDS]
    assert trace.steps == [] and scorer.calls == [[0], IDS]


def test_steps_record_metric_and_absolute_drop() -> None:
    """Every later full call is a step: its metric, its drop from the reference, in order; the value NNCF gets
    back is the real one while the budget lasts; ranking calls are scored but never recorded."""
    trace, scorer = make_trace("absolute")
    start(trace, model_scoring(0.8))
    for mean in (0.70, 0.75, 0.79):
        for item in RANKING:
            value, per_item = trace.validation_fn(model_scoring(mean), iter([item]))
            assert value == pytest.approx(mean) and per_item == [pytest.approx(mean)]
        value, _ = trace.validation_fn(model_scoring(mean), iter(IDS))
        assert value == pytest.approx(mean)
    assert [s["step"] for s in trace.steps] == [0, 1, 2]
    assert [s["metric"] for s in trace.steps] == pytest.approx([0.70, 0.75, 0.79])
    assert [s["drop"] for s in trace.steps] == pytest.approx([0.10, 0.05, 0.01])
    elapsed = [s["elapsed_s"] for s in trace.steps]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0
    assert len(scorer.calls) == 2 + 3 * (len(RANKING) + 1)
    assert not trace.budget_spent


def test_steps_record_relative_drop() -> None:
    """drop_type relative divides by the reference."""
    trace, _ = make_trace("relative")
    start(trace, model_scoring(0.8))
    trace.validation_fn(model_scoring(0.6), iter(IDS))
    assert trace.steps[0]["drop"] == pytest.approx((0.8 - 0.6) / 0.8)


def test_reverted_group_is_attached_to_the_next_step_only() -> None:
    """NNCF logs which group it reverted before validating the new model: that group belongs to the next step,
    and a step without a new "Reverted" record reverted nothing."""
    trace, _ = make_trace()
    start(trace, model_scoring(0.8))
    trace.validation_fn(model_scoring(0.7), iter(IDS))  # step 0: the fully quantized model
    trace.emit(reverted_record("conv1", "conv1/relu"))
    trace.emit(logging.LogRecord("nncf", logging.INFO, __file__, 0, "Accuracy drop: 0.1 (absolute)", None, None))
    trace.validation_fn(model_scoring(0.75), iter(RANKING[:1]))  # a ranking call in between
    trace.validation_fn(model_scoring(0.75), iter(IDS))  # step 1
    trace.validation_fn(model_scoring(0.76), iter(IDS))  # step 2: nothing new reverted
    assert [s["reverted_group"] for s in trace.steps] == [[], ["conv1", "conv1/relu"], []]


def test_reverted_group_arrives_through_the_nncf_logger() -> None:
    """Installed as a handler on the `nncf` logger (as quantize does), NNCF's own log call reaches the trace."""
    from nncf.common.logging import nncf_logger

    trace, _ = make_trace()
    start(trace, model_scoring(0.8))
    logger = logging.getLogger("nncf")
    logger.addHandler(trace)
    try:
        nncf_logger.info("Reverted 1 operations to the floating-point precision: \n\thead/MatMul")
    finally:
        logger.removeHandler(trace)
    trace.validation_fn(model_scoring(0.79), iter(IDS))
    assert trace.steps[0]["reverted_group"] == ["head/MatMul"]


def test_after_the_deadline_ranking_is_free_and_the_next_step_ends_the_search() -> None:
    """Once the budget is spent, partial (ranking) calls return zeros without running the scorer, and the next
    evaluated step is really scored and recorded but reported to NNCF as the reference, which ends its loop."""
    trace, scorer = make_trace(deadline=time.perf_counter() + 3600)
    start(trace, model_scoring(0.8))
    trace.validation_fn(model_scoring(0.6), iter(IDS))  # step 0
    trace.validation_fn(model_scoring(0.6), iter(RANKING))  # ranking before the deadline: scored
    assert len(scorer.calls) == 4 and not trace.budget_spent

    trace.deadline = time.perf_counter() - 1
    for item in RANKING:
        assert trace.validation_fn(model_scoring(0.65), iter([item])) == (0.0, [0.0])
    assert trace.validation_fn(model_scoring(0.65), iter(RANKING)) == (0.0, [0.0] * len(RANKING))
    assert len(scorer.calls) == 4, "the scorer ran after the deadline"
    assert trace.budget_spent

    trace.emit(reverted_record("conv2"))
    value, per_item = trace.validation_fn(model_scoring(0.7), iter(IDS))  # step 1
    assert len(scorer.calls) == 5
    assert value == trace.reference == pytest.approx(0.8)
    assert per_item == [pytest.approx(0.7)] * len(IDS)
    assert trace.steps[-1]["metric"] == pytest.approx(0.7) and trace.steps[-1]["drop"] == pytest.approx(0.1)
    assert trace.steps[-1]["reverted_group"] == ["conv2"]


def test_a_deadline_already_past_still_measures_the_reference() -> None:
    """Without a reference nothing can be judged: the probe and the reference are scored even past the deadline."""
    trace, scorer = make_trace(deadline=time.perf_counter() - 1)
    start(trace, model_scoring(0.8))
    assert trace.reference == pytest.approx(0.8) and len(scorer.calls) == 2
    assert trace.validation_fn(model_scoring(0.7), iter(RANKING)) == (0.0, [0.0] * len(RANKING))
    assert len(scorer.calls) == 2


def test_lower_is_better_metrics_are_shown_in_their_own_sign() -> None:
    """EPE is scored negated for NNCF (higher = better); steps show the EPE itself and a worse EPE is a positive
    drop, absolute and relative."""
    for drop_type, expected in (("absolute", 2.5 - 2.0), ("relative", (2.5 - 2.0) / 2.0)):
        trace, _ = make_trace(drop_type, higher_is_better=False)
        start(trace, model_scoring(-2.0))
        trace.validation_fn(model_scoring(-2.5), iter(IDS))
        assert trace.validation.shown(trace.reference) == pytest.approx(2.0)
        assert trace.steps[0]["metric"] == pytest.approx(2.5)
        assert trace.steps[0]["drop"] == pytest.approx(expected)
    assert trace.validation.shown(None) is None
    assert make_trace()[0].validation.shown(0.7) == 0.7


# --- _outcome on real models --------------------------------------------------------------------------------------


def two_conv_model():
    """image → conv1 → relu → conv2: two quantizable operations with stable friendly names."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    image = ops.parameter([1, 3, 16, 16], np.float32, name="image")
    conv1 = ops.convolution(image, ops.constant(rng.normal(size=(8, 3, 3, 3)).astype(np.float32)),
                            [1, 1], [1, 1], [1, 1], [1, 1])
    conv1.set_friendly_name("conv1")
    relu = ops.relu(conv1)
    relu.set_friendly_name("relu")
    conv2 = ops.convolution(relu, ops.constant(rng.normal(size=(8, 8, 3, 3)).astype(np.float32)),
                            [1, 1], [1, 1], [1, 1], [1, 1])
    conv2.set_friendly_name("conv2")
    return ov.Model([conv2], [image], "two_convs")


@pytest.fixture(scope="module")
def quantize_pair():
    """Factory of (NNCF's result with conv2 reverted, the fully quantized intermediate model with weight
    FakeQuantizes as NNCF saves it); fresh models each call since `_outcome` may fold weights in place."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    calibration = nncf.Dataset([np.random.default_rng(i).normal(size=(1, 3, 16, 16)).astype(np.float32)
                                for i in range(3)])

    uncompressed = AdvancedQuantizationParameters(backend_params={"compress_weights": False})

    def make():
        reverted = nncf.quantize(two_conv_model(), calibration, subset_size=3,
                                 ignored_scope=nncf.IgnoredScope(["conv2"]))
        full = nncf.quantize(two_conv_model(), calibration, subset_size=3, advanced_parameters=uncompressed)
        return reverted, full

    return make


def searched(step_means: list[float], reference: float = 0.8, budget_spent: bool = False) -> SearchTrace:
    """A trace after a search whose evaluated steps scored `step_means`."""
    trace, _ = make_trace()
    start(trace, model_scoring(reference))
    for mean in step_means:
        trace.validation_fn(model_scoring(mean), iter(IDS))
    trace.budget_spent = budget_spent
    return trace


def outcome(quantize_pair, trace: SearchTrace, **settings):
    quantized, full = quantize_pair()
    config = NNCFAccuracyControl.Config(**settings)
    kept = [{"name": "head", "type": "MatMul", "rule": "detection_head"}]
    return NNCFAccuracyControl(config)._outcome(quantized, full, trace, 4, kept), quantized, full


def test_outcome_reports_what_the_search_reverted(quantize_pair) -> None:
    """NNCF's model is kept when its last step is the best: the reverted list names the operations quantized in
    the intermediate model but not in the result, and the target is reached."""
    from quantflow.backends.openvino.graph import quantized_operations

    trace = searched([0.70, 0.795])
    result, quantized, full = outcome(quantize_pair, trace, max_drop=0.01)
    details = result.details
    assert result.model is quantized
    before, after = quantized_operations(full), quantized_operations(quantized)
    assert set(before) == {"conv1", "conv2"} and set(after) == {"conv1"}
    assert details["reverted"] == [{"name": "conv2", "type": "Convolution"}]
    assert details["quantized_operations"] == {"before_search": 2, "after_search": 1}
    assert details["target"] == {"max_drop": 0.01, "drop_type": "absolute", "reached": True,
                                 "search_drop": pytest.approx(0.8 - 0.795), "stop_reason": "reached"}
    assert details["steps"] is trace.steps and details["reference_metric"] == pytest.approx(0.8)
    assert details["ranking_subset_size"] == 4
    assert details["auto_ignored"] == [{"name": "head", "type": "MatMul", "rule": "detection_head"}]
    assert details["settings"]["max_drop"] == 0.01 and details["settings"]["algorithm"] == "nncf_accuracy_control"


def test_outcome_keeps_the_fully_quantized_model_when_reverting_made_it_worse(quantize_pair) -> None:
    """If step 0 (everything quantized) beat the model NNCF returned, the fully quantized model is chosen, its
    weights folded to int8 as in NNCF's own results, and nothing is reported reverted."""
    from quantflow.backends.openvino.graph import count_ops, quantized_operations

    trace = searched([0.78, 0.70])
    fq_before = None

    def pair():
        nonlocal fq_before
        quantized, full = quantize_pair()
        fq_before = count_ops(full, "FakeQuantize")
        return quantized, full

    result, _, full = outcome(pair, trace, max_drop=0.05)
    assert result.model is full
    assert count_ops(full, "FakeQuantize") < fq_before, "weight FakeQuantizes were not folded"
    assert any(op.get_type_name() == "Constant" and op.get_element_type().get_type_name() == "i8"
               for op in full.get_ops())
    assert set(quantized_operations(full)) == {"conv1", "conv2"}
    details = result.details
    assert details["reverted"] == []
    assert details["quantized_operations"] == {"before_search": 2, "after_search": 2}
    assert details["target"]["search_drop"] == pytest.approx(0.8 - 0.78)
    assert details["target"]["reached"] and details["target"]["stop_reason"] == "reached"


@pytest.mark.parametrize("steps, settings, budget_spent, reason, reached", [
    ([0.70, 0.75, 0.79], {"max_drop": 0.02}, False, "reached", True),
    ([0.70, 0.75], {"max_drop": 0.02}, False, "unreachable", False),
    ([0.70, 0.72, 0.75], {"max_drop": 0.02, "max_iterations": 2}, False, "max_iterations", False),
    ([0.70, 0.72], {"max_drop": 0.02, "max_iterations": 5}, False, "unreachable", False),
    ([0.70, 0.72], {"max_drop": 0.02, "max_iterations": 2}, False, "unreachable", False),  # one revert of two
    ([0.70, 0.75], {"max_drop": 0.02, "time_budget": 1.0}, True, "time_budget", False),
    ([0.70, 0.79], {"max_drop": 0.02, "time_budget": 1.0}, True, "time_budget", True),
])
def test_outcome_stop_reason(quantize_pair, steps, settings, budget_spent, reason, reached) -> None:
    """Why the search stopped: the budget wins over everything, then reaching the target; max_iterations only when
    NNCF made that many reverts (one step per revert after step 0), otherwise the target is unreachable."""
    trace = searched(steps, budget_spent=budget_spent)
    target = outcome(quantize_pair, trace, **settings)[0].details["target"]
    assert target["stop_reason"] == reason
    assert target["reached"] is reached
    assert target["search_drop"] == pytest.approx(accuracy_drop(0.8, steps[-1], "absolute"))


def quantizer(**settings) -> NNCFAccuracyControl:
    return NNCFAccuracyControl(NNCFAccuracyControl.Config(algorithm="nncf_accuracy_control", **settings))


def test_the_held_out_split_is_seeded_and_disjoint() -> None:
    ids = list(range(1, 21))
    search, test = quantizer(test_fraction=0.25, split_seed=3).split(ids)
    assert len(test) == 5 and sorted(search + test) == ids and not set(search) & set(test)
    assert quantizer(test_fraction=0.25, split_seed=3).split(ids) == (search, test)
    assert quantizer().split(ids) == (ids, [])


@pytest.mark.parametrize(("ids", "settings"), [([7], {}), ([1, 2], {"test_fraction": 0.5})])
def test_a_search_of_one_sample_is_refused(ids: list[int], settings: dict) -> None:
    """NNCF probes its validation function with one item; a one-sample split would take that probe for the
    reference and record every step one early, so quantflow refuses it with the keys to change."""
    from quantflow.core.errors import UserInputError

    with pytest.raises(UserInputError, match=r"needs 2 or more search samples, got 1 of \d evaluated"):
        quantizer(**settings).split(ids)
