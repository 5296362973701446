"""COCO instances json + image folder, exactly as val2017 ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.adapters.base import ADAPTERS, DetectionDataset, fingerprint_files
from quantflow.config_base import ExistingPath, ProviderConfig
from quantflow.errors import UserInputError
from quantflow.progress import quiet_stdout

LabelScheme = Literal["contiguous_from_0", "contiguous_from_1", "category_id"]


def load_coco(path: Path, where: str):
    """Parse and sanity-check a COCO instances file; return a pycocotools COCO index (quietly)."""
    from pycocotools.coco import COCO

    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{where}: not a JSON file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise UserInputError(f"{where}: not a COCO annotation file (expected lists 'images' and 'categories')")
    data.setdefault("annotations", [])
    required_fields = {
        "images": ("id", "file_name", "width", "height"),
        "annotations": ("id", "image_id", "bbox", "category_id", "area", "iscrowd"),  # all read by pycocotools
        "categories": ("id", "name"),
    }
    for key, required in required_fields.items():
        for index, entry in enumerate(data[key]):
            missing = [f for f in required if f not in entry]
            if missing:
                raise UserInputError(f"{where}: {key}[{index}] lacks {', '.join(missing)}")
    coco = COCO()
    coco.dataset = data
    with quiet_stdout():
        coco.createIndex()
    return coco


@ADAPTERS.register("coco_detection")
class CocoDetection(DetectionDataset):
    """Images listed in a COCO instances json; ground truth handed to pycocotools as is.

    `label_map` says how the model numbers classes: `contiguous_from_0` (0..79 in category-id order),
    `contiguous_from_1` (1..80, background at 0), `category_id` (the json's own ids, 1..90 for COCO) or an
    explicit `{model_label: category_id}` mapping.
    """

    class Config(ProviderConfig):
        annotations: ExistingPath = Field(description="COCO instances json (e.g. instances_val2017.json).")
        images: ExistingPath = Field(description="Folder holding the files named in the json.")
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

    def fingerprint(self) -> str:
        return fingerprint_files([self.file_of(i) for i in self._ids], self.config.annotations.read_bytes())

    def ground_truth(self):
        return self.coco

    def category_of(self, model_labels: np.ndarray) -> np.ndarray:
        return np.array([self._lookup.get(int(label), -1) for label in model_labels], dtype=np.int64)
