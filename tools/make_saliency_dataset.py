"""Deterministic synthetic salient-object dataset: textured foreground shapes on cluttered backgrounds.

Each image holds one or two large objects whose texture (stripes, checks, dots or grain) sets them apart from a
background of gradients, lines and translucent blobs, the clutter of the shapes set. Masks are exact and grey
(0..255, anti-aliased at the edges) in the DUTS / ECSSD layout: `images/NAME.jpg` beside `masks/NAME.png`.
Images vary in size and aspect ratio so that masks must be resized back to the original image.

Usage::

    python tools/make_saliency_dataset.py --out datasets/saliency
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_shapes_dataset as shapes  # noqa: E402

VAL_SEED = 5150
CALIB_SEED = 6160
VAL_COUNT = 120
CALIB_COUNT = 100
SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross")
TEXTURES = ("stripes", "checks", "dots", "grain")
JPEG_QUALITY = 90


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A two-colour texture covering the whole image (BGR uint8)."""
    a, b = rng.integers(0, 256, (2, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    period = rng.uniform(6, 14)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        t = (np.sin((np.cos(angle) * xs + np.sin(angle) * ys) * 2 * np.pi / period) > 0).astype(np.float32)
    elif kind == "checks":
        t = ((np.floor(xs / period) + np.floor(ys / period)) % 2).astype(np.float32)
    elif kind == "dots":
        t = (((xs % period) - period / 2) ** 2 + ((ys % period) - period / 2) ** 2 < (period / 3) ** 2)
        t = t.astype(np.float32)
    else:
        grain = rng.uniform(0, 1, (height // 4 + 1, width // 4 + 1)).astype(np.float32)
        t = cv2.resize(grain, (width, height), interpolation=cv2.INTER_LINEAR)
    return (a * (1 - t[..., None]) + b * t[..., None]).astype(np.uint8)


def _soft_mask(rng: np.random.Generator, name: str, size: float, centre: np.ndarray,
               shape: tuple[int, int]) -> np.ndarray:
    """A shape drawn at 4x and averaged down: float 0..1 with anti-aliased edges."""
    big = shapes._shape_mask(rng, name, size * 4, centre * 4 + 1.5, (shape[0] * 4, shape[1] * 4))
    return cv2.resize(big.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def render(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (BGR uint8) and its saliency mask (uint8 0..255)."""
    image = shapes._background(rng, height, width).astype(np.float32)
    mask = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        size = rng.uniform(0.35, 0.7) * min(height, width)
        centre = rng.uniform((size / 2, size / 2), (width - size / 2, height - size / 2))
        alpha = _soft_mask(rng, SHAPE_NAMES[int(rng.integers(len(SHAPE_NAMES)))], size, centre, (height, width))
        image = image * (1 - alpha[..., None]) + _texture(rng, height, width) * alpha[..., None]
        mask = np.maximum(mask, alpha)
    noise = rng.standard_normal(image.shape).astype(np.float32) * 2.0
    image = np.clip(cv2.GaussianBlur(image, (3, 3), 0.6) + noise, 0, 255).astype(np.uint8)
    return image, np.round(mask * 255).astype(np.uint8)


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width): 180..320 wide, aspect 0.7..1.4."""
    width = int(rng.integers(180, 321))
    return int(np.clip(width * rng.uniform(0.7, 1.4), 160, 320)), width


def generate(count: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(stem, image, mask) triples, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [(f"sal_{seed}_{index:04d}", *render(rng, *random_size(rng))) for index in range(count)]


def write(samples: list[tuple[str, np.ndarray, np.ndarray]], folder: Path, with_masks: bool) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    if with_masks:
        (folder / "masks").mkdir(parents=True, exist_ok=True)
    for stem, image, mask in samples:
        cv2.imwrite(str(folder / "images" / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if with_masks:
            cv2.imwrite(str(folder / "masks" / f"{stem}.png"), mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/saliency"))
    args = parser.parse_args()
    write(generate(VAL_COUNT, VAL_SEED), args.out / "val", with_masks=True)
    write(generate(CALIB_COUNT, CALIB_SEED), args.out / "calib", with_masks=False)


if __name__ == "__main__":
    main()
