"""The COCO annotation format's rules, checked in one place when a json is loaded.

What pycocotools assumes and never checks, so that a broken file fails here with its index and id instead of
crashing inside the metric or, worse, silently changing the score:

- a mapping with lists `images` (at least one), `categories` (at least one) and `annotations` (at least one);
- images: unique integer `id`, a `file_name` string naming one image once, positive integer `width`/`height`
  (equal to the decoded image's size: `check_image_size`);
- categories: unique integer `id`, a `name` string;
- annotations: unique integer `id`, an `image_id` and a `category_id` that exist, `bbox` of four finite numbers
  [x, y, width, height] with positive width and height that overlaps its image (a box reaching more than
  `CLIP_TOLERANCE` pixels past the image border is clipped to it, with a warning), `iscrowd` 0 or 1, `area` a
  finite number ≥ 0.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from quantflow.core.errors import UserInputError, shown
from quantflow.core.progress import quiet_stdout

log = logging.getLogger(__name__)
CLIP_TOLERANCE = 1.0  # pixels past the border that annotation tools commonly leave; such boxes stay as written
REQUIRED_FIELDS = {  # every one is read by pycocotools or by quantflow
    "images": ("id", "file_name", "width", "height"),
    "categories": ("id", "name"),
    "annotations": ("id", "image_id", "category_id", "bbox", "area", "iscrowd"),
}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_box(value: Any) -> bool:
    """A COCO box: a list of four finite numbers [x, y, width, height] (sizes are checked separately)."""
    return isinstance(value, list) and len(value) == 4 and all(is_number(v) for v in value)


class CocoChecker:
    """Checks one parsed json; every message starts with `where: file:` and names the entry's index and id."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        self.data, self.prefix = data, f"{where}: {shown(path.name)}"

    def fail(self, message: str) -> None:
        raise UserInputError(f"{self.prefix}: {message}")

    def entry(self, key: str, index: int, entry: dict) -> str:
        return f"{key}[{index}] (id {shown(entry.get('id'))})"

    def check(self) -> None:
        if not isinstance(self.data, dict):
            self.fail("not a COCO annotation file (expected a mapping with 'images', 'annotations', 'categories')")
        for key, required in REQUIRED_FIELDS.items():
            entries = self.data.get(key)
            if not isinstance(entries, list):
                self.fail(f"not a COCO annotation file (expected a list '{key}')")
            if not entries:
                self.fail(f"'{key}' is empty: nothing to evaluate" if key != "annotations" else
                          "'annotations' is empty: no ground truth to score against (for unlabelled images use "
                          "dataset type image_folder)")
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    self.fail(f"{key}[{index}] is {type(entry).__name__} {shown(entry)}, expected a mapping")
                missing = [f for f in required if f not in entry]
                if missing:
                    where = self.entry(key, index, entry) if "id" in entry else f"{key}[{index}]"
                    self.fail(f"{where}: lacks {', '.join(missing)}")
        images = self.unique_ids("images")
        categories = self.unique_ids("categories")
        self.check_images()
        for index, category in enumerate(self.data["categories"]):
            if not isinstance(category.get("name"), str):
                self.fail(f"{self.entry('categories', index, category)}: name must be a string")
        self.unique_ids("annotations")
        clipped = [self.check_annotation(index, ann, images, categories)
                   for index, ann in enumerate(self.data["annotations"])]
        clipped = [where for where in clipped if where]
        if clipped:
            log.warning("%s: %d boxes reach more than %g px past their image and were clipped to it (first: %s)",
                        self.prefix, len(clipped), CLIP_TOLERANCE, clipped[0])

    def unique_ids(self, key: str) -> dict[int, dict]:
        """`id` → entry; ids must be integers, each used once."""
        seen: dict[int, tuple[int, dict]] = {}
        for index, entry in enumerate(self.data[key]):
            if not is_int(entry["id"]):
                self.fail(f"{self.entry(key, index, entry)}: id must be an integer")
            if entry["id"] in seen:
                self.fail(f"{self.entry(key, index, entry)}: id is also {key}[{seen[entry['id']][0]}]")
            seen[entry["id"]] = (index, entry)
        return {i: entry for i, (_, entry) in seen.items()}

    def check_images(self) -> None:
        files: dict[str, int] = {}
        for index, image in enumerate(self.data["images"]):
            where = self.entry("images", index, image)
            name = image.get("file_name")
            if not isinstance(name, str) or not name:
                self.fail(f"{where}: file_name must be a non-empty string")
            if name in files:
                self.fail(f"{where}: file_name {shown(name)} is also images[{files[name]}]")
            files[name] = index
            for side in ("width", "height"):
                if not (is_int(image.get(side)) and image[side] > 0):
                    self.fail(f"{where}: {side} must be a positive integer, got {shown(repr(image.get(side)))}")

    def check_annotation(self, index: int, ann: dict, images: dict, categories: dict) -> str:
        """Raise on a broken annotation; clip a box reaching past its image. Returns `where` when clipped."""
        where = self.entry("annotations", index, ann)
        if not is_int(ann["image_id"]) or ann["image_id"] not in images:
            self.fail(f"{where}: image_id {shown(repr(ann['image_id']))} is not an id in 'images'")
        if not is_int(ann["category_id"]) or ann["category_id"] not in categories:
            self.fail(f"{where}: category_id {shown(repr(ann['category_id']))} is not an id in 'categories'")
        if not isinstance(ann["iscrowd"], (int, bool)) or ann["iscrowd"] not in (0, 1):
            self.fail(f"{where}: iscrowd must be 0 or 1, got {shown(repr(ann['iscrowd']))}")
        if not (is_number(ann["area"]) and ann["area"] >= 0):
            self.fail(f"{where}: area must be a finite number >= 0, got {shown(repr(ann['area']))}")
        box = ann["bbox"]
        if not is_box(box):
            self.fail(f"{where}: bbox must be four finite numbers [x, y, width, height], got {shown(box)}")
        if box[2] <= 0 or box[3] <= 0:
            self.fail(f"{where}: bbox {box} has no area (width and height must be > 0)")
        image = images[ann["image_id"]]
        x1, y1 = max(box[0], 0.0), max(box[1], 0.0)
        x2, y2 = min(box[0] + box[2], image["width"]), min(box[1] + box[3], image["height"])
        if x2 <= x1 or y2 <= y1:
            self.fail(f"{where}: bbox {box} lies outside its {image['width']}×{image['height']} image")
        reach = max(-box[0], -box[1], box[0] + box[2] - image["width"], box[1] + box[3] - image["height"])
        if reach <= CLIP_TOLERANCE:
            return ""
        ann["bbox"] = [x1, y1, x2 - x1, y2 - y1]
        return where


def load_coco(path: Path, where: str):
    """Parse and check a COCO annotation file (`CocoChecker`); return a pycocotools COCO index (quietly)."""
    from pycocotools.coco import COCO

    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UserInputError(f"{where}: {shown(path.name)} is not a JSON file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{where}: {shown(path.name)} is not a JSON file ({exc})") from None
    except OSError as exc:
        raise UserInputError(f"{where}: cannot read {shown(path)}: {exc.strerror}") from None
    CocoChecker(data, where, path).check()
    coco = COCO()
    coco.dataset = data
    with quiet_stdout():
        coco.createIndex()
    return coco


def read_coco_image(coco, image_id: int, path: Path, where: str) -> np.ndarray:
    """The decoded image, if its size is the one the json gives (boxes and keypoints are in those pixels)."""
    from quantflow.core.adapter import read_image

    image, entry = read_image(path, where), coco.imgs[image_id]
    height, width = image.shape[:2]
    if (height, width) != (entry["height"], entry["width"]):
        raise UserInputError(f"{where}: {shown(path.name)} is {width}×{height} pixels but the annotations say "
                             f"{entry['width']}×{entry['height']} (image id {image_id})")
    return image
