"""configs/pose.yml end to end: FP32 and INT8 OKS AP, and embedded processing against external processing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openvino as ov
import pytest

from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, html_parts, run_cli

CONFIG = ROOT / "configs" / "pose.yml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pose_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pose") / "run"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}",
                     "--set", "evaluation.speed={latency_runs: 20, throughput_seconds: 1}")
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "report.json").read_text())


def test_pose_sample_meets_the_accuracy_bar(pose_run) -> None:
    _, report = pose_run
    fp32, int8 = report["results"]["FP32"]["metrics"], report["results"]["INT8"]["metrics"]
    assert fp32["AP"] >= 0.5
    assert fp32["AP"] - int8["AP"] <= 0.05
    assert report["dataset"]["samples_evaluated"] > report["dataset"]["images_evaluated"]
    assert report["results"]["FP32"]["breakdown_label"] == ["keypoint", "mean error px"]
    assert report["results"]["FP32"]["breakdown_higher_is_better"] is False  # errors, under a higher-is-better AP
    errors = report["results"]["FP32"]["breakdown"]
    assert list(errors)[:3] == ["nose", "left_eye", "right_eye"] and all(0 < e < 10 for e in errors.values())
    assert report["quantization"]["fake_quantize_nodes"] > 10
    assert report["calibration"]["overlap_with_evaluation"] == 0


def test_figures_are_the_pinned_ones(pose_run) -> None:
    assert_pinned(pose_run[1], "pose")


def test_embedded_processing_agrees_with_external(pose_run) -> None:
    out, report = pose_run
    for precision in ("FP32", "INT8"):
        external, merged = report["results"][precision], report["results"][f"{precision} embedded"]
        assert abs(merged["metrics"]["AP"] - external["metrics"]["AP"]) <= 0.01, precision
        assert merged["agreement"]["keypoint shift px"] < 1.0, precision  # mean over keypoints, original pixels
        assert merged["speed"]["latency_ms_median"] > 0 and merged["external_preprocess_ms"] > 0
        model = ov.Core().read_model(out / merged["artifact"]["path"])
        assert model.inputs[0].get_element_type() == ov.Type.u8
        assert model.inputs[0].get_partial_shape().is_dynamic
        assert list(model.outputs[0].get_partial_shape().to_shape()) == [1, 17, 3]
    text = (out / "report.md").read_text()
    assert "## Embedded vs external processing" in text and "| INT8 embedded |" in text
    tags, _ = html_parts(out / "report.html")
    page = (out / "report.html").read_text()
    assert tags["svg"] == 3  # per-keypoint error FP32 vs INT8, latency, throughput
    assert len(re.findall(r'<g id="breakdown-(FP32|INT8)-\d+">', page)) == 2 * 17
    assert "mean error px per keypoint" in page


def test_embedded_resize_agrees_with_external_on_native_resolution_crops(tmp_path: Path) -> None:
    """Crops at the image's own resolution: the resize runs in cv2 outside and in the graph inside."""
    out = tmp_path / "native"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}", "--set", "dataset.crop_size=null",
                     "--set", "calibration.dataset.crop_size=null", "--set", "evaluation.speed.enabled=false")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["results"]["FP32"]["metrics"]["AP"] >= 0.5
    for precision in ("FP32", "INT8"):
        external, merged = report["results"][precision], report["results"][f"{precision} embedded"]
        assert abs(merged["metrics"]["AP"] - external["metrics"]["AP"]) <= 0.01, precision
        shift = merged["agreement"]["keypoint shift px"]
        assert 0 < shift < 1.0, precision  # a real resize in each: close, not identical


@pytest.mark.parametrize("key", ["dataset", "calibration.dataset"])
def test_bad_keypoint_annotations_stop_the_run(tmp_path: Path, key: str) -> None:
    data = json.loads((ROOT / "datasets" / "pose" / "val.json").read_text())
    data["annotations"][3]["keypoints"] = data["annotations"][3]["keypoints"][:-3]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    out = tmp_path / "run"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"{key}.annotations={broken}",
                     "--set", f"output={out}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    person = data["annotations"][3]["id"]
    assert f"{key}.annotations: broken.json: annotations[3] (id {person}): keypoints has 48 values, expected 51" \
        in result.stderr
    assert not out.exists()


def test_report_page_renders_in_a_browser(pose_run, tmp_path: Path) -> None:
    check_page(pose_run[0] / "report.html", tmp_path)
