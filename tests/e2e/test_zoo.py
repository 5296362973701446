"""`quantflow zoo build` and `zoo verify` on the sample SSD: layout, card, index, verification, tampering, and a
build killed midway that resumes without redoing finished entries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
QUICK = ["--set", "evaluation.speed={latency_runs: 10, throughput_seconds: 0.5}",
         "--set", "quantization.tflite={variants: [dynamic]}"]


def second_config(folder: Path, name: str = "ssd-shapes-copy", annotations: Path | None = None) -> Path:
    """The sample config under another model name, with absolute paths, so it makes a second entry."""
    raw = yaml.safe_load((ROOT / "configs" / "ssd.yml").read_text())
    raw["model"]["name"] = name
    raw["model"]["source"] = str(ROOT / "datasets/shapes/model/saved_model")
    raw["dataset"]["annotations"] = str(annotations or ROOT / "datasets/shapes/val.json")
    raw["dataset"]["images"] = str(ROOT / "datasets/shapes/val")
    raw["decoder"]["anchors"] = str(ROOT / "datasets/shapes/model/anchors.npy")
    raw["calibration"]["images"] = str(ROOT / "datasets/shapes/calib")
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("zoo") / "zoo"
    result = run_cli("zoo", "build", str(ROOT / "configs" / "ssd.yml"), "--zoo", str(folder), *QUICK)
    assert result.returncode == 0, result.stderr + result.stdout
    return folder


def test_layout_card_manifest_and_index(zoo: Path) -> None:
    entry = zoo / "detection" / "ssd-shapes"
    for precision in ("FP32", "FP16", "FP16-INT8"):
        assert (entry / precision / "ssd-shapes.xml").is_file() and (entry / precision / "ssd-shapes.bin").is_file()
    assert [p.name for p in (entry / "tflite").iterdir()] == ["ssd-shapes_dynamic_int8_weights.tflite"]
    manifest = json.loads((entry / "manifest.json").read_text())
    assert {"README.md", "report.json", "FP16-INT8/ssd-shapes.bin"} <= set(manifest["files"])
    assert len(manifest["calibration"]["ids"]) == 300 and manifest["dataset_fingerprint"]
    assert {"openvino", "nncf", "quantflow"} <= set(manifest["versions"]) and manifest["cpu"]["model"]
    sizes = {p: manifest["precisions"][p]["bytes"] for p in ("FP32", "FP16", "FP16-INT8")}
    assert sizes["FP16-INT8"] < sizes["FP16"] < sizes["FP32"]
    fp32_ap = manifest["precisions"]["FP32"]["metrics"]["AP"]
    assert fp32_ap > 0.5 and abs(manifest["precisions"]["FP16"]["metrics"]["AP"] - fp32_ap) < 0.005
    card = (entry / "README.md").read_text()
    assert "| FP16-INT8 |" in card and "| tflite dynamic |" in card and "calibration: 300 samples" in card
    index = json.loads((zoo / "index.json").read_text())
    assert index["schema"] == "quantflow.zoo/1"
    rows = index["rows"]
    assert [(r["model"], r["precision"]) for r in rows] == [
        ("ssd-shapes", p) for p in ("FP32", "FP16", "FP16-INT8", "tflite dynamic")]
    assert "[ssd-shapes](detection/ssd-shapes/README.md)" in (zoo / "index.md").read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert (entry.stat().st_mode & 0o777) == 0o777 & ~umask  # readable by others under the usual 022, as mkdir
    assert manifest["speed_method"]["timed_alone"] is True
    assert "no other entry of the build ran while a model was timed" in card


def test_verify_passes_then_catches_a_tampered_file(zoo: Path, tmp_path: Path) -> None:
    result = run_cli("zoo", "verify", str(zoo))
    assert result.returncode == 0, result.stderr + result.stdout
    weights = zoo / "detection" / "ssd-shapes" / "FP16-INT8" / "ssd-shapes.bin"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:100] + bytes([original[100] ^ 0xFF]) + original[101:])
        result = run_cli("zoo", "verify", str(zoo))
        assert result.returncode == 4
        assert "ssd-shapes/FP16-INT8/ssd-shapes.bin: sha256 differs from manifest.json" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        weights.write_bytes(original)


def test_killed_build_resumes_without_redoing_finished_entries(zoo: Path, tmp_path: Path) -> None:
    configs = [str(ROOT / "configs" / "ssd.yml"), str(second_config(tmp_path))]
    command = [sys.executable, "-m", "quantflow", "zoo", "build", *configs, "--zoo", str(zoo), *QUICK]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    building = zoo / ".building"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(building.glob("ssd-shapes-copy-*/run*")):
        time.sleep(0.5)
    time.sleep(3)
    os.killpg(process.pid, signal.SIGKILL)  # the build and its entry worker, mid-quantization
    process.wait()
    assert not (zoo / "detection" / "ssd-shapes-copy").exists(), "a killed build must leave no entry"
    before = (zoo / "detection" / "ssd-shapes" / "manifest.json").stat().st_mtime_ns

    result = run_cli("zoo", "build", *configs, "--zoo", str(zoo), *QUICK)
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout + result.stderr
    assert "skipped  ssd-shapes " in lines and "built    ssd-shapes-copy " in lines
    assert (zoo / "detection" / "ssd-shapes" / "manifest.json").stat().st_mtime_ns == before
    assert not building.exists()
    assert {r["model"] for r in json.loads((zoo / "index.json").read_text())["rows"]} == {"ssd-shapes",
                                                                                          "ssd-shapes-copy"}


def test_one_failing_config_does_not_stop_the_others(zoo: Path, tmp_path: Path) -> None:
    broken = second_config(tmp_path, "broken", annotations=tmp_path / "missing.json")
    result = run_cli("zoo", "build", str(ROOT / "configs" / "ssd.yml"), str(broken), "--zoo", str(zoo), *QUICK)
    assert result.returncode == 4
    assert "skipped  ssd-shapes " in result.stdout + result.stderr
    assert "broken.yml: dataset.annotations: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_second_build_on_the_same_zoo_is_refused_while_one_runs(zoo: Path) -> None:
    """Two builds into one zoo would clear each other's work: while one holds ZOO/.lock, another stops at once."""
    import fcntl

    before = sorted(p.relative_to(zoo) for p in zoo.rglob("*") if p.name != ".lock")
    with open(zoo / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.truncate(0)
        held.write("pid 12345")
        held.flush()
        result = run_cli("zoo", "build", str(ROOT / "configs" / "ssd.yml"), "--zoo", str(zoo), *QUICK)
    assert result.returncode == 2, result.stderr
    assert f"--zoo {zoo}: another zoo build is running on it (pid 12345)" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.relative_to(zoo) for p in zoo.rglob("*") if p.name != ".lock") == before
    again = run_cli("zoo", "build", str(ROOT / "configs" / "ssd.yml"), "--zoo", str(zoo), *QUICK)
    assert again.returncode == 0 and "skipped  ssd-shapes " in again.stdout + again.stderr  # lock released


