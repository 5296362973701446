"""Raw multi-level point heads with per-side distance distributions (GFL / DFL: YOLOv8/v6 heads cut before their
post-processing, NanoDet): per level, 4 × `reg_max` box logits and one score per class at every grid point. Each
side's distance is the softmax expectation over its bins, in strides; the point sits at (index + offset) × stride.
quantflow decodes and suppresses outside the model, which keeps the arithmetic out of INT8.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.box_list import activate
from quantflow.tasks.detection.detections import Detections
from quantflow.tasks.detection.nms import nms


def integral(logits: np.ndarray) -> np.ndarray:
    """[..., 4, R] bin logits → [..., 4] expected distance in bins (the softmax expectation)."""
    probabilities = activate(logits, "softmax")
    return probabilities @ np.arange(logits.shape[-1], dtype=np.float64)


def level_boxes(box_logits: np.ndarray, stride: float, offset: float) -> np.ndarray:
    """[H, W, 4, R] logits of one level → [H·W, 4] boxes (x1, y1, x2, y2) in input pixels."""
    height, width = box_logits.shape[:2]
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    points = (np.stack([xs.ravel(), ys.ravel()], axis=1) + offset) * stride
    ltrb = integral(box_logits.reshape(height * width, 4, -1)) * stride
    return np.concatenate([points - ltrb[:, :2], points + ltrb[:, 2:]], axis=1)


@DECODERS.register("dfl_heads")
class DflHeads(Decoder):
    """One output per level holding 4·reg_max box channels then the class channels (Ultralytics), or a box and
    a class output per level; levels are matched to `strides` by their grid size, finest first."""

    class Config(ProviderConfig):
        strides: list[int] = Field(default=[8, 16, 32], min_length=1, description="Stride of each level, finest first.")
        reg_max: int = Field(default=16, gt=1, description="Bins per side of the distance distribution.")
        layout: Literal["nchw", "nhwc"] = "nchw"
        offset: float = Field(default=0.5, description="Grid point = (index + offset) × stride (0.5: cell centre).")
        score_activation: Literal["sigmoid", "none"] = "sigmoid"
        class_agnostic: bool = False
        nms_iou: float = Field(default=0.7, gt=0, le=1)
        score_threshold: float = Field(default=0.001, ge=0, le=1, description="Confidence floor.")
        max_detections: int = Field(default=300, gt=0)
        pre_nms_top_k: int = Field(default=30000, gt=0, description="Candidates kept per image before NMS.")

    def bind(self, outputs: list[OutputInfo]) -> None:
        c = self.config
        maps = [o for o in outputs if len(o.shape) == 4]
        channel = 1 if c.layout == "nchw" else 3
        box_channels = 4 * c.reg_max

        def grid(o: OutputInfo) -> tuple[int, int]:
            return (o.shape[2], o.shape[3]) if c.layout == "nchw" else (o.shape[1], o.shape[2])

        described = ", ".join(o.describe() for o in outputs)
        combined = [o for o in maps if o.shape[channel] > box_channels]
        separate_boxes = [o for o in maps if o.shape[channel] == box_channels]
        if len(combined) == len(c.strides):
            self.levels = [(o.index, None) for o in combined]
        elif len(separate_boxes) == len(c.strides):
            others = [o for o in maps if o.shape[channel] != box_channels]
            pairs = []
            for box in separate_boxes:
                partner = [o for o in others if grid(o) == grid(box)]
                if len(partner) != 1:
                    raise UserInputError(f"decoder.strides: no single class output with the grid of "
                                         f"{box.describe()}; model outputs: {described}")
                pairs.append((box.index, partner[0].index))
            self.levels = pairs
        else:
            raise UserInputError(f"decoder.strides: {len(c.strides)} levels expected, each with 4 × reg_max = "
                                 f"{box_channels} box channels ({c.layout}); model outputs: {described}")
        infos = {o.index: o for o in outputs}
        sizes = [grid(infos[box]) for box, _ in self.levels]
        if all(-1 not in size for size in sizes):  # static grids: finest first, as strides are
            self.levels.sort(key=lambda level: -np.prod(grid(infos[level[0]])))
            sizes = [grid(infos[box]) for box, _ in self.levels]
            extents = {(h * s, w * s) for (h, w), s in zip(sizes, c.strides)}
            if len(extents) != 1:
                raise UserInputError(f"decoder.strides: {c.strides} do not match the head sizes "
                                     f"{[list(size) for size in sizes]} (grid × stride differs between levels)")
        first = infos[self.levels[0][0]]
        cls_channels = (first.shape[channel] - box_channels if self.levels[0][1] is None
                        else infos[self.levels[0][1]].shape[channel])
        self.classes = None if first.shape[channel] == -1 else cls_channels

    def class_labels(self) -> range | None:
        return None if self.classes is None else range(0, self.classes)

    def decode(self, outputs: list[np.ndarray]) -> Detections:
        c = self.config
        boxes, scores = [], []
        for (box_index, cls_index), stride in zip(self.levels, c.strides):
            maps = [np.asarray(outputs[i], dtype=np.float64)[0] for i in (box_index, cls_index) if i is not None]
            if c.layout == "nchw":
                maps = [m.transpose(1, 2, 0) for m in maps]
            combined = np.concatenate(maps, axis=2)  # [H, W, 4R + C]
            height, width = combined.shape[:2]
            box_logits = combined[..., : 4 * c.reg_max].reshape(height, width, 4, c.reg_max)
            boxes.append(level_boxes(box_logits, stride, c.offset))
            scores.append(combined[..., 4 * c.reg_max :].reshape(height * width, -1))
        all_scores = activate(np.concatenate(scores), "sigmoid" if c.score_activation == "sigmoid" else "none")
        points, labels = np.nonzero(all_scores >= c.score_threshold)
        candidate = all_scores[points, labels]
        top = np.argsort(-candidate, kind="stable")[: c.pre_nms_top_k]
        return nms(np.concatenate(boxes)[points[top]], candidate[top], labels[top].astype(np.int64), c.nms_iou,
                   c.max_detections, c.class_agnostic).in_units("pixels")
