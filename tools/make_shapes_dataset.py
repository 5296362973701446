"""Deterministic synthetic COCO-format detection dataset of coloured shapes.

The dataset exists so the sample detector can be trained, calibrated and
evaluated offline without downloading anything. The held-out ``val`` split
mimics the quirks of COCO val2017 that a real evaluation pipeline must cope
with: sparse category ids, ``iscrowd`` regions, images without annotations,
grayscale JPEGs and varying image sizes. All randomness comes from explicit
``numpy.random.Generator`` instances, so the output is reproducible byte for
byte.

Usage::

    python tools/make_shapes_dataset.py --out datasets/shapes
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

Image = np.ndarray
Sample = tuple[str, Image]

# Sparse ids on purpose: evaluation code must not assume ids are 1..N.
CATEGORIES: list[dict[str, Any]] = [
    {"id": 1, "name": "circle", "supercategory": "round"},
    {"id": 3, "name": "square", "supercategory": "polygon"},
    {"id": 7, "name": "triangle", "supercategory": "polygon"},
    {"id": 10, "name": "star", "supercategory": "polygon"},
    {"id": 15, "name": "cross", "supercategory": "polygon"},
]
CATEGORY_IDS: list[int] = [c["id"] for c in CATEGORIES]

TRAIN_SEED = 1234
VAL_SEED = 20170
CALIB_SEED = 777
VAL_COUNT = 200
CALIB_COUNT = 300
VAL_CROWD_IMAGES = 2
JPEG_QUALITY = 85

MIN_OBJECT_PX = 12
MAX_OBJECTS = 6
MIN_VISIBLE_FRACTION = 0.6
MIN_COLOUR_CONTRAST = 80.0
CROWD_MEMBERS = (7, 11)


@dataclass
class Instance:
    """One drawn object: its category and the mask of its visible pixels."""

    category_id: int
    mask: np.ndarray
    iscrowd: int = 0


def _background(rng: np.random.Generator, height: int, width: int) -> Image:
    """Gradient plus smooth noise, lines and blobs: clutter that is not an object."""
    xs = np.arange(width, dtype=np.float32) / width
    ys = np.arange(height, dtype=np.float32) / height
    c0, c1 = rng.uniform(30, 225, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = ((np.cos(angle) * xs[None, :] + np.sin(angle) * ys[:, None] + 1.0) / 2.0)[..., None]
    img = c0 * (1 - t) + c1 * t

    coarse = rng.normal(0, 12, size=(height // 24 + 2, width // 24 + 2, 3)).astype(np.float32)
    img += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)

    for _ in range(int(rng.integers(2, 9))):
        p0 = tuple(int(v) for v in rng.integers(0, (width, height)))
        p1 = tuple(int(v) for v in rng.integers(0, (width, height)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(img, p0, p1, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 4))):
        _draw_blob(rng, img)
    return img


def _draw_blob(rng: np.random.Generator, img: Image) -> None:
    """Blurred low-contrast irregular patch, so the detector learns to ignore it."""
    height, width = img.shape[:2]
    centre = rng.uniform((0, 0), (width, height))
    radius = rng.uniform(8, 40)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = radius * rng.uniform(0.4, 1.0, 9)
    pts = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 12, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 12, (width, height))
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [(pts - (x0, y0)).astype(np.int32)], 255)
    alpha = cv2.GaussianBlur(mask, (0, 0), 4).astype(np.float32)[..., None] / 255.0 * 0.5
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    roi = img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def _star_points(radius: float, rng: np.random.Generator) -> np.ndarray:
    """Five-pointed star outline centred at the origin."""
    inner = radius * rng.uniform(0.4, 0.5)
    angles = np.arange(10) * np.pi / 5 - np.pi / 2
    radii = np.where(np.arange(10) % 2 == 0, radius, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)


def _cross_points(radius: float, rng: np.random.Generator) -> np.ndarray:
    """Plus-sign outline centred at the origin."""
    a, r = radius * rng.uniform(0.3, 0.4), radius
    return np.array(
        [[-a, -r], [a, -r], [a, -a], [r, -a], [r, a], [a, a], [a, r], [-a, r],
         [-a, a], [-r, a], [-r, -a], [-a, -a]],
        np.float64,
    )


def _shape_points(name: str, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Outline of a polygonal shape (or a many-sided circle) centred at the origin."""
    if name == "circle":
        angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        return radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    if name == "square":
        return radius / np.sqrt(2) * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    if name == "triangle":
        angles = np.array([-90.0, 30.0, 150.0]) * np.pi / 180
        return radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    if name == "star":
        return _star_points(radius, rng)
    return _cross_points(radius, rng)


