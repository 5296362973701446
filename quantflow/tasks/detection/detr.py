"""DETR-family set predictions: `[1, Q, 4]` boxes (cx, cy, w, h normalized) and `[1, Q, C]` class logits, one
object per query, so no NMS: RT-DETR scores with a sigmoid and keeps the top-k (query, class) pairs; DETR takes a
softmax whose last class is 'no object' and keeps each query's best real class."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.box_list import BoxFormat, activate, to_corners
from quantflow.tasks.detection.detections import Detections


@DECODERS.register("detr")
class Detr(Decoder):
    """Queries → detections without NMS (sigmoid: RT-DETR, D-FINE; softmax_no_object: DETR, Deformable)."""

    class Config(ProviderConfig):
        boxes: str | None = Field(default=None, description="Boxes output name; default: the [1,Q,4] output.")
        logits: str | None = Field(default=None, description="Logits output name; default: the other [1,Q,?].")
        scoring: Literal["sigmoid", "softmax_no_object", "probabilities"] = Field(
            default="sigmoid", description="sigmoid: top-k over every (query, class); softmax_no_object: the last "
            "class is 'no object'; probabilities: already scores, top-k like sigmoid.")
        box_format: BoxFormat = "cxcywh"
        units: Literal["normalized", "pixels"] = "normalized"
        class_offset: int = Field(default=0, description="Added to the class index to give the model's label.")
        max_detections: int = Field(default=300, gt=0, description="Top-k kept per image (RT-DETR: 300).")
        score_threshold: float = Field(default=0.0, ge=0, le=1)

    def bind(self, outputs: list[OutputInfo]) -> None:
        c = self.config
        self.box_index = find_output(outputs, c.boxes, (1, None, 4), "boxes", "decoder.boxes")
        rest = [o for o in outputs if o.index != self.box_index]
        self.logit_index = find_output(rest, c.logits, (1, None, None), "class logits", "decoder.logits")
        box_shape, logit_shape = outputs[self.box_index].shape, outputs[self.logit_index].shape
        if -1 not in (box_shape[1], logit_shape[1]) and box_shape[1] != logit_shape[1]:
            raise UserInputError(f"decoder.logits: {outputs[self.logit_index].describe()} has {logit_shape[1]} "
                                 f"queries, the boxes {outputs[self.box_index].describe()} {box_shape[1]}")
        self.classes = None if logit_shape[2] == -1 else logit_shape[2] - (c.scoring == "softmax_no_object")

    def class_labels(self) -> range | None:
        if self.classes is None:
            return None
        return range(self.config.class_offset, self.config.class_offset + self.classes)

    def decode(self, outputs: list[np.ndarray]) -> Detections:
        c = self.config
        boxes = np.asarray(outputs[self.box_index], dtype=np.float64).reshape(-1, 4)
        logits = np.asarray(outputs[self.logit_index], dtype=np.float64)[0]
        if c.scoring == "softmax_no_object":
            probabilities = activate(logits, "softmax")[:, :-1]
            labels = probabilities.argmax(axis=1)
            scores, queries = probabilities[np.arange(len(labels)), labels], np.arange(len(labels))
        else:
            flat = (activate(logits, "sigmoid") if c.scoring == "sigmoid" else logits).reshape(-1)
            queries, labels = np.divmod(np.arange(flat.size), logits.shape[1])
            scores = flat
        order = np.argsort(-scores, kind="stable")[: c.max_detections]
        order = order[scores[order] >= c.score_threshold]
        return Detections(to_corners(boxes[queries[order]], c.box_format).astype(np.float32),
                          scores[order].astype(np.float32), labels[order].astype(np.int64) + c.class_offset
                          ).in_units(c.units)
