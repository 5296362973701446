"""A plugin decoder, loaded from a .py file beside the config, runs the whole quantize flow and the report names it
and the plugin file it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.unit.test_plugins import MY_DECODER, plugin_config

QUICK = ["--set", "evaluation.max_images=20", "--set", "calibration.subset_size=20",
         "--set", "evaluation.speed.enabled=false"]


@pytest.fixture
def my_decoder_config(tmp_path: Path) -> Path:
    (tmp_path / "my_decoder.py").write_text(MY_DECODER)
    return plugin_config(tmp_path, ["my_decoder.py"])


@pytest.mark.slow
def test_quantize_runs_a_plugin_decoder_and_reports_it(my_decoder_config: Path, tmp_path: Path) -> None:
    result = run_cli("quantize", "--config", str(my_decoder_config), *QUICK)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "runs" / "ssd-shapes" / "report.json").read_text())
    assert report["config"]["decoder"]["type"] == "my_decoder"
    assert report["config"]["plugins"] == ["my_decoder.py"]
    assert report["results"]["INT8"]["metrics"]["AP"] > 0
    assert [Path(p["file"]).name for p in report["plugins"]] == ["my_decoder.py"]
    assert len(report["plugins"][0]["sha256"]) == 64
