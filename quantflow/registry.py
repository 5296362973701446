"""Name → provider registries, one per pipeline stage, so configs name providers and users can add their own."""

from __future__ import annotations

import logging
from typing import Callable, Generic, TypeVar

from quantflow.errors import UserInputError

T = TypeVar("T")
log = logging.getLogger(__name__)


class Registry(Generic[T]):
    """A dict from name to provider with a decorator to fill it and lookups that list what exists."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(provider: T) -> T:
            if name in self._entries:
                log.warning("%s %r registered twice; the later one wins", self.kind, name)
            self._entries[name] = provider
            return provider

        return add

    def get(self, name: str, where: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UserInputError(f"{where}: unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
