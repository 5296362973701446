"""Stereo decoder: the model's disparity map, mapped back to the original image grid and disparity scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.core.geometry import Geometry


@dataclass(frozen=True)
class Disparity:
    """disparity: [H, W] float, in pixels of the model output grid (which may be coarser than the input)."""

    disparity: np.ndarray


def disparity_to_original(disparity: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Resample a disparity map from the model's grid to the original image and rescale its values.

    Disparity is a horizontal distance, so it scales with the horizontal factor only: ×(input width / output
    width) to reach model-input pixels, then ÷ the preprocessing's horizontal scale. Padding is cut away.
    """
    to_input_x = geometry.size[1] / disparity.shape[1]
    return geometry.map_to_original(disparity.astype(np.float32)) * (to_input_x / geometry.scale[1])


@DECODERS.register("disparity")
class DisparityDecoder(Decoder):
    """Disparity networks (HITNet, RAFT-Stereo, PSMNet exports): one map [1,H,W], [1,H,W,1] or [1,1,H,W]."""

    task = "stereo"

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Disparity output name; default: the only output.")
        scale: float = Field(default=1.0, description="Multiplier to pixels (e.g. -1 for negative-disparity nets).")

    def bind(self, outputs: list[OutputInfo]) -> None:
        if self.config.output is None and len(outputs) == 1:
            self.index = 0
        else:
            self.index = find_output(outputs, self.config.output, (1, None, None, None), "disparity",
                                     "decoder.output")
        shape = outputs[self.index].shape
        if shape and sum(d != 1 for d in shape) > 2:
            raise UserInputError(f"decoder.output: a disparity map has one channel, model output is "
                                 f"{outputs[self.index].describe()}")

    def decode(self, outputs: list[np.ndarray]) -> Disparity:
        disparity = np.squeeze(outputs[self.index])
        return Disparity(disparity.astype(np.float32) * self.config.scale)
