"""Registries import their package's modules themselves, lazily: a built-in provider is one new file, a task one
new folder."""

from __future__ import annotations

import ast
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantflow.core.registry import Registry
from tests.conftest import ROOT

PACKAGES = ("tasks/detection", "tasks/keypoints", "tasks/stereo", "preprocessing", "quantizers",
            "backends/openvino/sources")
PROBE_DECODER = '''
from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder
from quantflow.tasks.detection.detections import Detections


@DECODERS.register("probe_decoder")
class ProbeDecoder(Decoder):
    """Finds nothing: present only to show that a new module is found."""

    class Config(ProviderConfig):
        pass

    def bind(self, outputs) -> None:
        pass

    def decode(self, outputs) -> Detections:
        return Detections.empty()
'''


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture
def new_task_folder() -> Iterator[str]:
    """A new task, written into the real `quantflow/tasks/` as a folder holding one decoder module, and removed
    afterwards, even on failure: a task is a folder, a provider is a file, and nothing else is edited."""
    folder = ROOT / "quantflow" / "tasks" / "zz_probe_task"
    folder.mkdir()
    try:
        (folder / "__init__.py").write_text('"""A task that exists only for a test."""\n')
        (folder / "probe_decoder.py").write_text(PROBE_DECODER)
        yield "quantflow.tasks.zz_probe_task.probe_decoder"
    finally:
        shutil.rmtree(folder)


def test_a_new_task_folder_is_registered(new_task_folder: str) -> None:
    done = _python("from quantflow.core.decoder import DECODERS\n"
                   "provider = DECODERS.get('probe_decoder', 'test')\n"
                   "print(provider.__module__, 'ssd_raw' in DECODERS)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [new_task_folder, "True"]
    assert "registered twice" not in done.stderr


@pytest.mark.parametrize("package", PACKAGES)
def test_package_init_names_no_provider_module(package: str) -> None:
    folder = ROOT / "quantflow" / package
    providers = {p.stem for p in folder.glob("*.py") if ".register(" in p.read_text()}
    imported = set()
    for node in ast.walk(ast.parse((folder / "__init__.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.rpartition(".")[2])
            imported.update(alias.name for alias in node.names)
    assert providers and not providers & imported


PROBE_SOURCE = '''
from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("zz_probe")
class ProbeSource(ModelSource):
    format = "probe format"
    accepted = ".probe"

    def matches(self, path):
        return path.suffix == ".probe"
'''


def test_a_new_model_format_is_one_module(tmp_path: Path) -> None:
    """A model source (a PyTorch loader, say) is one file in backends/openvino/sources/, found by its suffix."""
    module = ROOT / "quantflow" / "backends" / "openvino" / "sources" / "zz_probe.py"
    module.write_text(PROBE_SOURCE)
    try:
        model = tmp_path / "m.probe"
        model.write_text("")
        done = _python("from pathlib import Path\n"
                       "from quantflow.backends.openvino.sources import source_format\n"
                       f"print(source_format(Path({str(model)!r})))")
    finally:
        module.unlink()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "probe format"


def test_importing_a_registry_imports_no_provider_until_a_lookup() -> None:
    done = _python("import sys\n"
                   "import quantflow.config\n"
                   "from quantflow.core.decoder import DECODERS\n"
                   "before = 'quantflow.tasks.detection.ssd_raw' in sys.modules\n"
                   "DECODERS.names()\n"
                   "print(before, 'quantflow.tasks.detection.ssd_raw' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_a_module_that_fails_to_import_is_named(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "widgets_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("")
    (package / "broken.py").write_text("import math\nmath.nope\n")
    (package / "_private.py").write_text("raise RuntimeError('private modules are not imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"^cannot import built-in module widgets_pkg\.broken: AttributeError: "):
        Registry("widget", package="widgets_pkg").names()


def test_twice_registered_name_warns_naming_both_modules(caplog) -> None:
    registry: Registry = Registry("widget")
    first, second = type("A", (), {"__module__": "pkg.one"}), type("B", (), {"__module__": "pkg.two"})
    registry.register("a")(first)
    with caplog.at_level(logging.WARNING):
        registry.register("a")(second)
    assert registry.get("a", "w") is second and list(registry) == ["a"]
    assert "widget 'a' registered twice, by pkg.one and by pkg.two; the later one wins" in caplog.text
