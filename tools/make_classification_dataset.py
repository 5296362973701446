"""Deterministic synthetic classification set: ten classes, five shapes each plain or patterned, one object
per image on the shapes set's cluttered backgrounds, in a colour that stands out from what lies under it.

Written in the ImageNet train layout (`val/CLASS/NAME.jpg`) with `classes.txt` (class index order) beside it;
calibration images go to one flat folder, as unlabeled data does. Images vary in size and aspect ratio, and the
object in size, position and rotation, so resize-and-crop preprocessing matters.

Usage::

    python tools/make_classification_dataset.py --out datasets/classification
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_saliency_dataset as saliency  # noqa: E402
import make_shapes_dataset as shapes  # noqa: E402

VAL_SEED = 7070
CALIB_SEED = 8080
VAL_PER_CLASS = 40
CALIB_COUNT = 200
CLASSES = [f"{shape}_{fill}" for shape in saliency.SHAPE_NAMES for fill in ("plain", "patterned")]
JPEG_QUALITY = 90


def render(rng: np.random.Generator, label: int) -> np.ndarray:
    """One image of class `label` (BGR uint8)."""
    width = int(rng.integers(96, 161))
    height = int(np.clip(width * rng.uniform(0.75, 1.33), 96, 160))
    image = shapes._background(rng, height, width).astype(np.float32)
    shape, fill = CLASSES[label].split("_")
    size = rng.uniform(0.45, 0.8) * min(height, width)
    centre = np.array([width, height]) / 2 + rng.uniform(-0.15, 0.15, 2) * min(height, width)
    alpha = saliency._soft_mask(rng, shape, size, centre, (height, width))[..., None]
    solid = shapes._contrasting_colour(rng, image.astype(np.uint8), alpha[..., 0] > 0.5).astype(np.float32)
    paint = np.broadcast_to(solid, image.shape)
    if fill == "patterned":  # half texture, half a colour that stands out: the outline stays visible
        paint = 0.5 * paint + 0.5 * saliency._texture(rng, height, width).astype(np.float32)
    image = image * (1 - alpha) + paint * alpha
    noise = rng.standard_normal(image.shape).astype(np.float32) * 2.0
    return np.clip(cv2.GaussianBlur(image, (3, 3), 0.6) + noise, 0, 255).astype(np.uint8)


def generate(count: int, seed: int) -> list[tuple[int, np.ndarray]]:
    """(label, image) pairs, labels cycling through the classes; the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [(index % len(CLASSES), render(rng, index % len(CLASSES))) for index in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/classification"))
    args = parser.parse_args()
    for index, (label, image) in enumerate(generate(VAL_PER_CLASS * len(CLASSES), VAL_SEED)):
        folder = args.out / "val" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"val_{index:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    (args.out / "calib").mkdir(parents=True, exist_ok=True)
    for index, (_, image) in enumerate(generate(CALIB_COUNT, CALIB_SEED)):
        cv2.imwrite(str(args.out / "calib" / f"calib_{index:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    (args.out / "classes.txt").write_text("\n".join(CLASSES) + "\n")


if __name__ == "__main__":
    main()
