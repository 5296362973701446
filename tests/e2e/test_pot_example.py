"""examples/pot/ end to end, as its README says to run it from the repository root: `import-pot` of the shipped POT
+ Accuracy Checker pair, `check` and `quantize` on the imported config. The IR is the classification sample's
SavedModel converted to FP32 and AC's preprocessing maps step for step onto configs/classification.yml's, so FP32
scores exactly the sample's pinned figures; INT8 is calibrated on the evaluation images (as POT's AC engine did),
not on the sample's calib folder, so its figures are not the pinned ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import PINS, ROOT, run_cli

EXAMPLE = ROOT / "examples" / "pot"
PINNED = json.loads(PINS.read_text())["configs"]["classification"]


def import_pot(name: str, out: Path) -> Path:
    """`quantflow import-pot examples/pot/NAME -o OUT/imported.yml --data-root .`, run from the repository root."""
    config = out / "imported.yml"
    result = run_cli("import-pot", f"examples/pot/{name}", "-o", str(config), "--data-root", ".")
    assert result.returncode == 0, result.stderr
    return config


def test_the_shipped_files_are_the_samples() -> None:
    """val.txt is what tools/make_pot_example.py writes, and the IR's weights are the sample's FP32 weights."""
    from quantflow.core.provenance import file_sha256

    spec = importlib.util.spec_from_file_location("make_pot_example", ROOT / "tools" / "make_pot_example.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert (EXAMPLE / "val.txt").read_text().splitlines() == tool.labels_lines(ROOT / "datasets" / "classification")
    assert file_sha256(EXAMPLE / "models" / "shapes-classifier.bin") == PINNED["artifacts"]["FP32"]["sha256"]


def test_the_accuracy_aware_pair_imports_and_checks(tmp_path: Path) -> None:
    config = import_pot("shapes_classifier_accuracy_aware.json", tmp_path / "aware")
    assert yaml.safe_load(config.read_text())["quantization"] == {"openvino": {
        "algorithm": "nncf_accuracy_control", "max_drop": 0.005, "drop_type": "absolute", "max_iterations": 10,
        "ranking_subset_size": 100, "preset": "performance", "target_device": "CPU"}}
    checked = run_cli("check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
def test_default_pair_imports_checks_and_quantizes(tmp_path: Path) -> None:
    config = import_pot("shapes_classifier_default.json", tmp_path / "imported")
    text = config.read_text()
    for unmapped in ("metrics[0].reference = 0.9425", "metrics[1] =", "engine.type"):
        assert unmapped in text.split("\nmodel:")[0]
    checked = run_cli("check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    said = checked.stdout
    assert "imported.yml: model shapes-classifier-pot, 400 images to evaluate, 200 images to calibrate, input " \
        "[1, 96, 96, 3] float32" in said, said
    quantized = run_cli("quantize", "--config", str(config))
    assert quantized.returncode == 0, quantized.stderr
    report = json.loads((tmp_path / "runs" / "shapes-classifier-pot" / "report.json").read_text())
    assert report["dataset"]["type"] == "image_labels" and report["dataset"]["images_evaluated"] == 400
    fp32, pinned = report["results"]["FP32"], PINNED["results"]["FP32"]
    assert fp32["metrics"]["top-1"] == pinned["metrics"]["top-1"]
    assert fp32["metrics"] == pytest.approx(pinned["metrics"], rel=1e-12)
    assert fp32["breakdown"] == pytest.approx(pinned["breakdown"], rel=1e-12)
    assert fp32["artifact"]["sha256"] == PINNED["artifacts"]["FP32"]["sha256"]
    assert report["calibration"]["overlap_with_evaluation"] == 200
    assert report["quantization"]["fake_quantize_nodes"] > 0
    assert report["results"]["INT8"]["metrics"]["top-1"] >= pinned["metrics"]["top-1"] - 0.01
