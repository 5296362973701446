"""Images with index masks, as Pascal VOC (SegmentationClass palette PNGs, 255 = ignore) and Cityscapes
(`*_gtFine_labelTrainIds.png` beside `*_leftImg8bit.png`, city sub-folders) ship them.

The samples are the masks (VOC has far more images than masks), optionally only those a split file names
(VOC's ImageSets/Segmentation/val.txt); each mask's image is found under `images` by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS, IMAGE_SUFFIXES
from quantflow.core.config_base import ExistingFile, ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.tasks.class_names import read_class_names
from quantflow.tasks.segmentation.mask_dataset import SegmentationDataset


def read_index_mask(path: Path, where: str) -> np.ndarray:
    """Class indices of a palette or single-channel PNG (OpenCV would turn a palette into colours)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "I;16", "I"):
                raise UserInputError(f"{where}: {shown(path.name)} is a {image.mode} image; expected class indices "
                                     "(a palette or single-channel PNG)")
            return np.asarray(image).astype(np.int64)
    except (UnidentifiedImageError, OSError) as exc:
        raise UserInputError(f"{where}: {shown(path.name)} is not a readable image ({shown(exc)})") from None


@ADAPTERS.register("index_masks")
class IndexMasks(SegmentationDataset):
    """Every mask is a sample; its image has the mask's name (less `mask_suffix`, plus `image_suffix`)."""

    where = "dataset.masks"

    class Config(ProviderConfig):
        images: ExistingFolder = Field(description="Folder of images (sub-folders mirror the masks').")
        masks: ExistingFolder = Field(description="Folder of index masks; every mask is a sample.")
        classes: ExistingFile | None = Field(default=None, description="Class names in index order, one per line.")
        ignore_index: int | None = Field(default=255, description="Mask value that is not scored.")
        mask_suffix: str = Field(default=".png", description="Ends every mask name (Cityscapes: "
                                 "_gtFine_labelTrainIds.png).")
        image_suffix: str = Field(default="", description="Follows the shared name in image names (Cityscapes: "
                                  "_leftImg8bit).")
        split: ExistingFile | None = Field(default=None, description="Names (without suffix) of the masks to use, "
                                           "one per line (VOC: ImageSets/Segmentation/val.txt).")

    def __init__(self, config: Config) -> None:
        masks = sorted(p for p in config.masks.rglob(f"*{config.mask_suffix}") if p.is_file())
        if config.split:
            wanted = {line.strip() for line in config.split.read_text(encoding="utf-8").splitlines() if line.strip()}
            masks = [m for m in masks if m.name[: -len(config.mask_suffix)] in wanted]
            found = {m.name[: -len(config.mask_suffix)] for m in masks}
            if wanted - found:
                raise UserInputError(f"dataset.split: {shown(sorted(wanted - found)[0])} has no mask "
                                     f"({config.mask_suffix}) in {shown(config.masks)}")
        if not masks:
            raise UserInputError(f"dataset.masks: no masks (*{config.mask_suffix}) in {shown(config.masks)}")
        self.masks = masks
        files = [self._image_for(mask, config) for mask in masks]
        names = read_class_names(config.classes, "dataset.classes") if config.classes else None
        source = shown(config.classes.name) if config.classes else "the model"
        super().__init__(config, files, names, source, config.ignore_index, files + masks,
                         "\n".join(names or []).encode())

    @staticmethod
    def _image_for(mask: Path, config: Config) -> Path:
        base = mask.name[: -len(config.mask_suffix)] + config.image_suffix
        folder = config.images / mask.parent.relative_to(config.masks)
        for suffix in sorted(IMAGE_SUFFIXES):
            for candidate in (folder / f"{base}{suffix}", folder / f"{base}{suffix.upper()}"):
                if candidate.is_file():
                    return candidate
        raise UserInputError(f"dataset.images: mask {shown(mask.name)} has no image {shown(base)}.* in "
                             f"{shown(folder)}")

    def truth_name(self, sample_id: int) -> str:
        return self.masks[sample_id - 1].name

    def read_truth(self, sample_id: int, size: tuple[int, int]) -> np.ndarray:
        return read_index_mask(self.masks[sample_id - 1], self.where)
