"""COCO instance annotations as semantic masks: each image's polygons and RLEs decoded with pycocotools' mask
API into one class map, class 0 the background and categories 1..K in category-id order. Pixels two classes
claim get the ignore index 255, as torchvision's COCO segmentation reference does."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from quantflow.core.adapter import ADAPTERS
from quantflow.core.config_base import ExistingFile, ExistingFolder, ProviderConfig
from quantflow.core.errors import UserInputError, shown
from quantflow.tasks.coco_format import load_coco, read_coco_image
from quantflow.tasks.segmentation.mask_dataset import SegmentationDataset

IGNORE = 255


@ADAPTERS.register("coco_masks")
class CocoMasks(SegmentationDataset):
    """Every image of the json is a sample; an image without annotations is all background."""

    where = "dataset.annotations"

    class Config(ProviderConfig):
        annotations: ExistingFile = Field(description="COCO instances json with segmentation polygons or RLEs.")
        images: ExistingFolder = Field(description="Folder holding the files named in the json.")

    def __init__(self, config: Config) -> None:
        self.coco = load_coco(config.annotations, "dataset.annotations")
        self.image_ids = sorted(self.coco.imgs)
        self.category_index = {c: i + 1 for i, c in enumerate(sorted(self.coco.cats))}
        names = ["background"] + [self.coco.cats[c]["name"] for c in sorted(self.coco.cats)]
        files = [config.images / self.coco.imgs[i]["file_name"] for i in self.image_ids]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise UserInputError(f"dataset.images: file not found: {shown(missing[0].name)}")
        lacking = next((a for a in self.coco.dataset["annotations"] if not a.get("segmentation")), None)
        if lacking is not None:
            raise UserInputError(f"dataset.annotations: annotation {lacking['id']} has no segmentation (expected "
                                 "polygons or an RLE)")
        super().__init__(config, files, names, f"{shown(config.annotations.name)} (background + categories)",
                         IGNORE, files, config.annotations.read_bytes())

    def load_image(self, sample_id: int) -> np.ndarray:
        image_id = self.image_ids[sample_id - 1]
        return read_coco_image(self.coco, image_id, self.files[sample_id - 1], "dataset.images")

    def truth_name(self, sample_id: int) -> str:
        return f"the masks of {self.files[sample_id - 1].name}"

    def read_truth(self, sample_id: int, size: tuple[int, int]) -> np.ndarray:
        image_id = self.image_ids[sample_id - 1]
        info = self.coco.imgs[image_id]
        claimed = np.zeros((info["height"], info["width"]), np.int64)  # the first class to claim each pixel
        conflict = np.zeros(claimed.shape, bool)
        for annotation in self.coco.imgToAnns.get(image_id, []):
            try:
                mask = self.coco.annToMask(annotation).astype(bool)
            except Exception as exc:  # pycocotools raises bare TypeErrors/IndexErrors on malformed polygons
                raise UserInputError(f"dataset.annotations: annotation {annotation['id']} has a malformed "
                                     f"segmentation ({shown(exc)})") from None
            label = self.category_index[annotation["category_id"]]
            conflict |= mask & (claimed > 0) & (claimed != label)
            claimed[mask & (claimed == 0)] = label
        claimed[conflict] = IGNORE
        return claimed
