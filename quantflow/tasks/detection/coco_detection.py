"""COCO instances json + image folder, exactly as val2017 ships."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS, fingerprint_files
from quantflow.core.config_base import ExistingFile, ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.tasks.coco_format import load_coco, read_coco_image
from quantflow.tasks.detection.detections import DetectionDataset

log = logging.getLogger(__name__)

LabelScheme = Literal["contiguous_from_0", "contiguous_from_1", "category_id"]


@ADAPTERS.register("coco_detection")
class CocoDetection(DetectionDataset):
    """Images listed in a COCO instances json; ground truth handed to pycocotools as is.

    `label_map` says how the model numbers classes: `contiguous_from_0` (0..79 in category-id order),
    `contiguous_from_1` (1..80, background at 0), `category_id` (the json's own ids, 1..90 for COCO) or an
    explicit `{model_label: category_id}` mapping.
    """

    class Config(ProviderConfig):
        annotations: ExistingFile = Field(description="COCO instances json (e.g. instances_val2017.json).")
        images: ExistingFolder = Field(description="Folder holding the files named in the json.")
        label_map: LabelScheme | dict[int, int] = Field(default="category_id", description="Model class → category.")

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.coco = load_coco(config.annotations, "dataset.annotations")
        self.category_ids = sorted(self.coco.cats)
        self._lookup = self._label_lookup(config.label_map)
        self._ids = sorted(self.coco.imgs)
        missing = [self.file_of(i).name for i in self._ids if not self.file_of(i).is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UserInputError(f"dataset.images: file not found: {missing[0]}{more}")

    def _label_lookup(self, label_map: LabelScheme | dict[int, int]) -> dict[int, int]:
        if isinstance(label_map, dict):
            unknown = sorted(set(label_map.values()) - set(self.category_ids))
            if unknown:
                raise UserInputError(f"dataset.label_map: category ids {unknown} are not in the annotation file")
            return dict(label_map)
        if label_map == "category_id":
            return {c: c for c in self.category_ids}
        first = 0 if label_map == "contiguous_from_0" else 1
        return {first + i: c for i, c in enumerate(self.category_ids)}

    def ids(self) -> list[int]:
        return list(self._ids)

    def file_of(self, image_id: int) -> Path:
        return self.config.images / self.coco.imgs[image_id]["file_name"]

    def load_image(self, image_id: int) -> np.ndarray:
        return read_coco_image(self.coco, image_id, self.file_of(image_id), self.where)

    def fingerprint(self) -> str:
        return fingerprint_files([self.file_of(i) for i in self._ids], self.config.annotations.read_bytes())

    def ground_truth(self):
        return self.coco

    def check_labels(self, labels: range) -> None:
        """Refuse a label map that names classes the model does not have, or under which none of its classes is
        a category (AP 0 whatever the model does); warn when a numbering scheme leaves classes or categories out."""
        label_map = self.config.label_map
        shown_range = f"{labels.start}..{labels.stop - 1}"
        if isinstance(label_map, dict) and set(label_map) - set(labels):
            raise UserInputError(f"dataset.label_map: model classes {sorted(set(label_map) - set(labels))} do not "
                                 f"exist; the model's class indices are {shown_range}")
        mapped = self.category_of(np.asarray(labels))
        if (mapped < 0).all():
            raise UserInputError(f"dataset.label_map: {shown(label_map)} maps none of the model's class indices "
                                 f"{shown_range} to a category of {self.config.annotations.name} "
                                 f"(ids {self.category_ids[:5]}{'...' if len(self.category_ids) > 5 else ''})")
        unmapped = [label for label, category in zip(labels, mapped) if category < 0]
        uncovered = sorted(set(self.category_ids) - set(mapped.tolist()))
        if unmapped or uncovered:
            log.warning("dataset.label_map: under %s, model classes %s map to no category and categories %s to no "
                        "model class; check the numbering", shown(label_map), unmapped or "none", uncovered or "none")

    def category_of(self, model_labels: np.ndarray) -> np.ndarray:
        return np.array([self._lookup.get(int(label), -1) for label in model_labels], dtype=np.int64)
