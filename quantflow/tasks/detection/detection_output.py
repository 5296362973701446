"""OpenVINO / Caffe-SSD `DetectionOutput`: [1, 1, N, 7] rows of (image_id, label, score, x1, y1, x2, y2)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.tasks.detection.detections import Detections


@DECODERS.register("detection_output")
class DetectionOutput(Decoder):
    """Rows after the first with image_id -1 are padding. Labels usually count background as 0, so pair this
    decoder with `label_map: contiguous_from_1` (or `category_id` for 91-class COCO models)."""

    class Config(ProviderConfig):
        output: str | None = Field(default=None, description="Output name; default: the only [1,1,N,7] output.")
        score_threshold: float = Field(default=0.0, ge=0, le=1)

    def bind(self, outputs: list[OutputInfo]) -> None:
        self.index = find_output(outputs, self.config.output, (1, 1, None, 7), "detections", "decoder.output")

    def decode(self, outputs: list[np.ndarray]) -> Detections:
        rows = outputs[self.index].reshape(-1, 7)
        ends = np.flatnonzero(rows[:, 0] < 0)
        rows = rows[: ends[0]] if len(ends) else rows
        rows = rows[rows[:, 2] >= self.config.score_threshold]
        return Detections(rows[:, 3:7].copy(), rows[:, 2].copy(), np.rint(rows[:, 1]).astype(np.int64))
