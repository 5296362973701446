"""quantflow's own accuracy-aware search on a small real network quantized by NNCF: the quantizer groups and the
graph edit that reverts them, the numpy FakeQuantize against OpenVINO's, the rounding-noise signal against the
noise OpenVINO's own FakeQuantize nodes add, the judge's budget and choice, and the whole coarse-to-fine search
judged by a real metric (output error against the FP32 model on held images)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from quantflow.backends.openvino.quantizer_groups import in_float, quantizer_groups, shifted_constants
from quantflow.backends.openvino.runner import compile_exact
from quantflow.quantizers.base import ValidationData
from quantflow.quantizers.search.coarse_to_fine import coarse_to_fine, first_and_last, operation_kind, segments
from quantflow.quantizers.search.judge import Base, BudgetSpent, Judge
from quantflow.quantizers.search.sensitivity import fake_quantize, rounding_noise

SAMPLES = [np.random.default_rng(100 + i).normal(size=(1, 3, 24, 24)).astype(np.float32) for i in range(6)]


def residual_net():
    """conv+bias → relu → depthwise+bias → hard-swish → conv+bias → add (residual) → conv: convolutions,
    a depthwise convolution, an activation NNCF quantizes around and a residual Add, with biases bias
    correction shifts."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)

    def conv(x, out_ch, in_ch, name, groups=None):
        if groups:
            weights = ops.constant(rng.normal(size=(groups, 1, 1, 3, 3)).astype(np.float32))
            y = ops.group_convolution(x, weights, [1, 1], [1, 1], [1, 1], [1, 1])
        else:
            weights = ops.constant((rng.normal(size=(out_ch, in_ch, 3, 3)) / math.sqrt(9 * in_ch)).astype(np.float32))
            y = ops.convolution(x, weights, [1, 1], [1, 1], [1, 1], [1, 1])
        y.set_friendly_name(name)
        return ops.add(y, ops.constant(rng.normal(size=(1, out_ch, 1, 1)).astype(np.float32)))

    image = ops.parameter([1, 3, 24, 24], np.float32, name="image")
    a = ops.relu(conv(image, 8, 3, "stem"))
    b = ops.hswish(conv(a, 8, 8, "depthwise", groups=8))
    c = ops.add(conv(b, 8, 8, "project"), a)
    out = conv(ops.relu(c), 4, 8, "head")
    return ov.Model([out], [image], "residual_net")