def test_embedded_precisions_of_the_pose_entry(tmp_path: Path) -> None:
    """configs/pose.yml embeds its processing: its entry also carries the merged models (raw crops in, keypoint
    coordinates out), each measured on its own files and checked again by verify."""
    zoo = tmp_path / "zoo"
    result = run_cli("zoo", "build", str(ROOT / "configs" / "pose.yml"), "--zoo", str(zoo), *QUICK)
    assert result.returncode == 0, result.stderr + result.stdout
    entry = zoo / "keypoints" / "pose-figures"
    manifest = json.loads((entry / "manifest.json").read_text())
    precisions = manifest["precisions"]
    assert list(precisions) == ["FP32", "FP16", "FP16-INT8", "FP32-embedded", "FP16-INT8-embedded"]
    for merged, plain in (("FP32-embedded", "FP32"), ("FP16-INT8-embedded", "FP16-INT8")):
        assert (entry / merged / "pose-figures.xml").is_file()
        assert abs(precisions[merged]["metrics"]["AP"] - precisions[plain]["metrics"]["AP"]) <= 0.01, merged
    import openvino as ov

    merged = ov.Core().read_model(entry / "FP32-embedded" / "pose-figures.xml")
    assert merged.input(0).get_element_type() == ov.Type.u8 and merged.output(0).get_partial_shape()[2] == 3
    assert "`*-embedded` = the same model with the preprocessing" in (entry / "README.md").read_text()
    verified = run_cli("zoo", "verify", str(zoo))
    assert verified.returncode == 0, verified.stderr + verified.stdout
