"""Raw SSD heads: box encodings + class scores + anchors, decoded with the standard SSD box coder and NMS."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ExistingFile, ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError, shown
from quantflow.tasks.detection.detections import Detections
from quantflow.tasks.detection.nms import nms


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray, scale_factors: tuple[float, ...]) -> np.ndarray:
    """TF OD API FasterRcnnBoxCoder: encodings (ty, tx, th, tw), anchors (cy, cx, h, w) → (x1, y1, x2, y2)."""
    ty, tx, th, tw = (encodings / np.asarray(scale_factors, dtype=np.float32)).T
    cya, cxa, ha, wa = anchors.T
    cy, cx = ty * ha + cya, tx * wa + cxa
    h, w = np.exp(th) * ha, np.exp(tw) * wa
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@DECODERS.register("ssd_raw")
class SsdRaw(Decoder):
    """Decoding and NMS run outside the model, which keeps them out of INT8 (and of full-integer TFLite).

    Labels are the class-score column index; with `background_class` column 0 is dropped, so the model's
    classes start at 1 (`label_map: contiguous_from_1`).
    """

    class Config(ProviderConfig):
        anchors: ExistingFile = Field(description=".npy [A, 4] anchors (cy, cx, h, w) normalized to the input.")
        box_encodings: str = Field(default="box_encodings", description="Output name; else the [1,A,4] output.")
        class_scores: str = Field(default="class_scores", description="Output name; else the [1,A,C] output.")
        scale_factors: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
        score_activation: Literal["none", "sigmoid", "softmax"] = Field(
            default="none", description="Applied to class scores; `none` when the model outputs probabilities."
        )
        background_class: bool = Field(default=True, description="Column 0 of the class scores is background.")
        score_threshold: float = Field(default=0.01, ge=0, le=1)
        nms_iou: float = Field(default=0.6, gt=0, le=1)
        max_detections: int = Field(default=100, gt=0)
        pre_nms_top_k: int = Field(default=1000, gt=0, description="Candidates kept per image before NMS.")

    def bind(self, outputs: list[OutputInfo]) -> None:
        try:
            self.anchors = np.load(self.config.anchors).astype(np.float32)
        except (OSError, ValueError, EOFError) as exc:
            raise UserInputError(f"decoder.anchors: cannot read {shown(self.config.anchors.name)} as .npy "
                                 f"({shown(exc)})") from None
        if self.anchors.ndim != 2 or self.anchors.shape[1] != 4 or not len(self.anchors):
            raise UserInputError(f"decoder.anchors: expected shape [A, 4], got {list(self.anchors.shape)}")
        count = len(self.anchors)
        broken = ~np.isfinite(self.anchors).all(axis=1) | (self.anchors[:, 2:] <= 0).any(axis=1)
        if broken.any():
            raise UserInputError(f"decoder.anchors: {int(broken.sum())} of {count} anchors in "
                                 f"{self.config.anchors.name} are not finite or have no height/width "
                                 f"(first: row {int(np.argmax(broken))})")
        self.boxes = find_output(outputs, self.config.box_encodings, (1, count, 4), "box encodings", "decoder.box_encodings")
        rest = [o for o in outputs if o.index != self.boxes]
        self.scores = find_output(rest, self.config.class_scores, (1, count, None), "class scores", "decoder.class_scores")
        # A name match skips find_output's shape check: make sure the named outputs fit the anchors too.
        shapes = self.output_shapes = {o.index: o.shape for o in outputs}
        for index, per_anchor, where in ((self.boxes, 4, "decoder.box_encodings"),
                                         (self.scores, None, "decoder.class_scores")):
            shape = shapes[index]
            if not shape or -1 in shape:
                continue
            size = int(np.prod(shape))
            fits = size == count * per_anchor if per_anchor else size > 0 and size % count == 0
            if not fits:
                raise UserInputError(f"{where}: output shape {list(shape)} does not fit the {count} anchors "
                                     f"in {self.config.anchors.name}")

    def class_labels(self) -> range | None:
        shape = self.output_shapes[self.scores]
        if not shape or -1 in shape:
            return None
        return range(1 if self.config.background_class else 0, int(np.prod(shape)) // len(self.anchors))

    def decode(self, outputs: list[np.ndarray]) -> Detections:
        c = self.config
        scores = outputs[self.scores].reshape(len(self.anchors), -1)
        if c.score_activation == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-scores))
        elif c.score_activation == "softmax":
            scores = _softmax(scores)
        first_class = 1 if c.background_class else 0
        anchor_idx, class_idx = np.nonzero(scores[:, first_class:] >= c.score_threshold)
        candidate_scores = scores[anchor_idx, class_idx + first_class]
        top = np.argsort(-candidate_scores, kind="stable")[: c.pre_nms_top_k]
        anchor_idx, class_idx, candidate_scores = anchor_idx[top], class_idx[top], candidate_scores[top]
        encodings = outputs[self.boxes].reshape(-1, 4)[anchor_idx]
        boxes = decode_boxes(encodings, self.anchors[anchor_idx], c.scale_factors)
        return nms(boxes, candidate_scores, class_idx + first_class, c.nms_iou, c.max_detections)
