"""The hard sample end to end: a MobileNetV3-CenterNet whose default INT8 loses several AP, and quantflow's
accuracy-aware search, run as the shipped config asks, winning it back to within 1 AP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, run_cli

CONFIG = ROOT / "configs" / "centernet.yml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("centernet") / "default"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}",
                     "--set", "evaluation.speed.enabled=false", "--set", "quantization.openvino={algorithm: default}")
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "report.json").read_text())


def test_default_int8_loses_several_ap(default_run) -> None:
    fp32, int8 = (default_run[1]["results"][k]["metrics"]["AP"] for k in ("FP32", "INT8"))
    assert fp32 >= 0.6 and fp32 - int8 >= 0.03


def test_figures_are_the_pinned_ones(default_run) -> None:
    assert_pinned(default_run[1], "centernet")


def test_the_shipped_search_reaches_its_target(default_run, tmp_path: Path) -> None:
    """max_drop 0.01 on the search split (every evaluated image): reached, with some operations in float, each
    candidate in the report's step table; the terminal shows the search as one line, not a bar per pass."""
    out = tmp_path / "aa"
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={out}",
                     "--set", "evaluation.speed.enabled=false")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    q, fp32 = report["quantization"], report["results"]["FP32"]["metrics"]["AP"]
    assert report["fp32_from_cache"] is True
    assert q["target"]["reached"] and q["target"]["search_drop"] <= 0.01
    assert fp32 - report["results"]["INT8"]["metrics"]["AP"] == pytest.approx(q["target"]["search_drop"], abs=1e-12)
    assert 0 < q["search"]["groups_in_float"] < q["search"]["groups"] and q["reverted"]
    assert q["steps"][0]["phase"] == "default" and q["search"]["evaluations"] == len(q["steps"])
    kept = [step for step in q["steps"] if step["accepted"]]
    assert kept[-1]["drop"] == pytest.approx(q["target"]["search_drop"]) and kept[-1]["met"]
    assert "| phase | candidate |" in (out / "report.md").read_text()
    assert "search: 200 images" not in result.stderr and "Statistics collection" not in result.stdout


def test_report_page_renders_in_a_browser(default_run, tmp_path: Path) -> None:
    check_page(default_run[0] / "report.html", tmp_path)
