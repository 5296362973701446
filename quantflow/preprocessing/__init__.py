"""Preprocessing: ordered steps that turn a decoded BGR image into the model's input tensor.

The same `Pipeline` feeds calibration and every evaluation, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantflow.errors import UserInputError
from quantflow.preprocessing import steps as _builtin_steps  # noqa: F401  (registers the built-ins)
from quantflow.preprocessing.base import STEPS, Prepared, Step
from quantflow.preprocessing.geometry import Geometry

__all__ = ["STEPS", "Geometry", "Pipeline", "Prepared", "Step", "TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """Shape and element type of the tensor a pipeline produces (batch of one)."""

    shape: tuple[int, ...]
    dtype: str
    layout: str


class Pipeline:
    """Applies the configured steps in order and finalizes layout and batch axis."""

    def __init__(self, step_configs: Sequence) -> None:
        self.steps: list[Step] = [STEPS.get(c.type, "preprocessing")(c) for c in step_configs]
        self.spec = self._probe()

    def __call__(self, image_bgr: np.ndarray, geometry: Geometry | None = None) -> tuple[np.ndarray, Geometry]:
        """The model input for an image and where its pixels came from; `geometry` maps the original image to
        `image_bgr` when that is already a crop of it (top-down pose)."""
        if image_bgr.ndim == 2:
            image_bgr = image_bgr[:, :, None]
        item = Prepared(image_bgr, "bgr" if image_bgr.shape[2] == 3 else "gray", "nhwc",
                        geometry or Geometry.identity(*image_bgr.shape[:2]))
        for step in self.steps:
            item = step.apply(item)
        return _finalize(item), item.geometry

    def _probe(self) -> TensorSpec:
        """Run the steps on a blank image once: catches step conflicts early and tells the output spec."""
        blank = np.zeros((97, 131, 3), dtype=np.uint8)
        item = Prepared(blank, "bgr", "nhwc", Geometry.identity(97, 131))
        for index, step in enumerate(self.steps):
            try:
                item = step.apply(item)
            except ValueError as exc:
                raise UserInputError(f"preprocessing.{index}.{step.config.type}: {exc}") from None
        tensor = _finalize(item)
        resized = any(s.config.type == "resize" for s in self.steps)
        shape = tensor.shape if resized else tuple(-1 if d in (97, 131) else d for d in tensor.shape)
        return TensorSpec(tuple(shape), str(tensor.dtype), item.layout)


def _finalize(item: Prepared) -> np.ndarray:
    pixels = item.pixels.transpose(2, 0, 1) if item.layout == "nchw" else item.pixels
    return np.ascontiguousarray(pixels[None])
