"""Config loading: relative paths, overrides, provider dispatch and error paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quantflow.config import load_config
from quantflow.config.loader import apply_override
from quantflow.core.errors import UserInputError

MINIMAL = {
    "model": {"name": "m", "source": "model/tiny.onnx"},
    "dataset": {"type": "image_folder", "images": "images"},
    "preprocessing": [{"resize": [32, 32]}, "normalize", {"layout": "nchw"}],
    "decoder": {"type": "detection_output"},
    "metric": "coco_ap",
    "output": "runs/m",
}


@pytest.fixture()
def config_dir(tmp_path: Path, tiny_onnx: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tiny.onnx").write_bytes(tiny_onnx.read_bytes())
    (tmp_path / "images").mkdir()
    (tmp_path / "cfg").mkdir()
    return tmp_path


def _write(folder: Path, raw: dict) -> Path:
    path = folder / "cfg" / "c.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _relative(raw: dict) -> dict:
    """MINIMAL with paths relative to the cfg/ folder the file is written into."""
    raw = yaml.safe_load(yaml.safe_dump(raw))
    raw["model"]["source"] = "../" + raw["model"]["source"]
    raw["dataset"]["images"] = "../" + raw["dataset"]["images"]
    raw["output"] = "../" + raw["output"]
    return raw


def test_relative_paths_resolve_against_the_config_folder(config_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir("/")
    config = load_config(_write(config_dir, _relative(MINIMAL)))
    assert config.model.source == (config_dir / "model" / "tiny.onnx").resolve()
    assert config.output == (config_dir / "runs" / "m").resolve()


def test_defaults_and_shorthands(config_dir: Path) -> None:
    config = load_config(_write(config_dir, _relative(MINIMAL)))
    assert [step.type for step in config.preprocessing.steps] == ["resize", "normalize", "layout"]
    assert config.preprocessing.steps[0].size == (32, 32)
    assert config.metric.type == "coco_ap"
    assert config.quantization.openvino.algorithm == "default"
    assert config.calibration.subset_size == 300


def test_overrides_apply_before_validation(config_dir: Path) -> None:
    config = load_config(_write(config_dir, _relative(MINIMAL)),
                         ["calibration.subset_size=16", "preprocessing.2.layout=nhwc", "quantization.openvino.preset=mixed"])
    assert config.calibration.subset_size == 16
    assert config.preprocessing.steps[2].order == "nhwc"
    assert config.quantization.openvino.preset == "mixed"


def test_digest_tracks_content(config_dir: Path) -> None:
    path = _write(config_dir, _relative(MINIMAL))
    assert load_config(path).digest() == load_config(path).digest()
    assert load_config(path).digest() != load_config(path, ["calibration.seed=1"]).digest()
    # provider sections (dataset, steps, decoder, metric, algorithm) count with all their settings
    for change in ("preprocessing.0.resize=[48, 48]", "decoder.output=detections",
                   "quantization.openvino.preset=mixed"):
        assert load_config(path).digest() != load_config(path, [change]).digest(), change


def test_dumped_config_round_trips(config_dir: Path) -> None:
    """Reports and zoo manifests store the dumped config; it must come back as the same config."""
    from quantflow.config import Config

    config = load_config(_write(config_dir, _relative(MINIMAL)), ["quantization.openvino.preset=mixed"])
    dumped = config.model_dump(mode="json")
    assert dumped["preprocessing"]["steps"][0]["size"] == [32, 32] and dumped["decoder"]["type"]
    assert Config.model_validate(dumped, context={"base_dir": config_dir}).model_dump(mode="json") == dumped


def test_frozen_after_validation(config_dir: Path) -> None:
    config = load_config(_write(config_dir, _relative(MINIMAL)))
    with pytest.raises(Exception):
        config.calibration.subset_size = 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.pop("decoder"), "decoder: required key is missing"),
    (lambda r: r["quantization"].update(openvino={"algorithm": "magic"}),
     "quantization.openvino: unknown quantization algorithm 'magic'"),
    (lambda r: r.update(preprocessing=[{"resize": [32, 32], "color": "rgb"}]), "preprocessing.0: expected one step"),
    (lambda r: r.update(preprocessing=[{"blur": 3}]), "unknown preprocessing step 'blur'"),
    (lambda r: r["model"].update(source="pkg://no_such_package_here/model.onnx"), "package not installed"),
    (lambda r: r["model"].update(name="has space"), "model.name:"),
])
def test_errors_carry_key_paths(config_dir: Path, change, message: str) -> None:
    raw = _relative(MINIMAL)
    raw.setdefault("quantization", {})
    change(raw)
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(_write(config_dir, raw))


def test_apply_override_creates_sections_and_parses_yaml() -> None:
    raw: dict = {"a": [{"b": 1}]}
    apply_override(raw, "x.y.z=[1, 2]")
    apply_override(raw, "a.0.b=true")
    assert raw == {"a": [{"b": True}], "x": {"y": {"z": [1, 2]}}}
    with pytest.raises(UserInputError, match="a has no item 3"):
        apply_override(raw, "a.3.b=1")
