"""Any output that is a list of boxes: YOLOv8/v11 (`[1, 4 + C, N]`), YOLOv5/v7 (`[1, N, 5 + C]` with objectness),
end-to-end exports (YOLOv10, NMS in the graph: `[1, N, 6]`), CenterNet-style `[1, 100, 6]` rows, and whatever
else a configuration can describe: where the box columns are and what they mean, where the scores are, and
whether quantflow still has to run NMS. The presets are configuration only: a preset fills the keys a config
leaves unset.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from quantflow.core.config_base import ProviderConfig
from quantflow.core.decoder import DECODERS, Decoder, OutputInfo, find_output
from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.detections import Detections
from quantflow.tasks.detection.nms import nms

BoxFormat = Literal["xyxy", "xywh", "cxcywh", "yxyx"]

# What each family's export looks like; Ultralytics evaluates COCO with conf 0.001, IoU 0.7, 300 detections.
PRESETS: dict[str, dict[str, Any]] = {
    "yolov8": {"layout": "columns", "box_format": "cxcywh", "units": "pixels", "scores": "per_class",
               "first_class_column": 4, "score_threshold": 0.001, "nms_iou": 0.7, "max_detections": 300},
    "yolov5": {"layout": "rows", "box_format": "cxcywh", "units": "pixels", "scores": "per_class",
               "objectness_column": 4, "first_class_column": 5, "score_threshold": 0.001, "nms_iou": 0.6,
               "max_detections": 300},
    "yolov10": {"layout": "rows", "box_format": "xyxy", "units": "pixels", "scores": "column", "score_column": 4,
                "class_column": 5, "nms": False, "score_threshold": 0.001, "max_detections": 300},
    "centernet": {"layout": "rows", "box_format": "xyxy", "units": "pixels", "scores": "column", "score_column": 4,
                  "class_column": 5, "nms": False, "score_threshold": 0.001, "max_detections": 100},
}
PRESETS["yolov11"] = PRESETS["yolov8"]
PRESETS["yolov7"] = PRESETS["yolov5"]
PRESETS["end_to_end"] = PRESETS["yolov10"]


def to_corners(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """[N, 4] boxes in `box_format` → (x1, y1, x2, y2)."""
    a, b, c, d = boxes.T
    if box_format == "xyxy":
        return boxes
    if box_format == "yxyx":
        return np.stack([b, a, d, c], axis=1)
    if box_format == "xywh":
        return np.stack([a, b, a + c, b + d], axis=1)
    return np.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], axis=1)  # cxcywh


def activate(scores: np.ndarray, activation: str) -> np.ndarray:
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    if activation == "softmax":
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return scores


@DECODERS.register("box_list")
class BoxList(Decoder):
    """Rows of boxes, by configuration alone; `preset` names a family (yolov8, yolov11, yolov5, yolov7, yolov10,
    end_to_end, centernet) whose layout fills the keys the config leaves unset."""

    class Config(ProviderConfig):
        preset: Literal["yolov8", "yolov11", "yolov5", "yolov7", "yolov10", "end_to_end", "centernet"] | None = \
            Field(default=None, description="A family's layout; keys set in the config win.")
        output: str | None = Field(default=None, description="Output name; default: the only rank-3 output.")
        layout: Literal["rows", "columns"] = Field(
            default="rows", description="rows: [1, N, K] (one box per row); columns: [1, K, N] (YOLOv8).")
        box_column: int = Field(default=0, ge=0, description="First of the four box values.")
        box_format: BoxFormat = "xyxy"
        units: Literal["pixels", "normalized"] = Field(
            default="pixels", description="Box values in model-input pixels, or 0..1 of the input.")
        scores: Literal["per_class", "column"] = Field(
            default="per_class", description="per_class: one score column per class; column: a score column and "
            "a class column.")
        first_class_column: int | None = Field(
            default=None, ge=0, description="per_class: first class score column; default: right after the box.")
        num_classes: int | None = Field(default=None, gt=0, description="per_class: default every column left.")
        objectness_column: int | None = Field(
            default=None, ge=0, description="per_class: a column multiplied into every class score (YOLOv5).")
        score_column: int | None = Field(default=None, ge=0, description="column: default right after the box.")
        class_column: int | None = Field(default=None, ge=0, description="column: default right after the score.")
        score_activation: Literal["none", "sigmoid", "softmax"] = Field(
            default="none", description="Applied to the scores (and objectness) first; none for probabilities.")
        no_object_class: bool = Field(
            default=False, description="per_class with softmax: the last class column is 'no object' (dropped).")
        class_offset: int = Field(default=0, description="Added to the class index to give the model's label.")
        nms: bool = Field(default=True, description="false: the model already suppressed duplicates.")
        class_agnostic: bool = Field(default=False, description="NMS across classes instead of per class.")
        nms_iou: float = Field(default=0.7, gt=0, le=1)
        score_threshold: float = Field(default=0.001, ge=0, le=1, description="Confidence floor.")
        max_detections: int = Field(default=300, gt=0)
        pre_nms_top_k: int = Field(default=30000, gt=0, description="Candidates kept per image before NMS.")

        @model_validator(mode="before")
        @classmethod
        def _preset(cls, data: Any) -> Any:
            if isinstance(data, dict) and data.get("preset") in PRESETS:
                return {**PRESETS[data["preset"]], **data}
            return data

    def bind(self, outputs: list[OutputInfo]) -> None:
        c = self.config
        self.index = find_output(outputs, c.output, (1, None, None), "box list", "decoder.output")
        shape = outputs[self.index].shape
        self.width = shape[1] if c.layout == "columns" else shape[2]
        self.described = outputs[self.index].describe()
        if self.width == -1:
            self.width = None  # dynamic: checked on the first decoded output
            return
        self._check_columns(self.width)

    def _columns(self, width: int) -> dict[str, Any]:
        """The columns each role reads, for a row of `width` values."""
        c = self.config
        after_box = c.box_column + 4
        if c.scores == "column":
            score = c.score_column if c.score_column is not None else after_box
            label = c.class_column if c.class_column is not None else score + 1
            return {"box": c.box_column, "score": score, "class": label}
        first = c.first_class_column
        if first is None:
            first = after_box + (1 if c.objectness_column == after_box else 0)
        count = c.num_classes if c.num_classes is not None else width - first
        return {"box": c.box_column, "first_class": first, "classes": count, "objectness": c.objectness_column}

    def _check_columns(self, width: int) -> None:
        columns = self._columns(width)
        used = {"box_column": columns["box"] + 3}
        if self.config.scores == "column":
            used |= {"score_column": columns["score"], "class_column": columns["class"]}
        else:
            used["num_classes"] = columns["first_class"] + max(columns["classes"], 1) - 1
            if columns["objectness"] is not None:
                used["objectness_column"] = columns["objectness"]
        axis = "axis 1" if self.config.layout == "columns" else "the last axis"
        for key, last in used.items():
            if last >= width:
                raise UserInputError(f"decoder.{key}: needs column {last}, but {axis} of output {self.described} "
                                     f"has {width} values (layout {self.config.layout})")
        if self.config.scores == "per_class" and columns["classes"] <= (1 if self.config.no_object_class else 0):
            raise UserInputError(f"decoder.first_class_column: no class columns left in a row of {width} values "
                                 f"(output {self.described}, layout {self.config.layout})")
        self.columns = columns

    def class_labels(self) -> range | None:
        if self.width is None or self.config.scores == "column":
            return None
        count = self.columns["classes"] - (1 if self.config.no_object_class else 0)
        return range(self.config.class_offset, self.config.class_offset + count)

    def decode(self, outputs: list[np.ndarray]) -> Detections:
        c = self.config
        rows = np.asarray(outputs[self.index], dtype=np.float32)[0]
        if c.layout == "columns":
            rows = rows.T
        if self.width is None:
            self._check_columns(rows.shape[1])
            self.width = rows.shape[1]
        keep, scores, labels = self._candidates(rows)
        top = np.argsort(-scores, kind="stable")[: c.pre_nms_top_k if c.nms else c.max_detections]
        keep, scores, labels = keep[top], scores[top], labels[top] + c.class_offset
        first_box = self.columns["box"]
        boxes = to_corners(rows[keep, first_box : first_box + 4].astype(np.float64), c.box_format)
        if c.nms:
            detections = nms(boxes, scores, labels, c.nms_iou, c.max_detections, c.class_agnostic)
        else:
            detections = Detections(boxes.astype(np.float32), scores.astype(np.float32), labels)
        return detections.in_units(c.units)

    def _candidates(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row index, score, class index) of every (row, class) at or above the confidence floor."""
        c, columns = self.config, self.columns
        if c.scores == "column":
            scores = activate(rows[:, columns["score"]], c.score_activation)
            keep = np.nonzero(scores >= c.score_threshold)[0]
            return keep, scores[keep], np.rint(rows[keep, columns["class"]]).astype(np.int64)
        first = columns["first_class"]
        class_scores = activate(rows[:, first : first + columns["classes"]], c.score_activation)
        if c.no_object_class:
            class_scores = class_scores[:, :-1]
        if columns["objectness"] is not None:
            activation = "sigmoid" if c.score_activation == "sigmoid" else "none"  # softmax is for classes only
            class_scores = class_scores * activate(rows[:, columns["objectness"]], activation)[:, None]
        keep, labels = np.nonzero(class_scores >= c.score_threshold)
        return keep, class_scores[keep, labels], labels.astype(np.int64)
