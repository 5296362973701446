"""Class sub-folders, the ImageNet train layout (and torchvision's ImageFolder): `root/CLASS/image.jpg`."""

from __future__ import annotations

from pydantic import Field

from quantflow.core.adapter import ADAPTERS, IMAGE_SUFFIXES
from quantflow.core.config_base import ExistingFile, ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.tasks.class_names import read_class_names
from quantflow.tasks.classification.dataset import ClassificationDataset


@ADAPTERS.register("class_folders")
class ClassFolders(ClassificationDataset):
    """One folder per class; class indices follow `classes` when given, else the sorted folder names."""

    where = "dataset.root"

    class Config(ProviderConfig):
        root: ExistingFolder = Field(description="Folder holding one sub-folder of images per class.")
        classes: ExistingFile | None = Field(
            default=None, description="Class names in index order (one per line); default: sorted folder names.")

    def __init__(self, config: Config) -> None:
        folders = sorted(p for p in config.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise UserInputError(f"dataset.root: {shown(config.root)} has no class sub-folders")
        if config.classes:
            names, source = read_class_names(config.classes, "dataset.classes"), shown(config.classes.name)
            unknown = [f.name for f in folders if f.name not in names]
            if unknown:
                raise UserInputError(f"dataset.root: folder {shown(unknown[0])!r} is not a class in {source}")
        else:
            names, source = [f.name for f in folders], f"{shown(config.root.name)}/ (its sub-folders)"
        index = {name: i for i, name in enumerate(names)}
        files, labels = [], []
        for folder in folders:
            images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            files += images
            labels += [index[folder.name]] * len(images)
        if not files:
            raise UserInputError(f"dataset.root: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class "
                                 f"folders of {shown(config.root)}")
        super().__init__(config, files, labels, names, source, "\n".join(names).encode())

    def name_of(self, sample_id: int) -> str:
        path = self.files[sample_id - 1]
        return f"{path.parent.name}/{path.name}"
