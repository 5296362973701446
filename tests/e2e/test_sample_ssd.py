"""The main job on the shipped sample, and accuracy-aware quantization on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openvino as ov
import pytest

from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, html_parts, run_cli

CONFIG = ROOT / "configs" / "ssd.yml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample") / "run"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}")
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "report.json").read_text())


def test_main_job_meets_the_accuracy_bar(default_run) -> None:
    _, report = default_run
    fp32, int8 = report["results"]["FP32"]["metrics"], report["results"]["INT8"]["metrics"]
    assert fp32["AP"] >= 0.5
    assert fp32["AP"] - int8["AP"] <= 0.02
    assert report["delta"]["AP"] == pytest.approx(int8["AP"] - fp32["AP"])
    assert report["calibration"]["overlap_with_evaluation"] == 0
    assert len(report["calibration"]["ids"]) == 300


def test_figures_are_the_pinned_ones(default_run) -> None:
    assert_pinned(default_run[1], "ssd")


def test_int8_ir_is_really_quantized(default_run) -> None:
    out, report = default_run
    model = ov.Core().read_model(out / report["results"]["INT8"]["artifact"]["path"])
    assert sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops()) == \
        report["quantization"]["fake_quantize_nodes"] > 10
    assert report["results"]["INT8"]["artifact"]["bytes"] < 0.6 * report["results"]["FP32"]["artifact"]["bytes"]


def test_report_carries_provenance_and_speed(default_run) -> None:
    out, report = default_run
    assert {"openvino", "nncf", "numpy", "quantflow"} <= {k for k, v in report["versions"].items() if v}
    assert "avx2" in report["cpu"]["isa"]
    assert len(report["config_hash"]) == 64
    for precision in ("FP32", "INT8"):
        speed = report["results"][precision]["speed"]
        assert speed["latency_ms_median"] > 0 and speed["throughput_fps"] > 0
    text = (out / "report.md").read_text()
    assert "| FP32 |" in text and "| INT8 |" in text and "Δ AP" in text


def test_html_report_is_self_contained_with_class_bars_and_pr_curves(default_run) -> None:
    out, report = default_run
    tags, links = html_parts(out / "report.html")
    text = (out / "report.html").read_text()
    assert tags["svg"] == 4  # per-class Δ, PR curves, latency, throughput
    assert len(re.findall(r'<g id="pr-curve-\d+">', text)) == 4  # 2 IoUs × FP32, INT8
    assert len(re.findall(r'<g id="breakdown-(loss|gain)-\d+">', text)) == len(report["results"]["FP32"]["breakdown"])
    assert not [link for link in links if not link.startswith(("data:", "#"))], "nothing may be fetched"
    assert "AP change per class" in text and "Precision-recall" in text and report["config_hash"] in text


def test_report_page_renders_in_a_browser(default_run, tmp_path: Path) -> None:
    check_page(default_run[0] / "report.html", tmp_path)


def test_accuracy_aware_reaches_a_tighter_target_and_reuses_fp32(default_run, tmp_path: Path) -> None:
    """max_drop below what default quantization loses: layers are reverted until the search split holds."""
    _, default = default_run
    default_drop = default["results"]["FP32"]["metrics"]["AP"] - default["results"]["INT8"]["metrics"]["AP"]
    max_drop = max(0.0, default_drop / 3)
    out = tmp_path / "aa"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}",
                     "--set", "evaluation.speed.enabled=false",
                     "--set", f"quantization.openvino={{algorithm: accuracy_aware, max_drop: {max_drop:.5f}, "
                              "test_fraction: 0.3, time_budget: 240}")
    assert result.returncode in (0, 3), result.stderr
    report = json.loads((out / "report.json").read_text())
    q = report["quantization"]
    assert report["fp32_from_cache"] is True and "reusing cached predictions" in " ".join(result.stderr.split())
    assert q["steps"][0]["reverted_group"] == []
    if result.returncode == 0:
        assert q["target"]["reached"] and q["target"]["search_drop"] <= max_drop + 1e-9
        assert q["reverted"], "reaching a tighter target needs layers back in floating point"
    assert set(report["splits"]) == {"search", "test"}
    assert report["splits"]["search"]["images"] + report["splits"]["test"]["images"] == \
        report["dataset"]["images_evaluated"]


def test_tflite_variants_judged_by_the_same_metric(tmp_path: Path) -> None:
    """Every TFLite variant of the sample, evaluated like the OpenVINO models; full int8 keeps its AP."""
    out = tmp_path / "tfl"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}",
                     "--set", "evaluation.speed={latency_runs: 5, warmup: 1, throughput_seconds: 0.5}",
                     "--set", "quantization.tflite={variants: [fp32, dynamic, float16, int8, int16x8]}")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    fp32 = report["results"]["FP32"]["metrics"]["AP"]
    kinds = {name: r["contents"]["kind"] for name, r in report["results"].items() if r["kind"] == "tflite"}
    assert all(report["results"][name]["precision"] == kind for name, kind in kinds.items())
    assert kinds == {"TFLite fp32": "fp32", "TFLite dynamic": "dynamic", "TFLite float16": "float16",
                     "TFLite int8": "int8", "TFLite int16x8": "int16x8"}
    assert report["results"]["TFLite fp32"]["metrics"]["AP"] == pytest.approx(fp32, abs=2e-3)
    assert fp32 - report["results"]["TFLite int8"]["metrics"]["AP"] <= 0.05
    for name in kinds:
        assert (out / report["results"][name]["artifact"]["path"]).is_file()
        assert report["results"][name]["speed"]["latency_ms_median"] > 0
    assert report["tflite"]["mixed_range_outputs"] == []


def test_budget_ends_an_unreachable_search_with_exit_code_3(default_run, tmp_path: Path) -> None:
    """A zero-drop target with a one-second budget: the search stops, the best model is saved, exit code 3."""
    out = tmp_path / "budget"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}",
                     "--set", "evaluation.speed.enabled=false",
                     "--set", "quantization.openvino={algorithm: accuracy_aware, max_drop: 0.0, time_budget: 1, "
                              "ignored_scope: {auto: [detection_head]}}")
    assert result.returncode == 3, result.stderr
    assert "accuracy target not reached (time_budget)" in result.stderr and "Traceback" not in result.stderr
    report = json.loads((out / "report.json").read_text())
    target = report["quantization"]["target"]
    assert target["stop_reason"] == "time_budget" and not target["reached"]
    assert len(report["quantization"]["steps"]) <= 2
    assert (out / "INT8" / "ssd-shapes.xml").is_file()
    assert {op["type"] for op in report["quantization"]["auto_ignored"]} >= {"Reshape"}


def test_a_pass_records_each_image_size_and_streams_the_metric() -> None:
    """What the pass read is kept: original sizes (annotation-free mode reads no image again); and the metric fed
    during the pass equals the metric computed afterwards from the rows."""
    from quantflow.config import load_config
    from quantflow.pipeline.workflow import Run, prepare_model

    config = load_config(CONFIG, ["evaluation.cache_dir=null"])
    run = Run(config)
    model = prepare_model(config, run.stages)
    ids = run.stages.evaluation_ids[:60]
    ground_truth, _ = run.labels()
    predictions, streamed = run.evaluate(model, ids, "pass", ground_truth)
    assert predictions.sizes == {i: run.stages.dataset.load_image(i).shape[:2] for i in ids}
    afterwards = run.stages.metric.evaluate(ground_truth, predictions.rows, ids)
    assert streamed.summary == afterwards.summary and streamed.breakdown == afterwards.breakdown
