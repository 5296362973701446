"""An image folder and a labels file of `file label` lines, the ILSVRC val ground-truth layout (Accuracy
Checker's `imagenet` annotation): `ILSVRC2012_val_00000001.JPEG 65`. A label is a class index or a class name.
Without a labels file the folder is annotation-free: FP32's top-1 class becomes each image's label."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from quantflow.core.adapter import ADAPTERS, IMAGE_SUFFIXES
from quantflow.core.config_base import ExistingFile, ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.tasks.class_names import read_class_names
from quantflow.tasks.classification.dataset import ClassificationDataset


def read_labels(path: Path, images: Path, names: list[str] | None) -> tuple[list[Path], list[int]]:
    """The listed files (which must exist under `images`) and their class indices, in the file's order."""
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserInputError(f"dataset.labels: {shown(path.name)} is not a text file (not UTF-8)") from None
    index = {name: i for i, name in enumerate(names or [])}
    files, labels, seen = [], [], set()
    for number, line in enumerate(lines, 1):
        fields = line.rsplit(maxsplit=1)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"dataset.labels: {shown(path.name)} line {number}"
        if len(fields) != 2:
            raise UserInputError(f"{where}: expected 'file label', got {shown(line.strip())!r}")
        name, label = fields
        if label.lstrip("-").isdigit():
            label_index = int(label)
        elif label in index:
            label_index = index[label]
        else:
            raise UserInputError(f"{where}: label {shown(label)!r} is neither a class index nor a class name")
        if label_index < 0 or (names is not None and label_index >= len(names)):
            count = f"the {len(names)} classes of dataset.classes" if names is not None else "class indices"
            raise UserInputError(f"{where}: class {label_index} is beyond {count}")
        file = Path(os.path.normpath(images / name))  # lexical: a symlinked image stays where the folder has it
        if not file.is_relative_to(images) or not file.is_file():
            raise UserInputError(f"{where}: {shown(name)} is not an image in {shown(images)}")
        if file in seen:
            raise UserInputError(f"{where}: {shown(name)} is labelled twice")
        seen.add(file)
        files.append(file)
        labels.append(label_index)
    if not files:
        raise UserInputError(f"dataset.labels: {shown(path.name)} labels no images (expected 'file label' lines)")
    return files, labels


@ADAPTERS.register("image_labels")
class ImageLabels(ClassificationDataset):
    """Images named by the labels file (all images of the folder, sorted, when there is none)."""

    where = "dataset.images"

    class Config(ProviderConfig):
        images: ExistingFolder = Field(description="Folder of images.")
        labels: ExistingFile | None = Field(
            default=None, description="`file label` lines (label: class index or name); none: annotation-free.")
        classes: ExistingFile | None = Field(default=None, description="Class names in index order, one per line.")
        pseudo_label_threshold: float = Field(
            default=0.0, ge=0, le=1,
            description="Annotation-free: images whose FP32 top-1 probability is below this are not scored.")

    def __init__(self, config: Config) -> None:
        names = read_class_names(config.classes, "dataset.classes") if config.classes else None
        source = shown(config.classes.name) if config.classes else "the model"
        if config.labels:
            files, labels = read_labels(config.labels, config.images, names)
            extra = config.labels.read_bytes()
        else:
            files = sorted(p for p in config.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            labels, extra = None, b""
            if not files:
                raise UserInputError(f"dataset.images: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in "
                                     f"{shown(config.images)}")
        super().__init__(config, files, labels, names, source, extra + "\n".join(names or []).encode())

    def name_of(self, sample_id: int) -> str:
        return self.files[sample_id - 1].relative_to(self.config.images).as_posix()
