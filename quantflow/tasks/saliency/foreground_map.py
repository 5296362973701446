"""Salient-object outputs (U²-Net, BASNet, matting nets): one foreground map [1, 1, H, W], [1, H, W, 1] or
[1, H, W], as probabilities or logits. U²-Net exports several side outputs (d0 fused, d1 .. d6): name the one
to score. U²-Net's own test script rescales each map to its min..max (`normalize: min_max`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.core.geometry import Geometry


@dataclass(frozen=True)
class ForegroundMap:
    """Foreground probability [H, W] in 0..1 on the model's output grid."""

    values: np.ndarray

    def to_original(self, geometry: Geometry) -> np.ndarray:
        return np.clip(geometry.map_to_original(self.values), 0.0, 1.0)


@DECODERS.register("foreground_map")
class ForegroundMapDecoder(Decoder):
    """The chosen output as a foreground probability map, resized back to each image when scored."""

    task = "saliency"

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Output name (U²-Net: d0); default: the only output.")
        scores: Literal["probabilities", "logits"] = Field(default="probabilities",
                                                           description="logits get a sigmoid.")
        normalize: Literal["none", "min_max"] = Field(
            default="none", description="min_max: rescale each map to 0..1 (U²-Net's normPRED).")

    def bind(self, outputs: list[OutputInfo]) -> None:
        if self.config.output is None and len(outputs) == 1:
            self.index = 0
        else:
            self.index = find_output(outputs, self.config.output, (1, None, None, None), "the foreground map",
                                     "decoder.output")
        shape = outputs[self.index].shape
        if len(shape) not in (3, 4) or sum(d != 1 for d in shape) > 2:
            raise UserInputError(f"decoder.output: a foreground map has one channel ([1, 1, H, W], [1, H, W, 1] or "
                                 f"[1, H, W]), model output is {outputs[self.index].describe()}")

    def decode(self, outputs: list[np.ndarray]) -> ForegroundMap:
        values = outputs[self.index][0]
        if values.ndim == 3:  # [1, H, W] (channels first) or [H, W, 1]
            values = values[0] if values.shape[0] == 1 else values[..., 0]
        values = values.astype(np.float32)
        if self.config.scores == "logits":
            values = 1.0 / (1.0 + np.exp(-values))
        if self.config.normalize == "min_max":
            low, high = float(values.min()), float(values.max())
            values = (values - low) / (high - low) if high > low else np.zeros_like(values)
        return ForegroundMap(values)
