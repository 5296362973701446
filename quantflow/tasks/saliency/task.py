"""Salient-object detection: one row per image (see `saliency_metric`); for the report, the FP32 and INT8
foreground maps (at 0.5) over a few images and the pixels where they disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantflow.core.task import TASKS, DecodeSample, Task, fp32_and_int8, write_pictures
from quantflow.tasks.saliency.salient_masks import SalientMasks
from quantflow.tasks.segmentation.overlay import disagreement, overlay


@TASKS.register("saliency")
class SaliencyTask(Task):
    name = "saliency"
    pictures_title = "Foreground masks"
    pictures_note = ("Per image: the FP32 and INT8 foreground (probability ≥ 0.5) over the image and, in red, the "
                     "pixels where INT8's mask differs from FP32's.")

    def pictures(self, decode: DecodeSample, dataset: SalientMasks, sample_ids: list[int],
                 folder: Path) -> list[dict]:
        entries = []
        for sample_id in sample_ids:
            image = dataset.load_image(sample_id)
            maps, _ = fp32_and_int8(decode, sample_id, lambda decoded, geometry: decoded.to_original(geometry))
            masks = {name: (m >= 0.5).astype(np.uint16) for name, m in maps.items()}
            differ = masks["FP32"] != masks["INT8"]
            difference = np.abs(maps["INT8"] - maps["FP32"])
            images = {"fp32_mask": overlay(image, masks["FP32"], 2), "int8_mask": overlay(image, masks["INT8"], 2),
                      "disagreement": disagreement(image, differ)}
            stem = f"{sample_id:04d}_{dataset.name_of(sample_id)}"
            entries.append({"sample": dataset.name_of(sample_id), "images": write_pictures(folder, stem, images),
                            "caption": f"masks differ on {100 * differ.mean():.2f} % of the pixels; |INT8 − FP32| "
                                       f"mean {difference.mean():.4f}, max {difference.max():.3f}",
                            "figures": {"disagreeing_pixels": float(differ.mean()),
                                        "mean_abs_difference": float(difference.mean())}})
        return entries
