"""Built-in preprocessing steps. Each is a few lines; together they cover what SSD/HRNet-style models expect."""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from quantflow.core.config_base import Finite, ProviderConfig, SizePair
from quantflow.core.errors import UserInputError
from quantflow.preprocessing.base import STEPS, Prepared, Step

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


@STEPS.register("resize")
class Resize(Step):
    """Resize to (height, width); `keep_aspect` letterboxes (scale to fit, then pad); `shorter_side` scales the
    shorter side to that length and keeps the aspect (ImageNet's resize-256-then-crop-224)."""

    class Config(ProviderConfig):
        size: SizePair | None = Field(default=None, description="Target (height, width) in pixels.")
        shorter_side: int | None = Field(
            default=None, gt=0, description="Instead of size: scale so that the shorter side has this length.")
        interpolation: Literal["nearest", "linear", "cubic", "area", "lanczos"] = "linear"
        keep_aspect: bool = Field(default=False, description="Letterbox instead of stretching.")
        pad_position: Literal["center", "top_left"] = "center"
        pad_value: Annotated[float, Finite] = Field(default=0.0, description="Ultralytics letterboxes with 114.")
        stride: int | None = Field(
            default=None, gt=0, description="With keep_aspect: pad only up to a multiple of this (Ultralytics' "
            "rectangular shapes), for models with dynamic height and width.")

        @model_validator(mode="after")
        def _stride_needs_aspect(self) -> "Resize.Config":
            if (self.size is None) == (self.shorter_side is None):
                raise ValueError("give one of size and shorter_side")
            if self.shorter_side and (self.keep_aspect or self.stride):
                raise ValueError("shorter_side keeps the aspect already; keep_aspect and stride go with size")
            if self.stride and not self.keep_aspect:
                raise ValueError("stride needs keep_aspect: true")
            return self

    def apply(self, item: Prepared) -> Prepared:
        in_h, in_w = item.pixels.shape[:2]
        if self.config.shorter_side:
            factor = self.config.shorter_side / min(in_h, in_w)
            out_h, out_w = max(1, round(in_h * factor)), max(1, round(in_w * factor))
        else:
            out_h, out_w = self.config.size
        sy, sx = out_h / in_h, out_w / in_w
        if self.config.keep_aspect:
            sy = sx = min(sy, sx)
        new_h, new_w = max(1, round(in_h * sy)), max(1, round(in_w * sx))
        if self.config.stride:
            stride = self.config.stride
            out_h, out_w = -(-new_h // stride) * stride, -(-new_w // stride) * stride
        pixels = cv2.resize(item.pixels, (new_w, new_h), interpolation=INTERPOLATIONS[self.config.interpolation])
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        top = left = 0
        if (new_h, new_w) != (out_h, out_w):
            if self.config.pad_position == "center":
                top, left = (out_h - new_h) // 2, (out_w - new_w) // 2
            canvas = np.full((out_h, out_w, pixels.shape[2]), self.config.pad_value, dtype=pixels.dtype)
            canvas[top : top + new_h, left : left + new_w] = pixels
            pixels = canvas
        geometry = item.geometry.then((out_h, out_w), (new_h / in_h, new_w / in_w), (top, left))
        return item.with_(pixels=pixels, geometry=geometry)


@STEPS.register("center_crop")
class CenterCrop(Step):
    """Cut the central (height, width) region; an image smaller than that is refused (resize it first)."""

    class Config(ProviderConfig):
        size: SizePair = Field(description="(height, width) of the region kept.")

    def apply(self, item: Prepared) -> Prepared:
        out_h, out_w = self.config.size
        in_h, in_w = item.pixels.shape[:2]
        if in_h < out_h or in_w < out_w:
            raise ValueError(f"center_crop {out_h}x{out_w} is larger than the {in_h}x{in_w} image it gets; "
                             "resize first (e.g. shorter_side)")
        top, left = (in_h - out_h) // 2, (in_w - out_w) // 2
        pixels = item.pixels[top : top + out_h, left : left + out_w]
        return item.with_(pixels=pixels, geometry=item.geometry.then((out_h, out_w), (1.0, 1.0), (-top, -left)))


@STEPS.register("pad")
class Pad(Step):
    """Pad bottom and right up to a multiple of `multiple` (networks with strided layers take any size that
    divides); predictions on the padding are cut away when mapped back."""

    class Config(ProviderConfig):
        multiple: int = Field(gt=0, description="Height and width are padded up to a multiple of this.")
        value: Annotated[float, Finite] = 0.0

    def apply(self, item: Prepared) -> Prepared:
        height, width = item.pixels.shape[:2]
        multiple = self.config.multiple
        padded = (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
        pixels = np.full((*padded, item.pixels.shape[2]), self.config.value, dtype=item.pixels.dtype)
        pixels[:height, :width] = item.pixels
        return item.with_(pixels=pixels, geometry=item.geometry.then(padded, (1.0, 1.0), (0.0, 0.0)))


@STEPS.register("color")
class Color(Step):
    """Channel order the model expects; images are read as BGR."""

    class Config(ProviderConfig):
        order: Literal["rgb", "bgr", "gray"]

    _CONVERSIONS = {
        ("bgr", "rgb"): cv2.COLOR_BGR2RGB,
        ("rgb", "bgr"): cv2.COLOR_RGB2BGR,
        ("bgr", "gray"): cv2.COLOR_BGR2GRAY,
        ("rgb", "gray"): cv2.COLOR_RGB2GRAY,
        ("gray", "rgb"): cv2.COLOR_GRAY2RGB,
        ("gray", "bgr"): cv2.COLOR_GRAY2BGR,
    }

    def apply(self, item: Prepared) -> Prepared:
        if item.color == self.config.order:
            return item
        pixels = cv2.cvtColor(np.ascontiguousarray(item.pixels), self._CONVERSIONS[(item.color, self.config.order)])
        return item.with_(pixels=pixels.reshape(*pixels.shape[:2], -1), color=self.config.order)


@STEPS.register("normalize")
class Normalize(Step):
    """(pixel - mean) / std in float32; scalars or one value per channel in the current channel order."""

    class Config(ProviderConfig):
        mean: Annotated[float | list[float], Finite] = 0.0
        std: Annotated[float | list[float], Finite] = 1.0

        @field_validator("std")
        @classmethod
        def _divides(cls, std: float | list[float]) -> float | list[float]:
            """A zero std makes every input infinite (and the metric meaningless); a negative one flips the image."""
            if any(v <= 0 for v in (std if isinstance(std, list) else [std])):
                raise ValueError(f"expected values > 0, got {std}")
            return std

    def apply(self, item: Prepared) -> Prepared:
        mean = np.asarray(self.config.mean, dtype=np.float32)
        std = np.asarray(self.config.std, dtype=np.float32)
        channels = item.pixels.shape[2]
        for name, value in (("mean", mean), ("std", std)):
            if value.ndim and value.size != channels:
                raise ValueError(f"normalize.{name} has {value.size} values for {channels} channels")
        return item.with_(pixels=(item.pixels.astype(np.float32) - mean) / std)


@STEPS.register("layout")
class Layout(Step):
    """Memory layout of the model input; the batch axis is added when the tensor is finalized."""

    class Config(ProviderConfig):
        order: Literal["nhwc", "nchw"]

    def apply(self, item: Prepared) -> Prepared:
        return item.with_(layout=self.config.order)


ElementType = Literal["float32", "float16", "float64", "uint8", "int8", "uint16", "int16", "uint32", "int32",
                      "int64"]


@STEPS.register("dtype")
class Dtype(Step):
    """Element type of the model input: uint8 for TF OD API graphs, int32 for MoveNet-style pose graphs, any
    integer or float type OpenVINO and LiteRT inputs use. A cast to an integer type that would change values
    (fractions after a normalize step, or values outside the type's range) is refused rather than wrapped."""

    class Config(ProviderConfig):
        name: ElementType

    def apply(self, item: Prepared) -> Prepared:
        target = np.dtype(self.config.name)
        pixels = item.pixels
        if target.kind in "iu" and pixels.size and pixels.dtype.kind in "fiu":
            low, high = float(pixels.min()), float(pixels.max())
            limits = np.iinfo(target)
            if low < limits.min or high > limits.max:
                raise UserInputError(f"preprocessing.dtype: values span [{low:g}, {high:g}], outside {target.name}'s "
                                     f"[{limits.min}, {limits.max}]; change the normalize step or the dtype")
            if pixels.dtype.kind == "f" and not np.array_equal(pixels, np.round(pixels)):
                raise UserInputError(f"preprocessing.dtype: values span [{low:g}, {high:g}] with fractions, which a "
                                     f"cast to {target.name} would cut off; drop or change the normalize step")
        return item.with_(pixels=pixels.astype(target))
