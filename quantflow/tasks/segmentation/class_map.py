"""Segmentation outputs: per-class scores [1, C, H, W] / [1, H, W, C] (logits or probabilities, argmax), a
single-channel foreground map (sigmoid or probability, thresholded: classes background / foreground), or a map
of class indices already taken by an in-graph ArgMax. Maps go back to the original image before the argmax
or threshold, so edges are decided at full resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.core.geometry import Geometry


@dataclass(frozen=True)
class ClassMap:
    """One image's decoded output on the model's grid: `values` [H, W, C] scores, [H, W, 1] foreground
    scores compared with `threshold`, or [H, W] class indices."""

    values: np.ndarray
    threshold: float | None = None

    def to_original(self, geometry: Geometry) -> np.ndarray:
        """Class indices [H, W] (uint16) on the original image."""
        if self.values.ndim == 2:
            labels = geometry.map_to_original(self.values.astype(np.uint16), cv2.INTER_NEAREST)
            return labels.astype(np.uint16)
        scores = geometry.map_to_original(np.ascontiguousarray(self.values, dtype=np.float32))
        if self.threshold is not None:
            return (scores.reshape(scores.shape[:2]) >= self.threshold).astype(np.uint16)
        return scores.reshape(*scores.shape[:2], -1).argmax(2).astype(np.uint16)

    def foreground(self, geometry: Geometry) -> np.ndarray:
        """Single-channel maps only: the foreground score on the original image, float32."""
        return geometry.map_to_original(np.ascontiguousarray(self.values[..., 0], dtype=np.float32))


def _channels_first(channels: int, spatial: tuple[int, ...]) -> bool:
    known = [d for d in spatial if d > 0]
    return channels == 1 or (channels > 0 and (not known or channels < min(known)))


def spatial_layout(shape: tuple[int, ...], layout: str, describe: str) -> str:
    """'nchw' or 'nhwc' for a 4-D output; auto takes the axis smaller than height and width as the classes."""
    if layout != "auto":
        return layout
    if _channels_first(shape[1], shape[2:]):
        return "nchw"
    if _channels_first(shape[3], shape[1:3]):
        return "nhwc"
    raise UserInputError(f"decoder.layout: cannot tell the class axis of {describe}; set decoder.layout: nchw or "
                         "nhwc")


@DECODERS.register("class_map")
class ClassMapDecoder(Decoder):
    """Argmax over class scores, a threshold on one foreground channel, or class indices as they come."""

    task = "segmentation"

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Output name; default: the only output.")
        layout: Literal["auto", "nchw", "nhwc"] = Field(
            default="auto", description="Where the class axis is; auto: the axis much smaller than height/width.")
        scores: Literal["auto", "logits", "probabilities"] = Field(
            default="auto", description="One foreground channel: logits (sigmoid) or probabilities; auto: "
            "probabilities when every value is in 0..1.")
        threshold: float = Field(default=0.5, gt=0, lt=1, description="One foreground channel: probability "
                                 "at or above which a pixel is foreground.")

    def bind(self, outputs: list[OutputInfo]) -> None:
        self.logits: bool | None = None
        if self.config.output is None and len(outputs) == 1:
            self.index = 0
        else:
            self.index = find_output(outputs, self.config.output, (1, None, None, None), "the class map",
                                     "decoder.output")
        info = outputs[self.index]
        shape = info.shape
        if len(shape) == 3:
            self.layout, self.count = "labels", None
        elif len(shape) == 4:
            self.layout = spatial_layout(shape, self.config.layout, info.describe())
            channels = shape[1] if self.layout == "nchw" else shape[3]
            self.count = 2 if channels == 1 else (channels if channels > 0 else None)
        else:
            raise UserInputError(f"decoder.output: a class map is [1, C, H, W], [1, H, W, C] or [1, H, W]; model "
                                 f"output is {info.describe()}")

    def class_labels(self) -> range | None:
        return range(self.count) if self.count else None

    def decode(self, outputs: list[np.ndarray]) -> ClassMap:
        values = outputs[self.index][0]
        if self.layout == "labels":
            return ClassMap(values.astype(np.int64))
        values = values.transpose(1, 2, 0) if self.layout == "nchw" else values
        if values.shape[2] != 1:
            return ClassMap(values.astype(np.float32))
        if self.logits is None:  # decided on the first image, so every image and every model reads alike
            kind = self.config.scores
            self.logits = kind == "logits" or (kind == "auto" and bool(values.min() < 0 or values.max() > 1))
        p = self.config.threshold
        return ClassMap(values.astype(np.float32), float(np.log(p / (1 - p))) if self.logits else p)
