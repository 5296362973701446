"""Stereo disparity: one row of error counts per pair (see `disparity_metric`), and disparity and error images
for the report: INT8 artefacts (checkerboards, blotches, lost thin structures) show in a picture long before
they move an average."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from quantflow.core.task import TASKS, DecodeSample, Task, fp32_and_int8, write_pictures
from quantflow.tasks.stereo.disparity import disparity_to_original
from quantflow.tasks.stereo.stereo_pairs import StereoPairs

ERROR_SCALE_PX = 3.0  # the KITTI outlier threshold: full colour = 3 px or more
# OpenCV's colour maps by the names matplotlib gives the same maps, which the report draws colour bars with
COLORMAPS = {"turbo": cv2.COLORMAP_TURBO, "inferno": cv2.COLORMAP_INFERNO}


def colorize(values: np.ndarray, top: float, colormap: str, invalid: np.ndarray | None = None) -> np.ndarray:
    """Values 0..top as an 8-bit colour image; `invalid` pixels black."""
    scaled = np.clip(np.nan_to_num(values, posinf=0.0) / max(top, 1e-6), 0, 1)
    image = cv2.applyColorMap((scaled * 255).astype(np.uint8), COLORMAPS[colormap])
    if invalid is not None:
        image[invalid] = 0
    return image


@TASKS.register("stereo")
class StereoTask(Task):
    name = "stereo"
    pictures_title = "Disparity maps"
    pictures_note = ("Per pair: FP32 disparity, INT8 disparity (same colour scale), |INT8 − FP32| and INT8 error "
                     "against the ground truth (0 to 3 px, black = no ground truth).")

    def pictures(self, decode: DecodeSample, dataset: StereoPairs, sample_ids: list[int], folder: Path) -> list[dict]:
        """For each sample: FP32 and INT8 disparity on one colour scale, |INT8 − FP32|, and INT8 error vs truth."""
        entries = []
        for sample_id in sample_ids:
            maps, geometry = fp32_and_int8(decode, sample_id, lambda decoded, geometry:
                                           disparity_to_original(decoded.disparity, geometry))
            truth = dataset.truth(sample_id, geometry.orig_size)
            invalid = ~(np.isfinite(truth) & (truth > 0))
            top = float(np.nanmax(np.where(invalid, np.nan, truth))) if not invalid.all() else float(maps["FP32"].max())
            difference = np.abs(maps["INT8"] - maps["FP32"])
            drawn = {  # kind → values, the value of full colour, colour map, pixels drawn black, what is shown
                "fp32_disparity": (maps["FP32"], top, "turbo", None, "disparity, px"),
                "int8_disparity": (maps["INT8"], top, "turbo", None, "disparity, px"),
                "int8_minus_fp32": (difference, ERROR_SCALE_PX, "inferno", None, "|INT8 − FP32|, px"),
                "int8_error": (np.abs(maps["INT8"] - truth), ERROR_SCALE_PX, "inferno", invalid,
                               "|INT8 − ground truth|, px"),
            }
            images = {kind: colorize(values, high, colormap, black)
                      for kind, (values, high, colormap, black, _) in drawn.items()}
            stem = f"{sample_id:04d}_{dataset.name_of(sample_id)}"
            entries.append({"sample": dataset.name_of(sample_id), "images": write_pictures(folder, stem, images),
                            "caption": f"INT8 − FP32: mean {difference.mean():.3f} px, max {difference.max():.2f} px",
                            "figures": {"mean_abs_difference": float(difference.mean()),
                                        "max_abs_difference": float(difference.max())},
                            "scales": {kind: {"colormap": colormap, "low": 0.0, "high": high, "label": label}
                                       for kind, (_, high, colormap, _, label) in drawn.items()}})
        return entries