def _shape_mask(
    rng: np.random.Generator, name: str, size: float, centre: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Rasterise a randomly rotated and slightly stretched shape into a boolean mask."""
    pts = _shape_points(name, size / 2, rng)
    if name != "circle":
        theta = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        pts = pts @ rot.T
    pts = pts * rng.uniform(0.85, 1.15, 2) + centre
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _contrasting_colour(rng: np.random.Generator, img: Image, mask: np.ndarray) -> np.ndarray:
    """Pick a fill colour that stands out from the background under the mask."""
    under = img[mask].reshape(-1, 3).mean(0)
    colour = rng.integers(0, 256, 3)
    for _ in range(20):
        if np.linalg.norm(colour - under) >= MIN_COLOUR_CONTRAST:
            break
        colour = rng.integers(0, 256, 3)
    return colour.astype(np.uint8)


def _paint(
    rng: np.random.Generator, img: Image, mask: np.ndarray, instances: list[Instance]
) -> bool:
    """Paint ``mask`` on top unless it hides too much of an earlier object."""
    for inst in instances:
        visible = inst.mask & ~mask
        if visible.sum() < MIN_VISIBLE_FRACTION * inst.mask.sum():
            return False
    for inst in instances:
        inst.mask &= ~mask
    shade = rng.uniform(0.85, 1.0)
    img[mask] = (_contrasting_colour(rng, img, mask) * shade).astype(np.uint8)
    return True


def _random_size(rng: np.random.Generator, height: int, width: int) -> float:
    """Object size between MIN_OBJECT_PX and half the shorter side.

    Log-size is drawn with a density rising towards large sizes; a plain
    log-uniform draw makes most objects COCO "small" (area < 32^2, shapes
    fill only part of their box), far more than in real COCO.
    """
    low, high = np.log(MIN_OBJECT_PX), np.log(min(height, width) / 2)
    return float(np.exp(low + (high - low) * np.sqrt(rng.uniform())))


def _add_object(rng: np.random.Generator, img: Image, instances: list[Instance]) -> None:
    """Try a few placements of one random shape and keep the first acceptable one."""
    height, width = img.shape[:2]
    cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    for _ in range(10):
        size = _random_size(rng, height, width)
        centre = rng.uniform((size / 2, size / 2), (width - size / 2, height - size / 2))
        mask = _shape_mask(rng, cat["name"], size, centre, (height, width))
        if mask.sum() >= 20 and _paint(rng, img, mask, instances):
            instances.append(Instance(cat["id"], mask))
            return


def _add_crowd(rng: np.random.Generator, img: Image, instances: list[Instance]) -> None:
    """Cluster of small same-class shapes, annotated as a single iscrowd region."""
    height, width = img.shape[:2]
    cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    extent = rng.uniform(60, 90)
    corner = rng.uniform((0, 0), (width - extent, height - extent))
    crowd = np.zeros((height, width), bool)
    for _ in range(int(rng.integers(*CROWD_MEMBERS))):
        size = rng.uniform(MIN_OBJECT_PX, 20)
        centre = corner + rng.uniform(size / 2, extent - size / 2, 2)
        mask = _shape_mask(rng, cat["name"], size, centre, (height, width))
        img[mask] = _contrasting_colour(rng, img, mask)
        crowd |= mask
    instances.append(Instance(cat["id"], crowd, iscrowd=1))


def _finish(rng: np.random.Generator, img: Image, grayscale: bool) -> Image:
    """Sensor-like noise and a slight blur; optionally collapse to one channel."""
    noise = rng.standard_normal(img.shape, dtype=np.float32) * 2.0
    out = np.clip(cv2.GaussianBlur(img, (3, 3), 0.6) + noise, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_BGR2GRAY) if grayscale else out


def _rle(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE (column-major run lengths starting with zeros)."""
    flat = np.asfortranarray(mask).ravel(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of the visible pixels as COCO polygons."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    simplified = [cv2.approxPolyDP(c, 1.0, True) for c in contours]
    return [c.reshape(-1).astype(float).tolist() for c in simplified if len(c) >= 3]


def _annotation(inst: Instance, ann_id: int, image_id: int) -> dict[str, Any]:
    """COCO annotation whose box is the exact extent of the visible pixels."""
    ys, xs = np.nonzero(inst.mask)
    x0, y0 = float(xs.min()), float(ys.min())
    bbox = [x0, y0, float(xs.max()) + 1.0 - x0, float(ys.max()) + 1.0 - y0]
    segmentation = _rle(inst.mask) if inst.iscrowd else _polygons(inst.mask)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": inst.category_id,
        "bbox": bbox,
        "area": float(inst.mask.sum()),
        "iscrowd": inst.iscrowd,
        "segmentation": segmentation,
    }


def _pick(rng: np.random.Generator, count: int, k: int, taken: set[int]) -> set[int]:
    """Choose k distinct image indices not already used for another special role."""
    free = np.array(sorted(set(range(count)) - taken), np.int64)
    return {int(i) for i in rng.choice(free, size=min(k, len(free)), replace=False)}


def _render_image(
    rng: np.random.Generator, n_objects: int, crowd: bool, grayscale: bool
) -> tuple[Image, list[Instance]]:
    """Draw one image (random size and aspect ratio) and its visible instances."""
    width = int(rng.integers(240, 361))
    height = int(np.clip(width * rng.uniform(0.6, 1.4), 200, 360))
    img = _background(rng, height, width)
    instances: list[Instance] = []
    if crowd:
        _add_crowd(rng, img, instances)
    for _ in range(n_objects):
        _add_object(rng, img, instances)
    return _finish(rng, img, grayscale), instances


def generate_split(
    name: str, count: int, seed: int, crowd_images: int = 0
) -> tuple[list[Sample], dict[str, Any]]:
    """Render ``count`` images and their COCO dict.

    Returns ``(samples, coco)`` where each sample is ``(file_name, image)``;
    images are BGR uint8, except the few grayscale ones, which are 2-D so that
    they are saved as single-channel JPEGs.
    """
    rng = np.random.default_rng(seed)
    image_ids = sorted(int(i) for i in rng.choice(1_000_000, size=count, replace=False))
    empty = _pick(rng, count, max(3, round(0.04 * count)), set())
    gray = _pick(rng, count, max(2, round(0.02 * count)), empty)
    crowds = _pick(rng, count, crowd_images, empty | gray)

    samples: list[Sample] = []
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index, image_id in enumerate(image_ids):
        n_objects = 0 if index in empty else int(rng.integers(1, MAX_OBJECTS + 1))
        img, instances = _render_image(rng, n_objects, index in crowds, index in gray)
        file_name = f"{image_id:012d}.jpg"
        samples.append((file_name, img))
        images.append(_image_entry(image_id, file_name, img))
        for inst in instances:
            annotations.append(_annotation(inst, len(annotations) + 1, image_id))
    return samples, coco_dict(f"quantflow synthetic shapes ({name})", images, annotations, CATEGORIES)


def _image_entry(image_id: int, file_name: str, img: Image) -> dict[str, Any]:
    """COCO ``images`` record."""
    return {
        "id": image_id,
        "file_name": file_name,
        "width": int(img.shape[1]),
        "height": int(img.shape[0]),
        "license": 1,
        "date_captured": "2024-01-01 00:00:00",
    }


def coco_dict(description: str, images: list[dict], annotations: list[dict], categories: list[dict]) -> dict[str, Any]:
    """Assemble the top-level COCO structure with fixed, timestamp-free metadata (shared by the sample sets)."""
    return {
        "info": {
            "description": description,
            "version": "1.0",
            "year": 2024,
            "contributor": "quantflow",
            "date_created": "2024-01-01",
        },
        "licenses": [{"id": 1, "name": "CC0 1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def write_images(samples: list[Sample], directory: Path) -> None:
    """Save samples as JPEGs with fixed quality (the encoder is deterministic)."""
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, img in samples:
        cv2.imwrite(str(directory / file_name), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/shapes"))
    args = parser.parse_args()

    val_samples, val_coco = generate_split("val", VAL_COUNT, VAL_SEED, VAL_CROWD_IMAGES)
    write_images(val_samples, args.out / "val")
    (args.out / "val.json").write_text(json.dumps(val_coco, separators=(",", ":")) + "\n")

    calib_samples, _ = generate_split("calib", CALIB_COUNT, CALIB_SEED)
    write_images(calib_samples, args.out / "calib")


if __name__ == "__main__":
    main()
