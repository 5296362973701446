"""YOLO-format datasets as Ultralytics lays them out: a dataset YAML (`path`, `train`/`val`/`test`, `names`),
images under `images/...` and one `labels/....txt` per image with `class cx cy w h` lines normalized to the
image (a missing label file: no objects; a segment polygon `class x1 y1 x2 y2 ...` counts by its box). Scored with
COCO AP like any detection dataset: the labels become a pycocotools index, class k is category k + 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS, IMAGE_SUFFIXES, fingerprint_files
from quantflow.core.config_base import ExistingFile, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.core.progress import quiet_stdout
from quantflow.tasks.detection.detections import DetectionDataset

TOLERANCE = 1e-3  # exporters round coordinates; Ultralytics itself accepts values a hair outside 0..1


def read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserInputError(f"dataset.data: {shown(path.name)} is not a YAML file ({shown(exc)})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"dataset.data: {shown(path.name)}: expected a mapping with path, val and names")
    return data


def class_names(names, where: str) -> list[str]:
    """`names` as a list (Ultralytics writes a list or a {index: name} mapping numbered 0..n-1)."""
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if isinstance(names, dict) and names and sorted(names) == list(range(len(names))):
        return [str(names[i]) for i in range(len(names))]
    raise UserInputError(f"{where}: names must be a list or a mapping 0..n-1 → name, got {shown(names)!r}")


def image_files(root: Path, split, where: str) -> list[Path]:
    """A split: a folder of images, a .txt file listing them (relative to the root), or a list of either."""
    parts = split if isinstance(split, list) else [split]
    files: list[Path] = []
    for part in parts:
        path = (root / str(part)).resolve()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file() and path.suffix == ".txt":
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            files += [(root / line).resolve() for line in lines]
        else:
            raise UserInputError(f"{where}: {shown(part)} is neither an image folder nor a .txt list under "
                                 f"{shown(root)}")
    if not files:
        raise UserInputError(f"{where}: no images in {shown(split)}")
    return files


def label_file(image: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`, the suffix `.txt`."""
    parts = list(image.parts)
    if "images" in parts:
        index = len(parts) - 1 - parts[::-1].index("images")
        parts[index] = "labels"
    return Path(*parts).with_suffix(".txt")


def parse_labels(path: Path, classes: int) -> np.ndarray:
    """[K, 5] (class, cx, cy, w, h) normalized; a missing file is an image without objects."""
    if not path.is_file():
        return np.zeros((0, 5))
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"dataset labels {shown(path.name)} line {number}"
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            raise UserInputError(f"{where}: expected numbers 'class cx cy w h', got {shown(line.strip())!r}") from None
        if len(values) < 5 or (len(values) > 5 and len(values) % 2 == 0):
            raise UserInputError(f"{where}: expected 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 ...', got "
                                 f"{len(values)} values")
        label, coords = values[0], np.array(values[1:])
        if label != int(label) or not 0 <= label < classes:
            raise UserInputError(f"{where}: class {shown(line.split()[0])} is not one of the {classes} names "
                                 f"(0..{classes - 1})")
        if not np.isfinite(coords).all() or (coords < -TOLERANCE).any() or (coords > 1 + TOLERANCE).any():
            raise UserInputError(f"{where}: coordinates must lie in 0..1 (normalized to the image), got "
                                 f"{shown(' '.join(line.split()[1:]))}")
        if len(values) > 5:  # a segment: its bounding box
            xs, ys = coords[0::2], coords[1::2]
            coords = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, xs.max() - xs.min(),
                               ys.max() - ys.min()])
        rows.append([label, *np.clip(coords, 0.0, 1.0)])
    return np.array(rows).reshape(-1, 5)


@ADAPTERS.register("yolo")
class YoloDataset(DetectionDataset):
    """An Ultralytics dataset YAML and its images/labels; the model's class k (as in `names`) is category k + 1."""

    class Config(ProviderConfig):
        data: ExistingFile = Field(description="Dataset YAML with path, train/val/test and names.")
        split: Literal["val", "train", "test"] = Field(default="val", description="Which split to evaluate.")

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        data = read_yaml(config.data)
        self.names = class_names(data.get("names"), "dataset.data: names")
        root = config.data.parent / str(data.get("path") or ".")
        if config.split not in data:
            raise UserInputError(f"dataset.split: {shown(config.data.name)} has no {config.split!r} split "
                                 f"(it has {', '.join(k for k in ('train', 'val', 'test') if k in data) or 'none'})")
        self.files = image_files(root, data[config.split], f"dataset.data: {config.split}")
        missing = [p for p in self.files if not p.is_file()]
        if missing:
            raise UserInputError(f"dataset.images: file not found: {shown(missing[0])}"
                                 + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        self._coco = None

    def ids(self) -> list[int]:
        return list(range(1, len(self.files) + 1))

    def file_of(self, image_id: int) -> Path:
        return self.files[image_id - 1]

    def fingerprint(self) -> str:
        labels = b"".join(label_file(p).read_bytes() for p in self.files if label_file(p).is_file())
        return fingerprint_files(self.files, self.config.data.read_bytes() + labels)

    def ground_truth(self):
        """A pycocotools index of every label file, built once (image sizes from the file headers)."""
        if self._coco is None:
            self._coco = self._build_coco()
        return self._coco

    def _build_coco(self):
        from PIL import Image
        from pycocotools.coco import COCO

        images, annotations = [], []
        for image_id, path in zip(self.ids(), self.files):
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except OSError as exc:
                raise UserInputError(f"{self.where}: cannot read {shown(path.name)} ({shown(exc)})") from None
            images.append({"id": image_id, "file_name": path.name, "width": width, "height": height})
            for label, cx, cy, w, h in parse_labels(label_file(path), len(self.names)):
                box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                                    "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        coco = COCO()
        coco.dataset = {"images": images, "annotations": annotations,
                        "categories": [{"id": k + 1, "name": name} for k, name in enumerate(self.names)]}
        with quiet_stdout():
            coco.createIndex()
        return coco

    def check_sample(self, sample_id: int) -> None:
        super().check_sample(sample_id)
        parse_labels(label_file(self.file_of(sample_id)), len(self.names))

    def check_labels(self, labels: range) -> None:
        if labels.stop - labels.start != len(self.names) or labels.start != 0:
            raise UserInputError(f"dataset.data: names lists {len(self.names)} classes (0..{len(self.names) - 1}), "
                                 f"the model's class indices are {labels.start}..{labels.stop - 1}")

    def category_of(self, model_labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(model_labels, dtype=np.int64)
        return np.where((labels >= 0) & (labels < len(self.names)), labels + 1, -1)
