"""Pose decoders: heatmaps [N,K,H,W] → keypoints (argmax with sub-pixel refinement), or coordinates as is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.tasks.keypoints.heatmap_argmax import heatmap_argmax


@dataclass(frozen=True)
class Keypoints:
    """Keypoints of the people in one sample (one for a top-down crop).

    points: [P, K, 2] float (x, y) normalized to the model input, 0..1.
    confidences: [P, K] float (the heatmap maximum, or the model's own score).
    """

    points: np.ndarray
    confidences: np.ndarray


def heatmap_peaks(heatmaps: np.ndarray, refine: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in heatmap pixels and the peak value of each [K, H, W] heatmap.

    `quarter`: HRNet's shift of a quarter pixel toward the higher neighbour; `dark`: DARK's Taylor expansion
    of the log of the Gaussian-smoothed heatmap (Zhang et al., CVPR 2020); `none`: the integer argmax.
    """
    count, height, width = heatmaps.shape
    flat = heatmaps.reshape(count, -1)
    index = flat.argmax(axis=1)
    peaks = flat[np.arange(count), index]
    ys, xs = np.divmod(index, width)
    coords = np.stack([xs, ys], axis=1).astype(np.float64)
    if refine == "quarter":
        for k, (x, y) in enumerate(zip(xs, ys)):
            if 0 < x < width - 1:
                coords[k, 0] += 0.25 * np.sign(heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1])
            if 0 < y < height - 1:
                coords[k, 1] += 0.25 * np.sign(heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x])
    elif refine == "dark":
        coords += _dark_offsets(heatmaps, xs, ys)
    return coords, peaks


def _dark_offsets(heatmaps: np.ndarray, xs: np.ndarray, ys: np.ndarray, kernel: int = 11) -> np.ndarray:
    """Sub-pixel offsets −H⁻¹∇ of log(smoothed heatmap) at each peak (zero where the Hessian is singular)."""
    offsets = np.zeros((len(xs), 2))
    _, height, width = heatmaps.shape
    for k, (x, y) in enumerate(zip(xs, ys)):
        if not (1 < x < width - 2 and 1 < y < height - 2):
            continue
        smooth = cv2.GaussianBlur(heatmaps[k].astype(np.float64), (kernel, kernel), 0)
        smooth *= heatmaps[k].max() / max(smooth.max(), 1e-12)
        log = np.log(np.maximum(smooth, 1e-10))
        dx = 0.5 * (log[y, x + 1] - log[y, x - 1])
        dy = 0.5 * (log[y + 1, x] - log[y - 1, x])
        dxx = 0.25 * (log[y, x + 2] - 2 * log[y, x] + log[y, x - 2])
        dyy = 0.25 * (log[y + 2, x] - 2 * log[y, x] + log[y - 2, x])
        dxy = 0.25 * (log[y + 1, x + 1] - log[y - 1, x + 1] - log[y + 1, x - 1] + log[y - 1, x - 1])
        hessian = np.array([[dxx, dxy], [dxy, dyy]])
        if abs(np.linalg.det(hessian)) > 1e-12:
            offsets[k] = -np.linalg.solve(hessian, [dx, dy])
    return offsets


@DECODERS.register("heatmaps")
class Heatmaps(Decoder):
    """Top-down heatmaps (HRNet, SimpleBaseline): heatmap pixel (j, i) is input pixel (j·W_in/W, i·H_in/H)."""

    task = "keypoints"

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Heatmap output name; default: the only rank-4 output.")
        layout: Literal["nchw", "nhwc"] = Field(default="nchw", description="[N,K,H,W] or [N,H,W,K].")
        refine: Literal["quarter", "dark", "none"] = Field(default="quarter", description="Sub-pixel refinement.")

    def bind(self, outputs: list[OutputInfo]) -> None:
        self.index = find_output(outputs, self.config.output, (1, None, None, None), "heatmaps", "decoder.output")

    def decode(self, outputs: list[np.ndarray]) -> Keypoints:
        heatmaps = outputs[self.index][0]
        if self.config.layout == "nhwc":
            heatmaps = heatmaps.transpose(2, 0, 1)
        coords, peaks = heatmap_peaks(heatmaps, self.config.refine)
        size = np.array(heatmaps.shape[:0:-1], dtype=np.float64)  # (W, H)
        return Keypoints((coords / size)[None], peaks[None])

    def graph_postprocess(self) -> tuple[int, Callable] | None:
        """HRNet's quarter-pixel argmax can live in the graph; DARK needs the maps, so it stays outside."""
        if self.config.refine != "quarter":
            return None
        return self.index, lambda node: heatmap_argmax(node, self.config.layout)

    def embedded_decoder(self) -> Decoder:
        if self.config.refine != "quarter":
            return super().embedded_decoder()
        return KeypointCoordinates(KeypointCoordinates.Config(type="keypoint_coordinates", output="keypoints"))


@DECODERS.register("keypoint_coordinates")
class KeypointCoordinates(Decoder):
    """Models that output coordinates ([..., K, 2] or [..., K, 3] with a score), normalized to the model input;
    also what a model with the heatmap argmax embedded returns."""

    task = "keypoints"

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Coordinates output name; default: the only output.")
        order: Literal["xy", "yx"] = Field(default="xy", description="Coordinate order (MoveNet gives yx).")

    def bind(self, outputs: list[OutputInfo]) -> None:
        if self.config.output is None and len(outputs) == 1:
            self.index = 0
        else:
            self.index = find_output(outputs, self.config.output, (1, None, None), "coordinates", "decoder.output")
        if outputs[self.index].shape and outputs[self.index].shape[-1] not in (2, 3, -1):
            raise UserInputError(f"decoder.output: coordinates need a last axis of 2 or 3, model output is "
                                 f"{outputs[self.index].describe()}")

    def decode(self, outputs: list[np.ndarray]) -> Keypoints:
        values = outputs[self.index]
        values = values.reshape(-1, values.shape[-2], values.shape[-1])[:1].astype(np.float64)
        points = values[..., :2] if self.config.order == "xy" else values[..., 1::-1]
        scores = values[..., 2] if values.shape[-1] == 3 else np.ones(values.shape[:2])
        return Keypoints(points, scores)
