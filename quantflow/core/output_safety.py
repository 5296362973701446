"""Checks run before any work starts, so quantflow never replaces or deletes what it did not write.

An output (run folder, zoo folder, imported config) is refused when it is or holds one of the run's inputs, when
it lies inside an input folder, when it lies under a file or cannot be created, and when it exists but is not
something quantflow wrote. quantflow recognises its own outputs by a marker: `report.json` with
`"schema": "quantflow.run/N"` in a run folder, `index.json` with `"schema": "quantflow.zoo/1"` in a zoo, the
header line of an imported config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from quantflow.core.errors import UserInputError, shown

RUN_SCHEMA = "quantflow.run/2"
RUN_SCHEMAS = ("quantflow.run/1", RUN_SCHEMA)  # every version a run folder of quantflow's may carry
ZOO_SCHEMA = "quantflow.zoo/1"
IMPORT_HEADER = "# Imported by `quantflow import-pot`"

RUN_EXPECTED = "a new or empty folder, or an earlier quantflow run folder"
ZOO_EXPECTED = "a new or empty folder, or a zoo quantflow built"
IMPORT_EXPECTED = "a new file, or a config quantflow import-pot wrote"


def check_run_output(output: Path, inputs: dict[str, Path]) -> bool:
    """Refuse a run folder (`output`, resolved) that would replace, hold or sit inside one of the run's `inputs`
    (key → path), or replace something foreign; True when it replaces an earlier run folder."""
    check_not_over_inputs("output", output, inputs.items(), RUN_EXPECTED)
    replaces = check_existing_folder("output", output, is_run_folder, "no report.json of a quantflow run",
                                     RUN_EXPECTED)
    check_creatable("output", output, RUN_EXPECTED)
    return replaces


def check_zoo_output(zoo: Path, inputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse a zoo folder that would be, hold or sit inside an input, or that is a foreign folder."""
    check_not_over_inputs("--zoo", zoo, inputs, ZOO_EXPECTED)
    check_existing_folder("--zoo", zoo, is_zoo, "no index.json or entries of a quantflow zoo", ZOO_EXPECTED)
    check_creatable("--zoo", zoo, ZOO_EXPECTED)


def check_import_output(output: Path, inputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse an imported config that would overwrite its own sources, a folder, or a file quantflow did not
    write."""
    output = output.resolve()
    check_not_over_inputs("-o", output, inputs, IMPORT_EXPECTED)
    if output.is_dir():
        raise UserInputError(f"-o {shown(output)}: is a folder; expected {IMPORT_EXPECTED}")
    if output.exists() and not is_imported_config(output):
        raise UserInputError(f"-o {shown(output)}: exists and quantflow import-pot did not write it (no import "
                             f"header on its first line); expected {IMPORT_EXPECTED}")
    check_creatable("-o", output, IMPORT_EXPECTED)


def check_not_over_inputs(key: str, output: Path, inputs: Iterable[tuple[str, Path]], expected: str) -> None:
    """The output (an absolute, resolved path) must not be an input, contain one (so neither the config's
    folder), or lie inside an input folder. Lying inside the config file's folder is fine: `runs/` beside the
    config is the usual layout."""
    for name, path in inputs:
        path = path.resolve()
        if _same(output, path):
            raise UserInputError(f"{key} {shown(output)}: is the input {name}; expected {expected}")
        if path.is_relative_to(output):
            what = "is the folder of" if output == path.parent else "contains"
            raise UserInputError(f"{key} {shown(output)}: {what} the input {name} {shown(path)}; expected {expected}")
        if path.is_dir() and output.is_relative_to(path):
            raise UserInputError(f"{key} {shown(output)}: lies inside the input folder {name} {shown(path)}; "
                                 f"expected {expected}")


def check_existing_folder(key: str, output: Path, ours: Callable[[Path], bool], missing: str,
                          expected: str) -> bool:
    """Whether `output` is an existing folder quantflow wrote (so it may be replaced or updated); refuse a file
    and a non-empty folder without quantflow's marker (`missing` says which marker)."""
    if not os.path.lexists(output):
        return False
    if not output.is_dir():
        raise UserInputError(f"{key} {shown(output)}: is a file; expected {expected}")
    if ours(output):
        return True
    if any(output.iterdir()):
        raise UserInputError(f"{key} {shown(output)}: is a folder quantflow did not write ({missing}); "
                             f"expected {expected}")
    return False


def check_creatable(key: str, output: Path, expected: str) -> None:
    """The nearest existing parent of `output` must be a writable folder, so the run fails now, not at the end."""
    parent = output.parent
    while not os.path.lexists(parent):
        parent = parent.parent
    if not parent.is_dir():
        raise UserInputError(f"{key} {shown(output)}: lies under the file {shown(parent)}; expected {expected}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"{key} {shown(output)}: cannot be created: {shown(parent)} is not writable")


def is_run_folder(folder: Path) -> bool:
    """A run folder quantflow wrote: report.json with the run schema, or (earlier versions) with both
    `config_hash` and `versions.quantflow`."""
    report = _json_mapping(folder / "report.json")
    if report.get("schema") in RUN_SCHEMAS:
        return True
    return "config_hash" in report and isinstance(report.get("versions"), dict) and "quantflow" in report["versions"]


def is_zoo(folder: Path) -> bool:
    """A zoo quantflow built: index.json with the zoo schema, entries with a manifest.json, or only what an
    interrupted first build leaves (`.lock`, `.building`)."""
    if _json_mapping(folder / "index.json").get("schema") == ZOO_SCHEMA:
        return True
    if any(folder.glob("*/*/manifest.json")):
        return True
    names = {child.name for child in folder.iterdir()}
    return bool(names) and names <= {".lock", ".building"}


def is_imported_config(path: Path) -> bool:
    """A config `quantflow import-pot` wrote: its first line is the header `render` writes."""
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            return stream.readline().startswith(IMPORT_HEADER)
    except OSError:
        return False


def _json_mapping(path: Path) -> dict:
    """A JSON file's top-level mapping, or {} when it is missing, unreadable or something else."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _same(a: Path, b: Path) -> bool:
    """Same path, or two names of one file (hard link, case-insensitive file system)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
