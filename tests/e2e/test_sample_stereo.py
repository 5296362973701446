"""configs/stereo.yml and configs/stereo_motorcycle.yml end to end: EPE, D1 and bad-N for FP32 and INT8, with
disparity and error maps a person can look at."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from quantflow.tasks.stereo.disparity_io import read_pfm
from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, html_parts, quantize_sample

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def stereo_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("stereo") / "run"
    return out, quantize_sample("stereo.yml", out)


def test_stereo_sample_reports_epe_d1_and_bad_n(stereo_run) -> None:
    _, report = stereo_run
    fp32, int8 = report["results"]["FP32"]["metrics"], report["results"]["INT8"]["metrics"]
    for metrics in (fp32, int8):
        assert {"EPE", "D1-all", "bad-0.5", "bad-1", "bad-2", "bad-4", "RMSE"} <= set(metrics)
        assert metrics["bad-0.5"] >= metrics["bad-1"] >= metrics["bad-2"] >= metrics["bad-4"]
    assert fp32["EPE"] < 2.0 and fp32["D1-all"] < 15
    assert int8["EPE"] - fp32["EPE"] < 0.5
    assert report["metric"]["main"] == "EPE" and report["delta"]["EPE"] == pytest.approx(int8["EPE"] - fp32["EPE"])
    assert report["quantization"]["fake_quantize_nodes"] > 5
    assert report["calibration"]["overlap_with_evaluation"] == 0


def test_figures_are_the_pinned_ones(stereo_run) -> None:
    assert_pinned(stereo_run[1], "stereo")


@pytest.mark.parametrize("search", ["accuracy_aware, time_budget: 1", "nncf_accuracy_control, max_iterations: 1"])
def test_accuracy_aware_search_on_epe_reports_epe(tmp_path: Path, search: str) -> None:
    """Both searches maximize, so they are handed −EPE; the steps and the reference in the report are EPE again."""
    report = quantize_sample("stereo.yml", tmp_path / "run", "evaluation.max_images=16", "evaluation.maps=0",
                             f"quantization.openvino={{algorithm: {search}, max_drop: 0.0}}",
                             exit_code=3)  # a drop of 0 is out of reach: the run says so and still writes its report
    quantization, fp32 = report["quantization"], report["results"]["FP32"]["metrics"]["EPE"]
    assert quantization["reference_metric"] == pytest.approx(fp32)  # no test split: the search saw all 16
    assert quantization["steps"] and all(step["metric"] > 0 for step in quantization["steps"])
    for step in quantization["steps"]:
        assert step["drop"] == pytest.approx(step["metric"] - fp32)  # drop = EPE gained
    assert "| EPE | drop |" in (tmp_path / "run" / "report.md").read_text()


def test_stereo_report_shows_disparity_and_error_maps(stereo_run) -> None:
    out, report = stereo_run
    maps = report["pictures"]["entries"]
    assert len(maps) == 3
    for entry in maps:
        assert set(entry["images"]) == {"fp32_disparity", "int8_disparity", "int8_minus_fp32", "int8_error"}
        for path in entry["images"].values():
            image = cv2.imread(str(out / path))
            assert image is not None and image.shape == (240, 320, 3)
    text = (out / "report.md").read_text()
    assert "## Disparity maps" in text and f"]({maps[0]['images']['int8_error']})" in text
    tags, links = html_parts(out / "report.html")
    assert tags["img"] == 12 and all(link.startswith(("data:image/png;base64,", "#")) for link in links)
    page = (out / "report.html").read_text()
    assert len(re.findall(r'<figure><img [^>]+><svg ', page)) == 12, "every map has its colour bar"
    assert page.count("disparity, px") == 6 and page.count("|INT8 − ground truth|, px") == 3


def test_motorcycle_pair_is_evaluated_at_full_resolution(tmp_path: Path) -> None:
    truth = read_pfm(ROOT / "datasets" / "stereo" / "middlebury" / "Motorcycle" / "disp0GT.pfm")
    from skimage.data import stereo_motorcycle

    expected = stereo_motorcycle()[2]
    assert truth.shape == expected.shape == (500, 741)
    np.testing.assert_array_equal(np.isfinite(truth), np.isfinite(expected))
    np.testing.assert_array_equal(truth[np.isfinite(truth)], expected[np.isfinite(expected)])
    report = quantize_sample("stereo_motorcycle.yml", tmp_path / "moto")
    assert_pinned(report, "stereo_motorcycle")
    fp32, int8 = report["results"]["FP32"]["metrics"], report["results"]["INT8"]["metrics"]
    assert 0 < fp32["EPE"] < 10 and 0 < int8["EPE"] < 10
    image = cv2.imread(str(tmp_path / "moto" / report["pictures"]["entries"][0]["images"]["int8_error"]))
    assert image.shape == (500, 741, 3)


def test_report_page_renders_in_a_browser(stereo_run, tmp_path: Path) -> None:
    check_page(stereo_run[0] / "report.html", tmp_path)
