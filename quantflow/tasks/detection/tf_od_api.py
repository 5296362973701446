"""TF Object Detection API exports: boxes (normalized y1, x1, y2, x2), classes, scores, num_detections."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.tasks.detection.detections import Detections


@DECODERS.register("tf_od_api")
class TfOdApi(Decoder):
    """Post-processed TF OD API outputs; NMS already ran inside the graph. Classes are 1-based category ids
    for COCO-trained graphs, so pair this decoder with `label_map: category_id`."""

    class Config(ProviderConfig):
        boxes: str = "detection_boxes"
        classes: str = "detection_classes"
        scores: str = "detection_scores"
        num_detections: str = "num_detections"
        score_threshold: float = Field(default=0.0, ge=0, le=1)

    def bind(self, outputs: list[OutputInfo]) -> None:
        c = self.config
        self.boxes = find_output(outputs, c.boxes, (1, None, 4), "boxes", "decoder.boxes")
        self.num = find_output(outputs, c.num_detections, (1,), "num_detections", "decoder.num_detections")
        self.classes = find_output(outputs, c.classes, (1, None), "classes", "decoder.classes")
        self.scores = find_output(outputs, c.scores, (1, None), "scores", "decoder.scores")

    def decode(self, outputs: list[np.ndarray]) -> Detections:
        count = int(np.asarray(outputs[self.num]).reshape(-1)[0])
        boxes = outputs[self.boxes].reshape(-1, 4)[:count][:, [1, 0, 3, 2]]
        scores = outputs[self.scores].reshape(-1)[:count]
        labels = np.rint(outputs[self.classes].reshape(-1)[:count]).astype(np.int64)
        keep = scores >= self.config.score_threshold
        return Detections(boxes[keep], scores[keep], labels[keep])