@pytest.fixture(scope="module")
def quantized():
    """(FP32 model, NNCF-quantized model with FakeQuantize weights)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    calibration = [np.random.default_rng(i).normal(size=(1, 3, 24, 24)).astype(np.float32) for i in range(8)]
    model = residual_net()
    quantized = nncf.quantize(model, nncf.Dataset(calibration), subset_size=8,
                              advanced_parameters=AdvancedQuantizationParameters(
                                  backend_params={"compress_weights": False}))
    return model, quantized


def outputs(model, samples=SAMPLES) -> np.ndarray:
    compiled = compile_exact(model)
    return np.stack([compiled(x)[compiled.output(0)] for x in samples])


def fq_count(model) -> int:
    return sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


def test_groups_hold_every_fake_quantize_once_with_the_operations_it_feeds(quantized) -> None:
    _, model = quantized
    groups = quantizer_groups(model)
    names = [name for group in groups for name in group.quantizers]
    assert len(names) == len(set(names)) == fq_count(model)
    fed = {op.get_friendly_name() for op in model.get_ops() if op.get_type_name() != "FakeQuantize"
           and any(p.get_source_output().get_node().get_type_name() == "FakeQuantize" for p in op.inputs())}
    assert {op for group in groups for op in group.operations} == fed
    assert [g.position for g in groups] == sorted(g.position for g in groups)
    kinds = {operation_kind(g) for g in groups}
    assert "Convolution" in kinds and "Add+GroupConvolution" in kinds  # the relu output feeds both: one group


def test_reverting_every_group_gives_back_the_fp32_model_exactly(quantized) -> None:
    """Bias correction moved biases: without restoring them the all-float graph would not be FP32."""
    fp32, model = quantized
    shifted = shifted_constants(fp32, model)
    assert shifted, "NNCF's bias correction shifts biases of this net"
    groups = quantizer_groups(model)
    assert np.array_equal(outputs(in_float(model, groups, shifted)), outputs(fp32))
    assert not np.array_equal(outputs(in_float(model, groups, {})), outputs(fp32))


def test_reverting_some_groups_lands_between_and_leaves_the_quantized_model_alone(quantized) -> None:
    fp32, model = quantized
    groups, before = quantizer_groups(model), fq_count(model)
    reference, full = outputs(fp32), outputs(model)
    assert np.array_equal(outputs(in_float(model, [], {})), full)
    partial = in_float(model, groups[:2], shifted_constants(fp32, model))
    assert fq_count(partial) == before - sum(len(g.quantizers) for g in groups[:2])
    error = lambda y: float(np.mean((y - reference) ** 2))  # noqa: E731
    assert 0 < error(outputs(partial)) < error(full) or error(outputs(partial)) != error(full)
    assert fq_count(model) == before


@pytest.mark.parametrize("levels", [256, 255, 16])
def test_numpy_fake_quantize_equals_openvinos(levels: int) -> None:
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(levels)
    x = rng.normal(scale=3, size=(2, 4, 5, 5)).astype(np.float32)
    low = rng.uniform(-4, -0.5, size=(1, 4, 1, 1)).astype(np.float32)
    high = rng.uniform(0.5, 4, size=(1, 4, 1, 1)).astype(np.float32)
    out_low, out_high = low * 0.9, high * 1.1
    data = ops.parameter(x.shape, np.float32)
    node = ops.fake_quantize(data, *(ops.constant(v) for v in (low, high, out_low, out_high)), levels)
    compiled = compile_exact(ov.Model([node], [data]))
    expected = compiled(x)[compiled.output(0)]
    np.testing.assert_allclose(fake_quantize(x, low, high, out_low, out_high, levels), expected, rtol=0, atol=1e-5)


def test_rounding_noise_is_what_openvinos_fake_quantize_nodes_add(quantized) -> None:
    """The signal of each activation quantizer, checked against the model's own FakeQuantize outputs."""
    _, model = quantized
    groups = quantizer_groups(model)
    noise = rounding_noise(model, groups, SAMPLES[:3], "CPU")
    assert len(noise) == len(groups) and all(n > 0 for n in noise)
    probe = model.clone()
    nodes = {op.get_friendly_name(): op for op in probe.get_ops()}
    fq = nodes[groups[0].quantizers[0]]  # the input quantizer of the stem convolution: an activation
    assert fq.input_value(0).get_node().get_type_name() == "Parameter"
    probe.add_outputs([fq.input_value(0), fq.output(0)])
    compiled = compile_exact(probe)
    ratios = []
    for x in SAMPLES[:3]:
        result = compiled(x)
        before, after = (result[compiled.outputs[k]] for k in (-2, -1))
        ratios.append(np.sum((after - before) ** 2) / np.sum(before.astype(np.float64) ** 2))
    weight_fq = [n for n in groups[0].quantizers if n != fq.get_friendly_name()]
    assert weight_fq, "the stem group holds its weight quantizer too"
    assert noise[0] >= np.mean(ratios) * 0.999


def test_segments_cover_the_groups_in_order() -> None:
    for count in (1, 5, 8, 54, 122):
        parts = segments(count)
        assert [i for part in parts for i in part] == list(range(count)) and len(parts) == min(8, count)


class OutputError:
    """A real metric: minus the mean squared error of the model's output against FP32's on the search
    samples (higher is better, 0 for FP32), with a per-sample value."""

    def __init__(self, fp32) -> None:
        self.reference = outputs(fp32)
        self.calls = 0

    def __call__(self, compiled, ids: list[int], per_item: bool = True) -> tuple[float, list[float]]:
        self.calls += 1
        per = [-float(np.mean((compiled(SAMPLES[i])[compiled.output(0)] - self.reference[i]) ** 2)) for i in ids]
        return float(np.mean(per)), per


def make_judge(fp32, max_drop: float, deadline: float = math.inf) -> tuple[Judge, OutputError]:
    scorer = OutputError(fp32)
    validation = ValidationData(list(range(len(SAMPLES))), lambda i: SAMPLES[i], scorer)
    return Judge(validation, 0.0, max_drop, "absolute", deadline), scorer


def base_of(fp32, model) -> Base:
    return Base("default", model, quantizer_groups(model), shifted_constants(fp32, model))


