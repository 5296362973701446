"""The preprocessing step interface and its registry."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from quantflow.core.geometry import Geometry
from quantflow.core.registry import Registry

STEPS: Registry = Registry("preprocessing step", package="quantflow.preprocessing")


@dataclass(frozen=True)
class Prepared:
    """An image on its way to the model: pixels (H, W, C), channel order, target layout and geometry."""

    pixels: np.ndarray
    color: str
    layout: str
    geometry: Geometry

    def with_(self, **changes) -> "Prepared":
        return replace(self, **changes)


class Step:
    """One preprocessing step; subclasses declare `Config` and implement `apply`."""

    Config: type

    def __init__(self, config) -> None:
        self.config = config

    def apply(self, item: Prepared) -> Prepared:
        raise NotImplementedError
