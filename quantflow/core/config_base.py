"""Config building blocks shared by the root config and every provider's own config."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from quantflow.core.errors import shown

PathKind = Literal["file", "folder", "any"]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors and values cannot change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(StrictModel):
    """Base of a provider's own config; `type` names the provider in its registry."""

    type: str


class Writes:
    """Marks a path field quantflow writes to; every other path field is something it only reads."""


def _package_path(value: str) -> Path:
    """`pkg://package/file` → that file inside an installed package (models shipped on PyPI); never outside it."""
    import importlib.util

    package, _, inner = value.removeprefix("pkg://").partition("/")
    if not package.isidentifier():
        raise ValueError(f"expected pkg://package/path/inside, got {shown(value)}")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package not installed: {package}")
    root = Path(list(spec.submodule_search_locations)[0]).resolve()
    path = (root / inner).resolve()
    if inner.startswith("/") or not path.is_relative_to(root):
        raise ValueError(f"{shown(value)} points outside the package {package}")
    return path


class CommandLineText(str):
    """A string typed on the command line (`--set`): a relative path in it is relative to the working directory,
    as every command-line path is, not to the config's folder."""


def command_line_values(value: Any) -> Any:
    """`value` with every string in it marked as typed on the command line."""
    if isinstance(value, str):
        return CommandLineText(value)
    if isinstance(value, list):
        return [command_line_values(v) for v in value]
    if isinstance(value, dict):
        return {k: command_line_values(v) for k, v in value.items()}
    return value


def _resolve_path(value: Any, info: ValidationInfo, must_exist: bool, kind: PathKind = "any") -> Path:
    if not isinstance(value, (str, Path)) or not str(value):
        raise ValueError(f"expected a path, got {type(value).__name__} {shown(value)!s}")
    if "\x00" in str(value):
        raise ValueError(f"path contains a NUL character: {shown(value)}")
    path = _package_path(value) if str(value).startswith("pkg://") else Path(value).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() if isinstance(value, CommandLineText) else Path((info.context or {}).get("base_dir", "."))) / path
    path = path.resolve()
    if must_exist and not path.exists():
        raise ValueError(f"file not found: {shown(value)}")
    if kind == "file" and path.exists() and not path.is_file():
        raise ValueError(f"expected a file, got a folder: {shown(value)}")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"expected a folder, got a file: {shown(value)}")
    return path


ExistingPath = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, must_exist=True))]
ExistingFile = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, must_exist=True, kind="file"))]
ExistingFolder = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, True, kind="folder"))]
OutputPath = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, must_exist=False)), Writes()]
OutputFolder = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, False, kind="folder")), Writes()]


def _finite(value: Any) -> Any:
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v) for v in values):
        raise ValueError(f"expected finite numbers, got {value!r}")
    return value


def _pair(names: str):
    """A (height, width)-style pair of positive integers, with a message naming both when it is not one."""

    def check(value: Any) -> Any:
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            raise ValueError(f"expected [{names}] as two positive integers, got {shown(value)}")
        return tuple(value)

    return check


Finite = BeforeValidator(_finite)
SizePair = Annotated[tuple[int, int], BeforeValidator(_pair("height, width"))]


def read_paths(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(dotted key, path) of every path a config section reads (fields not marked `Writes`), nested ones too."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from read_paths(value, f"{key}.")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from read_paths(item, f"{key}.{index}.")
        elif isinstance(value, Path) and not _writes(field.metadata, field.annotation):
            yield key, value


def _writes(metadata: list, annotation: Any) -> bool:
    """Whether a field's type carries the `Writes` mark, also inside `X | None`."""
    return any(isinstance(m, Writes) for m in metadata) or any(
        _writes([], arg) if not isinstance(arg, Writes) else True for arg in get_args(annotation))


def _problem(item: dict, steps_as_list: bool) -> str:
    """One validation problem as `dotted.key.path: message`, naming the value when that helps."""
    path = ".".join(str(p) for p in item["loc"]) or "config"
    if steps_as_list:
        path = path.replace("preprocessing.steps", "preprocessing", 1)
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        message = "unknown key"
    elif item["type"] == "missing":
        message = "required key is missing"
    elif item["type"] in ("literal_error", "enum") or item["type"].endswith(("_type", "_parsing")):
        message += f", got {shown(repr(item['input']))}"
    return f"{path}: {message}"


def format_validation_error(error: ValidationError, steps_as_list: bool = False) -> str:
    """The first problem as one line, and how many more there are with their keys."""
    problems = [_problem(item, steps_as_list) for item in error.errors()]
    if len(problems) == 1:
        return problems[0]
    others = ", ".join(p.partition(":")[0] for p in problems[1:])
    return f"{problems[0]} (and {len(problems) - 1} more: {others})"
