"""Name → provider registries, one per pipeline stage, so configs name providers and users can add their own.

A registry serving a package finds its built-ins itself: on first lookup it imports every module of the package
and its subpackages (`quantflow.tasks` holds one folder per task), so a new built-in provider is one new file.
The installed plugins (entry-point group `quantflow.plugins`) are imported right after, so they can replace a
built-in by registering its name again.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from quantflow.core.errors import UserInputError
from quantflow.core.plugins import load_installed_plugins

T = TypeVar("T")
log = logging.getLogger(__name__)


class Registry(Generic[T]):
    """A dict from name to provider with a decorator to fill it and lookups that list what exists."""

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}
        self._modules: dict[str, str] = {}
        self._loaded = package is None

    def register(self, name: str) -> Callable[[T], T]:
        def add(provider: T) -> T:
            module = getattr(provider, "__module__", "?")
            if self.package and not module.startswith(f"{self.package}."):
                self._load()  # built-ins first, so a plugin reusing a built-in's name replaces it, not the reverse
            if name in self._entries:
                log.warning("%s %r registered twice, by %s and by %s; the later one wins", self.kind, name,
                            self._modules[name], module)
            self._entries[name] = provider
            self._modules[name] = module
            return provider

        return add

    def get(self, name: str, where: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UserInputError(f"{where}: unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        """Import the package's public modules (their decorators register the built-ins), then the installed
        plugins; once, and only when a lookup needs it, so importing a registry stays cheap."""
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for module in pkgutil.walk_packages(package.__path__, f"{self.package}.", onerror=_import_builtin):
            if not module.name.rpartition(".")[2].startswith("_"):
                _import_builtin(module.name)
        load_installed_plugins()


def _import_builtin(name: str) -> None:
    """Import one built-in module; failing to is a bug in quantflow, so the error names the module."""
    try:
        importlib.import_module(name)
    except Exception as exc:
        raise ImportError(f"cannot import built-in module {name}: {type(exc).__name__}: {exc}") from exc