def test_the_search_reaches_the_target_with_a_set_no_group_can_leave(quantized) -> None:
    """After pruning, the groups in float are 1-minimal: putting any one of them back in INT8 breaks the target.
    (small_set=0: every phase runs, as on a model with many groups.)"""
    fp32, model = quantized
    base = base_of(fp32, model)
    full_drop = -OutputError(fp32)(compile_exact(model), list(range(len(SAMPLES))))[0]
    judge, scorer = make_judge(fp32, max_drop=full_drop / 8)
    coarse_to_fine(judge, base, [], [("first and last groups", first_and_last)],
                   lambda b: rounding_noise(b.model, b.groups, SAMPLES[:2], "CPU"), 0.0, small_set=0)
    best = judge.best
    assert best.met and 0 < len(best.reverted) < len(base.groups)
    assert {step["phase"] for step in judge.steps} >= {"default", "types", "segments", "bisection"}
    assert scorer.calls == len(judge.steps), "a candidate seen before is not evaluated again"
    for group in best.reverted:
        assert not judge(base, best.reverted - {group}, "check", "one back to INT8").met
    kept = [step for step in judge.steps if step["accepted"]]
    assert kept[-1]["in_float"] == len(best.reverted) and kept[-1]["met"]


def test_candidates_scored_in_batches_take_the_same_path_as_one_by_one(quantized) -> None:
    """With a validation that scores several models at once (as on Ray), the search judges the same candidates in
    the same order with the same verdicts, and only the independent ones are batched."""
    fp32, model = quantized
    full_drop = -OutputError(fp32)(compile_exact(model), list(range(len(SAMPLES))))[0]

    def search(batched: bool) -> Judge:
        scorer = OutputError(fp32)
        many = (lambda models, ids: [scorer(compile_exact(m), ids, per_item=False)[0] for m in models]) if batched \
            else None
        validation = ValidationData(list(range(len(SAMPLES))), lambda i: SAMPLES[i], scorer, score_many=many)
        judge = Judge(validation, 0.0, full_drop / 8, "absolute", math.inf)
        coarse_to_fine(judge, base_of(fp32, model), [], [("first and last groups", first_and_last)],
                       lambda b: rounding_noise(b.model, b.groups, SAMPLES[:2], "CPU"), 0.0, small_set=0)
        return judge

    one_by_one, batched = search(False), search(True)
    trace = [[{k: v for k, v in step.items() if k != "elapsed_s"} for step in judge.steps]
             for judge in (one_by_one, batched)]
    assert trace[0] == trace[1] and one_by_one.best.reverted == batched.best.reverted
    assert one_by_one.batches == [] and max(batched.batches) > 1
    assert sum(batched.batches) <= len(batched.steps)


def test_a_spent_budget_keeps_the_best_candidate_seen(quantized) -> None:
    fp32, model = quantized
    base = base_of(fp32, model)
    judge, _ = make_judge(fp32, max_drop=0.0, deadline=time.perf_counter() + 0.05)
    with pytest.raises(BudgetSpent):
        coarse_to_fine(judge, base, [], [], lambda b: [0.0] * len(b.groups), 0.0)
    assert judge.budget_spent and judge.steps
    best_drop = min(step["drop"] for step in judge.steps)
    assert judge.best.drop == best_drop and not judge.best.met


def test_a_recipe_that_meets_the_target_fully_quantized_ends_the_search(quantized) -> None:
    fp32, model = quantized
    judge, _ = make_judge(fp32, max_drop=1e9)
    calibrated = []
    coarse_to_fine(judge, base_of(fp32, model), [("never", lambda: calibrated.append(1))], [],
                   lambda b: [0.0] * len(b.groups), 0.0)
    assert [step["phase"] for step in judge.steps] == ["default"] and not calibrated
    assert judge.best.met and not judge.best.reverted


def test_a_small_set_that_meets_the_target_is_pruned_at_once(quantized) -> None:
    fp32, model = quantized
    base = base_of(fp32, model)
    full_drop = -OutputError(fp32)(compile_exact(model), list(range(len(SAMPLES))))[0]
    judge, _ = make_judge(fp32, max_drop=full_drop / 8)
    coarse_to_fine(judge, base, [], [], lambda b: rounding_noise(b.model, b.groups, SAMPLES[:2], "CPU"), 0.0)
    phases = [step["phase"] for step in judge.steps]
    assert "segments" not in phases and "bisection" not in phases and judge.best.met
    for group in judge.best.reverted:
        assert not judge(base, judge.best.reverted - {group}, "check", "one back to INT8").met


