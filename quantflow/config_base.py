"""Config building blocks shared by the root config and every provider's own config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors and values cannot change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(StrictModel):
    """Base of a provider's own config; `type` names the provider in its registry."""

    type: str


def _package_path(value: str) -> Path:
    """`pkg://package/file` → that file inside an installed package (models shipped on PyPI)."""
    import importlib.util

    package, _, inner = value.removeprefix("pkg://").partition("/")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package not installed: {package}")
    return Path(list(spec.submodule_search_locations)[0]) / inner


def _resolve_path(value: Any, info: ValidationInfo, must_exist: bool) -> Path:
    if not isinstance(value, (str, Path)):
        raise ValueError(f"expected a path, got {type(value).__name__}")
    path = _package_path(value) if str(value).startswith("pkg://") else Path(value).expanduser()
    if not path.is_absolute():
        path = Path((info.context or {}).get("base_dir", ".")) / path
    if must_exist and not path.exists():
        raise ValueError(f"file not found: {value}")
    return path.resolve()


ExistingPath = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, must_exist=True))]
OutputPath = Annotated[Path, BeforeValidator(lambda v, info: _resolve_path(v, info, must_exist=False))]
