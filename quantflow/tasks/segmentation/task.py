"""Semantic segmentation: the non-zero confusion cells of each image as rows (see `mean_iou`), and for the
report the FP32 and INT8 class maps over a few images with the pixels where they disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantflow.core.task import TASKS, DecodeSample, Task, fp32_and_int8, write_pictures
from quantflow.tasks.segmentation.mask_dataset import SegmentationDataset
from quantflow.tasks.segmentation.mean_iou import iou_per_class
from quantflow.tasks.segmentation.overlay import disagreement, overlay


@TASKS.register("segmentation")
class SegmentationTask(Task):
    name = "segmentation"
    pictures_title = "Segmentation masks"
    pictures_note = ("Per image: the FP32 and INT8 class maps over the image (VOC colours, background clear) and, "
                     "in red, the pixels where INT8 differs from FP32.")

    def pictures(self, decode: DecodeSample, dataset: SegmentationDataset, sample_ids: list[int],
                 folder: Path) -> list[dict]:
        classes = len(dataset.names)
        entries = []
        for sample_id in sample_ids:
            image = dataset.load_image(sample_id)
            maps, _ = fp32_and_int8(decode, sample_id, lambda decoded, geometry:
                                    np.minimum(decoded.to_original(geometry), classes - 1))
            differ = maps["FP32"] != maps["INT8"]
            confusion = np.zeros((classes, classes))
            np.add.at(confusion, (maps["FP32"].ravel(), maps["INT8"].ravel()), 1)
            agreement_iou = float(np.nanmean(iou_per_class(confusion)))
            images = {"fp32_mask": overlay(image, maps["FP32"], classes),
                      "int8_mask": overlay(image, maps["INT8"], classes), "disagreement": disagreement(image, differ)}
            stem = f"{sample_id:04d}_{dataset.name_of(sample_id)}"
            entries.append({"sample": dataset.name_of(sample_id), "images": write_pictures(folder, stem, images),
                            "caption": f"INT8 differs from FP32 on {100 * differ.mean():.2f} % of the pixels "
                                       f"(mIoU of INT8 against FP32 {agreement_iou:.3f})",
                            "figures": {"disagreeing_pixels": float(differ.mean()),
                                        "miou_against_fp32": agreement_iou}})
        return entries
