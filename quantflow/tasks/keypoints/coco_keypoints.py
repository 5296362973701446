"""COCO keypoints (person_keypoints_*.json + images) for top-down pose: one sample per person crop.

Crops follow the HRNet evaluation protocol: box centre, the box widened to the model's aspect ratio, then
enlarged by a padding factor; boxes come from the ground truth or from a person-detections results json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS, DatasetAdapter, fingerprint_files
from quantflow.core.config_base import ExistingFile, ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.core.geometry import Geometry
from quantflow.tasks.coco_format import is_box, is_number, load_coco, read_coco_image
from quantflow.tasks.keypoints.heatmaps import Keypoints

VISIBILITY_FLAGS = {0, 1, 2}
KEYPOINT_SCORE_FLOOR = 0.2  # HRNet rescoring: mean confidence of the keypoints above this


@dataclass(frozen=True)
class PersonBox:
    image_id: int
    box: tuple[float, float, float, float]  # x, y, w, h in original pixels
    score: float


@dataclass(frozen=True)
class KeypointTruth:
    """Ground truth for the keypoint metric: the COCO index, the image of every sample and the keypoint names."""

    coco: object
    image_of: dict[int, int]
    names: list[str]


def crop_region(box: tuple[float, float, float, float], aspect: float, padding: float) -> tuple[float, ...]:
    """(left, top, width, height) of the crop HRNet takes around a box: widened to `aspect` (w/h), then padded."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * padding, h * padding
    return cx - w / 2, cy - h / 2, w, h