def default_int8_drop(fp32) -> float:
    """The drop of NNCF's default INT8 of the test net under OutputError: what a target is set against."""
    import nncf

    calibration = calibration_data()
    model = nncf.quantize(fp32, nncf.Dataset([calibration.to_input(i) for i in calibration.ids]), subset_size=8)
    return -OutputError(fp32)(compile_exact(model), list(range(len(SAMPLES))))[0]


def provider(**settings):
    from quantflow.quantizers.accuracy_aware import AccuracyAwareQuantization

    return AccuracyAwareQuantization(AccuracyAwareQuantization.Config(algorithm="accuracy_aware", **settings))


def calibration_data():
    from quantflow.quantizers.base import CalibrationData

    tensors = [np.random.default_rng(i).normal(size=(1, 3, 24, 24)).astype(np.float32) for i in range(8)]
    return CalibrationData(list(range(8)), lambda i: tensors[i])


def test_the_provider_returns_the_best_candidate_compressed_with_a_report_it_can_validate() -> None:
    from quantflow.report.model import Quantization

    fp32 = residual_net()
    scorer = OutputError(fp32)
    validation = ValidationData(list(range(len(SAMPLES))), lambda i: SAMPLES[i], scorer)
    full = default_int8_drop(fp32)
    quantizer = provider(recipes=[], max_drop=full / 8)
    outcome = quantizer.quantize(fp32, calibration_data(), validation)
    details = outcome.details
    Quantization.model_validate({"algorithm": "accuracy_aware", "fake_quantize_nodes": 1, **details})
    assert details["target"]["reached"] and details["target"]["search_drop"] <= full / 8
    assert details["search"]["evaluations"] == len(details["steps"]) == scorer.calls - 1  # one call: the reference
    types = {op.get_type_name() for op in outcome.model.get_ops()}
    weights = [op for op in outcome.model.get_ops() if op.get_type_name() == "Constant"
               and op.get_output_element_type(0).get_type_name() == "i8"]
    assert "FakeQuantize" in types and weights, "the chosen model keeps INT8 parts, weights folded to int8"
    error = -scorer(compile_exact(outcome.model), list(range(len(SAMPLES))))[0]
    assert error == pytest.approx(details["target"]["search_drop"], rel=1e-6)


def test_a_target_only_fp32_meets_is_unreachable_and_the_best_int8_candidate_is_kept() -> None:
    fp32 = residual_net()
    validation = ValidationData(list(range(len(SAMPLES))), lambda i: SAMPLES[i], OutputError(fp32))
    outcome = provider(recipes=[], max_drop=0.0).quantize(fp32, calibration_data(), validation)
    target = outcome.details["target"]
    assert not target["reached"] and target["stop_reason"] == "unreachable" and target["search_drop"] > 0
    assert any(op.get_type_name() == "FakeQuantize" for op in outcome.model.get_ops())
    assert outcome.details["search"]["groups_in_float"] < outcome.details["search"]["groups"]


def test_each_recipe_calibrates_once_with_its_own_settings() -> None:
    fp32 = residual_net()
    quantizer = provider(recipes=["bias_correction", "mixed_preset", "quantile_ranges", "smooth_quant"])
    arguments, _ = quantizer.nncf_arguments(fp32, calibration_data())
    recipes = dict(quantizer._recipes(fp32, arguments))
    assert set(recipes) == {"bias_correction", "mixed_preset", "quantile_ranges"}  # no MatMul: no SmoothQuant
    default = quantizer._calibrate(fp32, arguments, "default")
    for name, calibrate in recipes.items():
        base = calibrate()
        assert base.name == name and len(base.groups) == len(default.groups)
        assert not np.array_equal(outputs(base.model), outputs(default.model)), name
    assert "mixed_preset" not in dict(provider(preset="mixed", recipes=["mixed_preset"])._recipes(fp32, arguments))


def test_nncf_search_settings_name_the_algorithm_they_belong_to() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="settings of NNCF's search; use algorithm: nncf_accuracy_control"):
        provider(max_iterations=3, ranking_subset_size=10)
