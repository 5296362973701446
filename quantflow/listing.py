"""`quantflow list`: every registered provider with its config keys, read from the providers' own pydantic configs,
as terminal text or as the markdown tables the README's config reference is generated from."""

from __future__ import annotations

import importlib
import inspect
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from quantflow.core.errors import shown
from quantflow.core.plugins import load_config_plugins
from quantflow.core.registry import Registry


@dataclass(frozen=True)
class Kind:
    """One kind of provider: the registry holding it and how a config names one."""

    package: str
    registry: str
    usage: str
    key: str = "type"

    def providers(self) -> Registry:
        """The registry, imported only now: listing one kind need not import the others' packages."""
        return getattr(importlib.import_module(self.package), self.registry)


KINDS = {
    "datasets": Kind("quantflow.core.adapter", "ADAPTERS",
                     "`dataset: {type: NAME, ...}`, and `calibration.dataset` to calibrate on another dataset"),
    "steps": Kind("quantflow.preprocessing", "STEPS",
                  "`preprocessing: [{NAME: {...}}, ...]`, applied in order; `{NAME: value}` sets the first key"),
    "decoders": Kind("quantflow.core.decoder", "DECODERS", "`decoder: {type: NAME, ...}`: raw outputs to predictions"),
    "metrics": Kind("quantflow.core.metric", "METRICS", "`metric: {type: NAME, ...}`, or `metric: NAME`"),
    "quantizers": Kind("quantflow.quantizers", "QUANTIZERS",
                       "`quantization.openvino: {algorithm: NAME, ...}`; default: `default`", key="algorithm"),
}


@dataclass(frozen=True)
class Key:
    """One config key of a provider, as the listing shows it."""

    name: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Provider:
    """One registered provider: its name, the module defining it, its docstring's summary and its keys."""

    name: str
    module: str
    summary: str
    keys: list[Key]


def describe(kind: str) -> list[Provider]:
    """The providers registered under `kind`, by name, each with its keys (nested sections flattened)."""
    registry = KINDS[kind].providers()
    return [_provider(name, registry.get(name, kind), KINDS[kind].key) for name in registry.names()]


def _provider(name: str, provider: type, name_key: str) -> Provider:
    doc = inspect.getdoc(provider) or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    return Provider(name, provider.__module__, summary, list(_keys(provider.Config, skip=name_key)))


def _keys(model: type, prefix: str = "", skip: str = "") -> Iterator[Key]:
    for field_name, field in model.model_fields.items():
        if field_name == skip:
            continue
        if _is_section(field.annotation):
            yield from _keys(field.annotation, f"{prefix}{field_name}.")
            continue
        default = "required" if field.is_required() else _value(field.get_default(call_default_factory=True))
        yield Key(f"{prefix}{field_name}", _type(field.annotation), default, field.description or "")


def _type(annotation: Any) -> str:
    """A field type as a config author reads it: literal choices, `null` for None, [a, b] for fixed tuples."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0])
    if origin is Literal:
        return " | ".join(str(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " | ".join("null" if arg is type(None) else _type(arg) for arg in args)
    if origin is tuple:
        return f"list[{_type(args[0])}]" if args[-1] is Ellipsis else f"[{', '.join(_type(a) for a in args)}]"
    if origin is list:
        return f"list[{_type(args[0])}]"
    if origin is dict:
        return f"{{{_type(args[0])}: {_type(args[1])}}}"
    if _is_section(annotation):
        return "{" + ", ".join(annotation.model_fields) + "}"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _is_section(annotation: Any) -> bool:
    """Whether a type is a nested config section (a pydantic model), told by its fields so that listing does not
    import pydantic before a command needs it."""
    return isinstance(annotation, type) and hasattr(annotation, "model_fields")


def _value(value: Any) -> str:
    """A default as it would be written in YAML: strings bare, None as null, tuples as lists."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def as_text(kinds: list[str]) -> str:
    """Terminal listing: one line per provider, one indented line per key."""
    lines = []
    for kind in kinds:
        lines += [f"{kind}: {KINDS[kind].usage.replace('`', '')}", ""]
        for provider in describe(kind):
            lines.append(f"  {provider.name} ({provider.module}): {provider.summary}")
            for key in provider.keys:
                default = " (required)" if key.default == "required" else f" = {key.default}"
                lines.append(f"    {key.name}: {key.type}{default}" + (f"  {key.description}" if key.description else ""))
            lines.append("")
    return "\n".join(lines)


def as_markdown(kinds: list[str]) -> str:
    """The same as markdown: a heading per kind, and per provider its summary and a table of its keys."""
    lines = []
    for kind in kinds:
        lines += [f"### {kind.capitalize()}", "", f"{KINDS[kind].usage}.", ""]
        for provider in describe(kind):
            lines += [f"**`{provider.name}`** (`{provider.module}`): {_cell(provider.summary)}", ""]
            if not provider.keys:
                lines += ["No keys.", ""]
                continue
            lines += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
            lines += [f"| `{key.name}` | {_cell(key.type)} | {_code(key.default)} | {_cell(key.description)} |"
                      for key in provider.keys]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell (a `|` would end the cell)."""
    return text.replace("|", "\\|")


def _code(default: str) -> str:
    return default if default == "required" else f"`{_cell(default)}`"


def load_plugins_of(path: Path) -> None:
    """Import the plugins a config names without validating the rest, which may still be incomplete."""
    from quantflow.config.loader import parse_yaml, read_config_text

    raw = parse_yaml(read_config_text(path), shown(path))
    load_config_plugins(raw.get("plugins") if isinstance(raw, dict) else None, path.parent.resolve())
