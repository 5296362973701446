"""Importers that turn configs of other tools into quantflow configs.

An importer never drops a setting silently: whatever it cannot carry over (or carries over only in spirit) is
returned as one line from `unmapped`, printed as a warning and written at the top of the produced file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from quantflow.core.errors import UserInputError


@dataclass(frozen=True)
class Where:
    """A key path inside a named file, `ssd.yml: models[0].datasets[0]`, for notes and error messages."""

    file: str
    path: str = ""

    def __truediv__(self, key: str | int) -> "Where":
        if isinstance(key, int):
            return Where(self.file, f"{self.path}[{key}]")
        return Where(self.file, f"{self.path}.{key}" if self.path else key)

    def __str__(self) -> str:
        return f"{self.file}: {self.path}" if self.path else self.file


def unmapped(where: Where, value: Any, reason: str) -> str:
    """One line for the list of what an import did not carry over: the key it came from, its value and why."""
    shown = json.dumps(value, default=str, ensure_ascii=False)
    return f"{where} = {shown} — {reason}".replace("\n", " ")


def leftovers(section: dict, handled: set[str], where: Where, reasons: dict[str, str] | None = None) -> list[str]:
    """An `unmapped` line for every key of `section` the importer did not handle; `reasons` says why per key."""
    reasons = reasons or {}
    return [unmapped(where / key, value, reasons.get(key, "not mapped: no quantflow equivalent"))
            for key, value in section.items() if key not in handled]


def required_mapping(parent: dict, key: str, where: Where) -> dict:
    """`parent[key]`, which must be a mapping; bad input names the file and key."""
    value = parent.get(key)
    if isinstance(value, dict):
        return value
    problem = "required key is missing" if key not in parent else f"expected a mapping, got {type(value).__name__}"
    raise UserInputError(f"{where / key}: {problem}")


def required_list(parent: dict, key: str, where: Where) -> list[dict]:
    """`parent[key]`, which must be a non-empty list of mappings (models, launchers, datasets, algorithms)."""
    value = parent.get(key)
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    problem = "required key is missing" if key not in parent else "expected a non-empty list of mappings"
    raise UserInputError(f"{where / key}: {problem}")


def under(root: str | None, path: str) -> str:
    """`path` as the written config must say it: joined to `root` unless it is absolute or home-relative."""
    if root is None or path.startswith("~") or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(root, path))
