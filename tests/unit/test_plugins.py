"""Plugins named by a config (`plugins:`) or installed (entry-point group `quantflow.plugins`) register providers
the config can then use; a plugin that cannot be imported is one line naming it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

SHAPES = ROOT / "datasets" / "shapes"
MY_DECODER = '''
from quantflow.core.decoder import DECODERS
from quantflow.tasks.detection.ssd_raw import SsdRaw


@DECODERS.register("my_decoder")
class MyDecoder(SsdRaw):
    """The SSD box coder and NMS under another name."""

    class Config(SsdRaw.Config):
        pass
'''


def plugin_config(folder: Path, plugins: list[str], decoder: str = "my_decoder") -> Path:
    """configs/ssd.yml with absolute paths into the shipped sample, the given plugins and decoder, its run folder
    and FP32 cache in `folder`."""
    raw = yaml.safe_load((ROOT / "configs" / "ssd.yml").read_text())
    raw["plugins"] = plugins
    raw["model"]["source"] = str(SHAPES / "model" / "saved_model")
    raw["dataset"].update(annotations=str(SHAPES / "val.json"), images=str(SHAPES / "val"))
    raw["decoder"].update(type=decoder, anchors=str(SHAPES / "model" / "anchors.npy"))
    raw["calibration"]["images"] = str(SHAPES / "calib")
    raw["evaluation"] = {"cache_dir": str(folder / "cache")}
    raw["output"] = str(folder / "runs" / "ssd-shapes")
    path = folder / "ssd.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def my_decoder_config(tmp_path: Path) -> Path:
    (tmp_path / "my_decoder.py").write_text(MY_DECODER)
    return plugin_config(tmp_path, ["my_decoder.py"])


def test_check_runs_with_a_plugin_decoder(my_decoder_config: Path) -> None:
    result = run_cli("check", "--config", str(my_decoder_config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok {my_decoder_config}: model ssd-shapes")


def test_plugin_keys_are_validated_against_its_own_config(my_decoder_config: Path) -> None:
    result = run_cli("check", "--config", str(my_decoder_config), "--set", "decoder.nms_iuo=0.5")
    assert result.returncode == 2
    assert result.stderr.strip() == "quantflow: error: decoder.nms_iuo: unknown key"


def test_same_file_imported_twice_registers_once(my_decoder_config: Path, tmp_path: Path) -> None:
    code = ("import json\n"
            "from quantflow.config import load_config\n"
            "from quantflow.core.plugins import loaded_plugins\n"
            f"first, second = load_config({str(my_decoder_config)!r}), load_config({str(my_decoder_config)!r})\n"
            "print(json.dumps([first.decoder.type, second.decoder.type, loaded_plugins()]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "registered twice" not in done.stderr
    first, second, plugins = json.loads(done.stdout)
    assert first == second == "my_decoder"
    file = tmp_path / "my_decoder.py"
    assert [(p["file"], p["sha256"]) for p in plugins] == [(str(file), hashlib.sha256(file.read_bytes()).hexdigest())]
    assert plugins[0]["module"].startswith("quantflow_plugin_my_decoder_")


@pytest.mark.parametrize(("plugin", "source", "message"), [
    ("missing.py", None, "plugins[0]: file not found: missing.py"),
    ("bad_syntax.py", "x = 1\ndef broken(:\n", "plugins[0]: cannot import bad_syntax.py: SyntaxError: "),
    ("raises.py", "import math\n\nprint(x)\n",
     "plugins[0]: cannot import raises.py: NameError: name 'x' is not defined (line 3)"),
    ("no_such_plugin_module", None,
     "plugins[0]: cannot import no_such_plugin_module: ModuleNotFoundError: No module named 'no_such_plugin_module'"),
])
def test_a_plugin_that_cannot_be_imported_is_one_line_naming_it(tmp_path: Path, plugin: str, source: str | None,
                                                                  message: str) -> None:
    if source is not None:
        (tmp_path / plugin).write_text(source)
    result = run_cli("check", "--config", str(plugin_config(tmp_path, [plugin], decoder="ssd_raw")))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"quantflow: error: {message}") and len(result.stderr.splitlines()) == 1
    if plugin == "bad_syntax.py":
        assert result.stderr.rstrip().endswith("(line 2)")


def test_plugins_must_be_a_list(tmp_path: Path) -> None:
    result = run_cli("check", "--config", str(plugin_config(tmp_path, [], decoder="ssd_raw")),
                     "--set", "plugins=my_decoder.py")
    assert result.returncode == 2
    assert result.stderr.strip() == ("quantflow: error: plugins: expected a list of module names or .py files, "
                                     "got my_decoder.py")


def test_list_with_config_shows_its_plugin_providers(my_decoder_config: Path) -> None:
    result = run_cli("list", "decoders", "--config", str(my_decoder_config))
    assert result.returncode == 0, result.stderr
    assert "  my_decoder (quantflow_plugin_my_decoder_" in result.stdout
    assert "The SSD box coder and NMS under another name." in result.stdout


def test_installed_entry_point_plugin_is_listed(tmp_path: Path) -> None:
    (tmp_path / "ep_decoders.py").write_text(MY_DECODER.replace('"my_decoder"', '"ep_decoder"'))
    dist_info = tmp_path / "ep_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[quantflow.plugins]\nep = ep_decoders\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "quantflow", "list", "decoders"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "  ep_decoder (ep_decoders): The SSD box coder and NMS under another name." in done.stdout
    assert "  ssd_raw (quantflow.tasks.detection.ssd_raw)" in done.stdout


def test_installed_plugin_that_fails_names_its_entry_point(tmp_path: Path) -> None:
    (tmp_path / "ep_broken.py").write_text("raise RuntimeError('no licence file')\n")
    dist_info = tmp_path / "ep_broken-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-broken\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[quantflow.plugins]\nbroken = ep_broken\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "quantflow", "list", "decoders"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith("quantflow: error: entry point 'broken' of quantflow.plugins: cannot import "
                                  "ep_broken: RuntimeError: no licence file (")
