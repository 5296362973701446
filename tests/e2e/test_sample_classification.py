"""configs/classification.yml end to end: top-1 / top-5 for OpenVINO FP32 / INT8 and the TFLite variants, the
report's list of images whose top-1 INT8 changes (counted again here from the saved IRs), the same figures from
the ILSVRC labels-file layout, and annotation-free mode."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, quantize_sample, run_cli

pytestmark = pytest.mark.slow
DATA = ROOT / "datasets" / "classification"
NAMES = (DATA / "classes.txt").read_text().split()



@pytest.fixture(scope="module")
def classification_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("classification") / "run"
    return out, quantize_sample("classification.yml", out)


def test_every_variant_is_scored_with_top1_and_top5(classification_run) -> None:
    _, report = classification_run
    assert set(report["results"]) == {"FP32", "INT8", "TFLite fp32", "TFLite dynamic", "TFLite float16",
                                      "TFLite int8"}
    fp32 = report["results"]["FP32"]
    assert fp32["metrics"]["top-1"] >= 0.9 and fp32["metrics"]["top-5"] >= fp32["metrics"]["top-1"]
    assert set(fp32["breakdown"]) == set(NAMES) and fp32["breakdown_label"] == ["class", "top-1"]
    assert report["results"]["TFLite fp32"]["metrics"] == pytest.approx(fp32["metrics"], abs=0.003)
    assert report["dataset"]["images_evaluated"] == 400
    assert_pinned(report, "classification")


def preprocess(path: Path) -> np.ndarray:
    """Shorter side 110, centre 96 crop, RGB 0..1: written out here, independent of quantflow's steps."""
    image = cv2.imread(str(path))
    height, width = image.shape[:2]
    factor = 110 / min(height, width)
    image = cv2.resize(image, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_LINEAR)
    top, left = (image.shape[0] - 96) // 2, (image.shape[1] - 96) // 2
    return (image[top:top + 96, left:left + 96, ::-1].astype(np.float32) / 255)[None]


def test_changed_images_are_the_ones_whose_argmax_moves(classification_run) -> None:
    import openvino as ov

    out, report = classification_run
    core = ov.Core()
    models = {p: core.compile_model(out / p / "shapes-classifier.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
              for p in ("FP32", "INT8")}
    changed = []
    for name in NAMES:
        for path in sorted((DATA / "val" / name).glob("*.jpg")):
            tensor = preprocess(path)
            tops = {p: int(np.argmax(m(tensor)[0][0, 1:])) for p, m in models.items()}
            if tops["FP32"] != tops["INT8"]:
                changed.append((f"{name}/{path.name}", name, NAMES[tops["FP32"]], NAMES[tops["INT8"]]))
    changes = report["changes"]
    assert changes["total"] == len(changed) and changes["title"] == "Top-1 changes"
    listed = [(c["sample"], c["reference"], c["FP32"].split(" (")[0], c["INT8"].split(" (")[0])
              for c in changes["entries"]]
    assert listed == changed[: len(listed)]
    if changed:
        assert "## Top-1 changes" in (out / "report.md").read_text()


def test_labels_file_layout_and_annotation_free_mode(classification_run, tmp_path: Path) -> None:
    """The val set as one folder + `file label` lines gives the folder layout's figures; without labels, FP32
    scores 1.0 against itself and INT8 scores its agreement with FP32."""
    _, report = classification_run
    images = tmp_path / "images"
    images.mkdir()
    lines = []
    for index, name in enumerate(NAMES):
        for path in sorted((DATA / "val" / name).glob("*.jpg")):
            (images / f"{name}_{path.name}").symlink_to(path)
            lines.append(f"{name}_{path.name} {name}")
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    dataset = (f"dataset={{type: image_labels, images: {images}, labels: {tmp_path / 'val.txt'}, "
               f"classes: {DATA / 'classes.txt'}}}")
    fast = ("quantization.tflite=null", "evaluation.speed.enabled=false")
    listed = quantize_sample("classification.yml", tmp_path / "listed", dataset, *fast)
    for precision in ("FP32", "INT8"):
        assert listed["results"][precision]["metrics"] == pytest.approx(report["results"][precision]["metrics"],
                                                                        rel=1e-12)
    free = quantize_sample("classification.yml", tmp_path / "free",
                           f"dataset={{type: image_labels, images: {images}, classes: {DATA / 'classes.txt'}}}", *fast)
    assert free["dataset"]["reference"].startswith("FP32 predictions")
    assert free["results"]["FP32"]["metrics"]["top-1"] == 1.0
    agreement = 1 - free["changes"]["total"] / 400
    assert free["results"]["INT8"]["metrics"]["top-1"] == pytest.approx(agreement)


def test_nncf_search_ranks_by_the_per_image_margin(tmp_path: Path) -> None:
    """NNCF's accuracy control ranks quantizers by per-image scores: here the margin, a number per image."""
    result = run_cli("quantize", "--config", str(ROOT / "configs" / "classification.yml"), "--set",
                     f"output={tmp_path / 'run'}", "--set", "evaluation.max_images=80", "--set", "evaluation.maps=0",
                     "--set", "quantization.tflite=null", "--set", "evaluation.speed.enabled=false", "--set",
                     "quantization.openvino={algorithm: nncf_accuracy_control, max_drop: 0.0, max_iterations: 1}")
    assert result.returncode in (0, 3), result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["quantization"]["reference_metric"] == report["results"]["FP32"]["metrics"]["top-1"]


def test_report_page_renders_in_a_browser(classification_run, tmp_path: Path) -> None:
    check_page(classification_run[0] / "report.html", tmp_path)
