"""YAML text → `Config`: strict YAML (no duplicate keys), `--set` overrides, plugins imported first, and
validation errors as one line naming the key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quantflow.config.schema import Config
from quantflow.core.config_base import command_line_values, format_validation_error
from quantflow.core.errors import UserInputError, shown
from quantflow.core.plugins import load_config_plugins


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML lets the last one win silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                problem = f"key {shown(key)!r} appears twice (first on line {seen[key] + 1})"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, what: str) -> Any:
    """YAML text as data (safe tags only, no duplicate keys); malformed input names `what`, line and column."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserInputError(f"{what}:{where} malformed YAML: {shown(problem)}") from None


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `--set key.path=value` (value parsed as YAML; list items addressed by index)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UserInputError(f"--set {shown(assignment)}: expected key.path=value")
    value = command_line_values(parse_yaml(text, f"--set {shown(key)}"))
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UserInputError(f"--set {shown(key)}: {'.'.join(parts[:depth])} has no item {shown(part)}")
            part = int(part)
        elif not isinstance(node, dict):
            raise UserInputError(f"--set {shown(key)}: {'.'.join(parts[:depth])} is not a mapping")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]


def read_config_text(path: Path) -> str:
    """The config file's text; a missing, unreadable or non-UTF-8 file is the user's to fix."""
    if not path.is_file():
        raise UserInputError(f"--config: {'expected a file, got a folder' if path.is_dir() else 'file not found'}: "
                             f"{shown(path)}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{shown(path)}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                             f"{exc.start}); save the config as UTF-8 YAML") from None
    except OSError as exc:
        raise UserInputError(f"--config: cannot read {shown(path)}: {exc.strerror}") from None


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file, importing its plugins first; relative paths resolve against the
    file's folder."""
    path = Path(path)
    raw = parse_yaml(read_config_text(path), shown(path))
    if not isinstance(raw, dict):
        raise UserInputError(f"{shown(path)}: expected a YAML mapping at the top level")
    for assignment in overrides:
        apply_override(raw, assignment)
    load_config_plugins(raw.get("plugins"), path.parent.resolve())
    try:
        config = Config.model_validate(raw, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        raise UserInputError(format_validation_error(exc, isinstance(raw.get("preprocessing"), list))) from None
    config._file = path.resolve()
    return config


def config_from_dump(settings: dict, base_dir: str | Path) -> Config:
    """A config rebuilt in another process from `model_dump(mode="json")` of a validated one (paths are absolute
    there) and the folder its plugins are relative to."""
    base_dir = Path(base_dir)
    load_config_plugins(settings.get("plugins"), base_dir)
    return Config.model_validate(settings, context={"base_dir": base_dir})
