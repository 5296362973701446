"""Preprocessing: ordered steps that turn a decoded BGR image into the model's input tensor.

The same `Pipeline` feeds calibration and every evaluation, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantflow.core.errors import UserInputError
from quantflow.core.geometry import Geometry
from quantflow.preprocessing.base import STEPS, Prepared, Step

__all__ = ["STEPS", "Geometry", "Pipeline", "Prepared", "Step", "TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """Shape and element type of the tensor a pipeline produces (batch of one)."""

    shape: tuple[int, ...]
    dtype: str
    layout: str


class Pipeline:
    """Applies the configured steps in order and finalizes layout and batch axis.

    For a stereo pair each view goes through the same steps; `pack` then joins them: `channels` concatenates
    (two RGB views → 6 channels, two gray views → 2) and `inputs` keeps one tensor per model input.
    """

    def __init__(self, step_configs: Sequence, pack: str | None = None) -> None:
        self.steps: list[Step] = [STEPS.get(c.type, "preprocessing")(c) for c in step_configs]
        self.pack = pack
        self.spec = self._probe()

    def adopt_input_type(self, declared: str | None) -> bool:
        """When the config names no dtype step, end with a cast to the model's declared input type if the kinds
        allow it: pixels (integers) go to any type, floats to floats; floats into an integer input need an
        explicit dtype step. A cast that would change values is refused when a sample is prepared. Whether a cast
        was added."""
        if not declared or declared == self.spec.dtype or any(step.config.type == "dtype" for step in self.steps):
            return False
        if np.dtype(self.spec.dtype).kind == "f" and np.dtype(declared).kind in "iu":
            return False
        step = STEPS.get("dtype", "preprocessing")
        self.steps.append(step(step.Config(type="dtype", name=declared)))
        self.spec = self._probe()
        return True

    @property
    def inputs(self) -> int:
        """Number of model inputs the pipeline feeds."""
        return 2 if self.pack == "inputs" else 1

    def __call__(self, image, geometry: Geometry | None = None) -> tuple[np.ndarray | tuple, Geometry]:
        """The model input for an image (or a (left, right) pair) and where its pixels came from; `geometry`
        maps the original image to `image` when that is already a crop of it (top-down pose)."""
        if isinstance(image, tuple):
            views = [self._one(view, geometry) for view in image]
            tensors = tuple(tensor for tensor, _ in views)
            if self.pack == "channels":
                return np.concatenate(tensors, axis=3 if self.spec.layout == "nhwc" else 1), views[0][1]
            return tensors, views[0][1]
        return self._one(image, geometry)

    def _one(self, image_bgr: np.ndarray, geometry: Geometry | None) -> tuple[np.ndarray, Geometry]:
        if image_bgr.ndim == 2:
            image_bgr = image_bgr[:, :, None]
        item = Prepared(image_bgr, "bgr" if image_bgr.shape[2] == 3 else "gray", "nhwc",
                        geometry or Geometry.identity(*image_bgr.shape[:2]))
        for step in self.steps:
            item = step.apply(item)
        return _finalize(item), item.geometry

    def _run_blank(self, height: int, width: int) -> Prepared:
        item = Prepared(np.zeros((height, width, 3), dtype=np.uint8), "bgr", "nhwc", Geometry.identity(height, width))
        for index, step in enumerate(self.steps):
            try:
                item = step.apply(item)
            except ValueError as exc:
                raise UserInputError(f"preprocessing.{index}.{step.config.type}: {exc}") from None
        return item

    def _probe(self) -> TensorSpec:
        """Run the steps on blank images of two shapes: catches step conflicts early and tells the output spec,
        with dynamic height and width when the output size follows the image (padding to a multiple, a
        stride-aligned letterbox)."""
        item = self._run_blank(97, 131)
        shape = list(_finalize(item).shape)
        spatial = (1, 2) if item.layout == "nhwc" else (2, 3)
        channel = 3 if item.layout == "nhwc" else 1
        self.variable_size = self._run_blank(251, 67).pixels.shape[:2] != item.pixels.shape[:2]
        if self.variable_size:
            for axis in spatial:
                shape[axis] = -1
        if self.pack == "channels":
            shape[channel] *= 2
        return TensorSpec(tuple(shape), str(item.pixels.dtype), item.layout)


def _finalize(item: Prepared) -> np.ndarray:
    pixels = item.pixels.transpose(2, 0, 1) if item.layout == "nchw" else item.pixels
    return np.ascontiguousarray(pixels[None])
