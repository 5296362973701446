"""Bad input: one clear line naming the thing, exit code 2, no traceback, nothing that looks finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, assert_user_error, run_cli


@pytest.fixture()
def person_config(tmp_path: Path, person_images: Path, person_coco: Path) -> Path:
    """A valid config for the real SSDLite on the small person set, written next to copies users could edit."""
    raw = yaml.safe_load((ROOT / "configs" / "coco" / "ssdlite_mobilenet_v2_person.yml").read_text())
    raw["model"]["source"] = raw["model"]["source"]
    raw["dataset"].update(annotations=str(person_coco), images=str(person_images))
    raw["calibration"].update(images=str(person_images), subset_size=3)
    raw["output"] = str(tmp_path / "run")
    path = tmp_path / "person.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_valid_config_checks(person_config: Path) -> None:
    result = run_cli("check", "--config", str(person_config))
    assert result.returncode == 0, result.stderr
    assert "[1, 300, 300, 3] uint8" in result.stdout


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("model:\n  name: x\n  source: [unclosed\n")
    assert_user_error(run_cli("check", "--config", str(path)), "malformed YAML", "line")


def test_missing_config_file(tmp_path: Path) -> None:
    assert_user_error(run_cli("check", "--config", str(tmp_path / "nope.yml")), "--config", "file not found")


@pytest.mark.parametrize(("override", "fragments"), [
    ("model.colour=red", ("model.colour: unknown key",)),
    ("calibration.subset_size=many", ("calibration.subset_size:", "integer")),
    ("dataset.annotations=val.json", ("dataset.annotations: file not found: val.json",)),
    ("model.source=missing.onnx", ("model.source: file not found: missing.onnx",)),
    ("decoder.type=yolo", ("decoder:", "unknown decoder 'yolo'", "ssd_raw")),
    ("preprocessing.0={resize: {size: [300]}}", ("preprocessing.0.resize.size: expected [height, width]",)),
])
def test_config_errors_name_the_key(person_config: Path, override: str, fragments: tuple[str, ...]) -> None:
    assert_user_error(run_cli("check", "--config", str(person_config), "--set", override), *fragments)


def test_annotations_not_coco(person_config: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"items": [1, 2, 3]}))
    result = run_cli("check", "--config", str(person_config), "--set", f"dataset.annotations={bogus}")
    assert_user_error(result, "dataset.annotations", "not a COCO annotation file")


def test_missing_image_file(person_config: Path, person_coco: Path, tmp_path: Path) -> None:
    data = json.loads(person_coco.read_text())
    data["images"][0]["file_name"] = "gone.jpg"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    result = run_cli("check", "--config", str(person_config), "--set", f"dataset.annotations={edited}")
    assert_user_error(result, "dataset.images: file not found: gone.jpg")


def test_model_input_does_not_match_preprocessing(person_config: Path) -> None:
    result = run_cli("check", "--config", str(person_config), "--set", "preprocessing.0.resize.size=[320, 320]")
    assert_user_error(result, "preprocessing: produces", "[1, 320, 320, 3]", "[1, 300, 300, 3]")


def test_model_input_dtype_does_not_match(person_config: Path) -> None:
    result = run_cli("check", "--config", str(person_config), "--set", "preprocessing.2={normalize: {std: 255}}")
    assert_user_error(result, "float32", "u", "dtype step")


def test_decoder_does_not_match_model_outputs(person_config: Path) -> None:
    result = run_cli("check", "--config", str(person_config), "--set", "decoder={type: detection_output}")
    assert_user_error(result, "decoder.output: no output for detections", "detection_boxes")


def test_unsupported_model_file(person_config: Path, tmp_path: Path) -> None:
    weights = tmp_path / "model.caffemodel"
    weights.write_bytes(b"\x80\x02")
    assert_user_error(run_cli("check", "--config", str(person_config), "--set", f"model.source={weights}"),
                      "model.source: unsupported model model.caffemodel")


def test_corrupt_model_file(person_config: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    assert_user_error(run_cli("check", "--config", str(person_config), "--set", f"model.source={broken}"),
                      "model.source: cannot read ONNX broken.onnx")


def test_undecodable_image_leaves_no_run_folder(person_config: Path, person_images: Path, person_coco: Path,
                                                tmp_path: Path) -> None:
    """The image fails during the FP32 pass; the run folder must not exist afterwards, nor any partial one."""
    images = tmp_path / "images"
    images.mkdir()
    for source in person_images.glob("*.jpg"):
        (images / source.name).write_bytes(source.read_bytes())
    (images / "camera.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    result = run_cli("quantize", "--config", str(person_config), "--set", f"dataset.images={images}",
                     "--set", f"calibration.images={person_images}")
    assert_user_error(result, "cannot decode image", "camera.jpg")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".run", "run"))] == []


def test_bad_override_syntax(person_config: Path) -> None:
    assert_user_error(run_cli("check", "--config", str(person_config), "--set", "output"), "--set output",
                      "key.path=value")