@ADAPTERS.register("coco_keypoints")
class CocoKeypoints(DatasetAdapter):
    """Person crops from a COCO keypoints file. Rows: sample id, image id, category id, score, then x, y,
    confidence per keypoint in original pixels; the score is box score × mean confident keypoint score."""

    task = "keypoints"
    sample_noun = "person crops"

    class Config(ProviderConfig):
        annotations: ExistingFile = Field(description="COCO keypoints json (e.g. person_keypoints_val2017.json).")
        images: ExistingFolder = Field(description="Folder holding the files named in the json.")
        detections: ExistingFile | None = Field(
            default=None, description="Person detections (COCO results json) to crop from; default: ground-truth boxes."
        )
        detection_threshold: float = Field(default=0.0, ge=0, le=1, description="Skip detections scoring below.")
        aspect_ratio: float = Field(default=0.75, gt=0, description="Crop width / height: the model input's.")
        padding: float = Field(default=1.25, ge=1, description="Crop enlargement around the widened box.")
        crop_size: tuple[int, int] | None = Field(
            default=None, description="(height, width) the crop is warped to in one step, normally the model input "
            "(HRNet's protocol); null: the region at the image's own resolution, for the resize step to scale."
        )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.coco = load_coco(config.annotations, "dataset.annotations")
        self.category_id, self.names = self._keypoint_category()
        self.row_width = 4 + 3 * len(self.names)
        self._check_annotations()
        self.samples = self._detections() if config.detections else self._ground_truth_boxes()
        if not self.samples:
            raise UserInputError("dataset: no person to evaluate (no box with labelled keypoints or detection)")
        missing = sorted({self.file_of(i).name for i in self.samples if not self.file_of(i).is_file()})
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UserInputError(f"dataset.images: file not found: {missing[0]}{more}")

    def _keypoint_category(self) -> tuple[int, list[str]]:
        with_keypoints = [c for c in self.coco.dataset["categories"] if isinstance(c.get("keypoints"), list)]
        if len(with_keypoints) != 1:
            raise UserInputError(f"dataset.annotations: expected one category with a 'keypoints' list (COCO "
                                 f"keypoints format), found {len(with_keypoints)}")
        return with_keypoints[0]["id"], list(with_keypoints[0]["keypoints"])

    def _check_annotations(self) -> None:
        """The keypoint faults that would make pycocotools crash or silently mis-score, reported by annotation
        (the box, id and category rules are `coco_format`'s)."""
        expected = 3 * len(self.names)
        for index, ann in enumerate(self.coco.dataset["annotations"]):
            where = f"dataset.annotations: {shown(self.config.annotations.name)}: annotations[{index}] (id {ann['id']})"
            if ann["category_id"] != self.category_id:
                continue
            keypoints = ann.get("keypoints")
            if not isinstance(keypoints, list) or len(keypoints) != expected:
                got = len(keypoints) if isinstance(keypoints, list) else "no"
                raise UserInputError(f"{where}: keypoints has {got} values, expected {expected} "
                                     f"({len(self.names)} keypoints × x, y, visibility)")
            if not all(is_number(v) for v in keypoints):
                raise UserInputError(f"{where}: keypoints must be finite numbers, got {shown(keypoints)}")
            if not set(keypoints[2::3]) <= VISIBILITY_FLAGS:
                raise UserInputError(f"{where}: visibility flags must be 0, 1 or 2, got {sorted(set(keypoints[2::3]))}")
            labelled = sum(v > 0 for v in keypoints[2::3])
            if ann.get("num_keypoints") != labelled or isinstance(ann.get("num_keypoints"), bool):
                raise UserInputError(f"{where}: num_keypoints must count the labelled keypoints ({labelled}), got "
                                     f"{shown(repr(ann.get('num_keypoints')))}")

    def _ground_truth_boxes(self) -> dict[int, PersonBox]:
        """Every non-crowd person with labelled keypoints (as HRNet evaluates; boxes are checked by coco_format)."""
        samples = {}
        for ann in self.coco.loadAnns(self.coco.getAnnIds(catIds=[self.category_id], iscrowd=False)):
            if ann["num_keypoints"] > 0:
                samples[ann["id"]] = PersonBox(ann["image_id"], tuple(map(float, ann["bbox"])), 1.0)
        return dict(sorted(samples.items()))

    def _detections(self) -> dict[int, PersonBox]:
        path = self.config.detections
        try:
            entries = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserInputError(f"dataset.detections: not a JSON file ({exc})") from None
        if not isinstance(entries, list):
            raise UserInputError("dataset.detections: expected a COCO results list of {image_id, bbox, score}")
        samples = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not {"image_id", "bbox", "score"} <= set(entry):
                raise UserInputError(f"dataset.detections: [{index}] lacks image_id, bbox or score")
            box, score = entry["bbox"], entry["score"]
            if not is_box(box) or not is_number(score):
                raise UserInputError(f"dataset.detections: [{index}] needs bbox [x, y, width, height] and score as "
                                     f"finite numbers, got bbox {shown(box)}, score {shown(score)}")
            if not isinstance(entry["image_id"], int) or entry["image_id"] not in self.coco.imgs:
                raise UserInputError(f"dataset.detections: [{index}] image_id {entry['image_id']} is not in "
                                     f"the annotations")
            if entry.get("category_id", self.category_id) != self.category_id:
                continue
            if entry["score"] >= self.config.detection_threshold and min(entry["bbox"][2:]) > 0:
                samples[index + 1] = PersonBox(entry["image_id"], tuple(map(float, entry["bbox"])),
                                               float(entry["score"]))
        return samples

    def ids(self) -> list[int]:
        return list(self.samples)

    def file_of(self, sample_id: int) -> Path:
        return self.config.images / self.coco.imgs[self.samples[sample_id].image_id]["file_name"]

    def load_image(self, sample_id: int) -> np.ndarray:
        return read_coco_image(self.coco, self.samples[sample_id].image_id, self.file_of(sample_id), self.where)

    def load_sample(self, sample_id: int) -> tuple[np.ndarray, Geometry]:
        """The crop, warped in one step to `crop_size` (as HRNet evaluates: the same affine maps pixels and
        keypoints), or at the image's own resolution for the resize step to scale."""
        image = self.load_image(sample_id)
        left, top, width, height = crop_region(self.samples[sample_id].box, self.config.aspect_ratio,
                                               self.config.padding)
        size = self.config.crop_size or (max(1, round(height)), max(1, round(width)))
        scale_y, scale_x = (size[0] / height, size[1] / width) if self.config.crop_size else (1.0, 1.0)
        affine = np.array([[scale_x, 0.0, -left * scale_x], [0.0, scale_y, -top * scale_y]])
        crop = cv2.warpAffine(image, affine, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return crop, Geometry.crop(image.shape[:2], size, top, left).then(size, (scale_y, scale_x), (0.0, 0.0))

    def fingerprint(self) -> str:
        extra = self.config.annotations.read_bytes()
        if self.config.detections:
            extra += self.config.detections.read_bytes()
        files = sorted({self.file_of(i) for i in self.samples})
        return fingerprint_files(files, extra)

    def ground_truth(self) -> KeypointTruth:
        return KeypointTruth(self.coco, {i: s.image_id for i, s in self.samples.items()}, self.names)

    def rows(self, sample_id: int, decoded: Keypoints, geometry: Geometry) -> np.ndarray:
        if decoded.points.shape[1] != len(self.names):
            raise UserInputError(f"decoder: the model gives {decoded.points.shape[1]} keypoints, the annotations "
                                 f"name {len(self.names)}")
        points = geometry.points_to_original(decoded.points[0])
        confidence = decoded.confidences[0]
        confident = confidence[confidence > KEYPOINT_SCORE_FLOOR]
        score = self.samples[sample_id].score * (float(confident.mean()) if confident.size else 0.0)
        keypoints = np.column_stack([points, confidence]).reshape(-1)
        return np.concatenate([[sample_id, self.samples[sample_id].image_id, self.category_id, score],
                               keypoints])[None]
