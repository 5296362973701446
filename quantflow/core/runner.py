"""The runner contract: what a pass needs from an inference engine (OpenVINO, LiteRT, a user's own)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np


class Runner(Protocol):
    """Runs a loaded model over a stream of inputs, calling back as each result is ready (possibly out of
    order, from another thread); `jobs` is how many inputs it keeps in flight, so readers can stay ahead."""

    @property
    def jobs(self) -> int: ...

    def run(self, inputs: Iterable[tuple[Any, np.ndarray]], on_result: Callable[[Any, list[np.ndarray]], None]) -> None:
        """For each (key, input tensor or tensors), call `on_result(key, outputs)`; returns when all are done."""
        ...
