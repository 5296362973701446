"""Plugins: modules that register providers with the built-ins' decorators (`@DECODERS.register("name")`).

A config names them in `plugins:` (module names, or .py files relative to the config's folder); installed packages
declare them in the entry-point group `quantflow.plugins`. Each is imported once per process and recorded, so a
run's provenance can say which code produced it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from quantflow.core.config_base import CommandLineText
from quantflow.core.errors import UserInputError, shown
from quantflow.core.provenance import file_sha256

ENTRY_POINT_GROUP = "quantflow.plugins"


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin as provenance names it: the module imported, its file and the file's sha256."""

    module: str
    file: str | None
    sha256: str | None


_loaded: dict[str, LoadedPlugin] = {}
_installed_loaded = False


def loaded_plugins() -> list[dict[str, str | None]]:
    """Every plugin imported in this process, in import order (module, file, sha256), for the run's provenance."""
    return [asdict(plugin) for plugin in _loaded.values()]


def load_config_plugins(entries: Any, base_dir: Path) -> None:
    """Import the plugins a config's `plugins:` names, before the rest of it is validated, so its provider
    sections validate against the plugins' own configs."""
    if entries is None:
        return
    if not isinstance(entries, list) or not all(isinstance(entry, str) and entry for entry in entries):
        raise UserInputError(f"plugins: expected a list of module names or .py files, got {shown(entries)}")
    for index, entry in enumerate(entries):
        if entry.endswith(".py"):
            _load_file(entry, base_dir, f"plugins[{index}]")
        else:
            _load_module(entry, f"plugins[{index}]")


def load_installed_plugins() -> None:
    """Import the modules installed packages declare under `quantflow.plugins`, once per process."""
    from importlib.metadata import entry_points  # reads every installed package's metadata: only when needed

    global _installed_loaded
    if _installed_loaded:
        return
    _installed_loaded = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        _load_module(point.module, f"entry point {point.name!r} of {ENTRY_POINT_GROUP}")


def _load_module(name: str, where: str) -> None:
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        raise UserInputError(f"{where}: cannot import {shown(name)}: {_cause(exc)}") from None
    _record(module)


def _load_file(entry: str, base_dir: Path, where: str) -> None:
    """Import a .py file under a name unique to its path, so two plugins may share a file name and importing
    the same file again (several configs in one process) registers nothing twice."""
    base = Path.cwd() if isinstance(entry, CommandLineText) else base_dir  # from `--set`: the working directory
    path = (base / Path(entry).expanduser()).resolve()
    if not path.is_file():
        raise UserInputError(f"{where}: file not found: {shown(entry)}")
    stem = re.sub(r"\W", "_", path.stem)
    name = f"quantflow_plugin_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in _loaded:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserInputError(f"{where}: cannot import {shown(entry)}: {_cause(exc, path)}") from None
    _record(module)


def _record(module: ModuleType) -> None:
    file = Path(module.__file__) if getattr(module, "__file__", None) else None
    digest = file_sha256(file) if file and file.is_file() else None
    _loaded.setdefault(module.__name__, LoadedPlugin(module.__name__, str(file) if file else None, digest))


def _cause(exc: Exception, file: Path | None = None) -> str:
    """`Type: message (line N)`: for a file plugin the last line of that file the error passed through, for a
    module plugin the innermost module being imported when it arose (often one the plugin imports)."""
    if isinstance(exc, SyntaxError):
        message, places = exc.msg, [(exc.filename, exc.lineno, "<module>")]
    else:
        message = str(exc)
        places = [(frame.filename, frame.lineno, frame.name) for frame in traceback.extract_tb(exc.__traceback__)]
    if file:
        lines = [line for name, line, _ in places if name and Path(name) == file]
        where = f" (line {lines[-1]})" if lines else ""
    else:
        bodies = [(name, line) for name, line, code in places if code == "<module>"]
        where = f" ({shown(bodies[-1][0])}, line {bodies[-1][1]})" if bodies else ""
    return f"{type(exc).__name__}: {shown(message)}{where}" if message else f"{type(exc).__name__}{where}"
