"""Deterministic synthetic stereo pairs with exact disparity, in the KITTI 2015 layout.

The dataset exists so the sample stereo network can be trained, calibrated
and evaluated offline, with ground truth that is exact rather than
estimated. A scene is a stack of textured planar layers: a background plane
and a few foreground objects (rectangles, ellipses, polygons) in front of it,
each fronto-parallel or slanted, i.e. with a disparity that varies linearly
over the image. Layers are drawn back to front, into the left view at their
left-view position and into the right view at ``x - d(x, y)`` (``cv2.remap``
with the layer's own disparity plane), so occlusions are consistent between
the views and the left ground truth is simply the disparity of the front-most
layer at each pixel. Left pixels whose match would fall left of the right
image have no ground truth and are stored as 0 (invalid), as in KITTI.

Textures mix random-coloured "dead leaves", stripes, gradients and block
noise at several scales, so every layer carries detail to match. The views
differ by per-view, per-channel gain and offset, and the right view is
resampled (bilinear) while the left one is not. Sensor noise is left to the
training augmentation: per-pixel noise defeats PNG compression and would
roughly double the committed splits. All randomness comes from explicit
``numpy.random.Generator`` instances, so the output is reproducible byte for
byte.

Layout (KITTI 2015, disparity PNG = uint16 round(d * 256), 0 = invalid)::

    <split>/image_2/NNNNNN_10.png     left view, BGR
    <split>/image_3/NNNNNN_10.png     right view, BGR
    <split>/disp_occ_0/NNNNNN_10.png  left disparity

The committed splits are ``val`` (held out) and ``calib`` (drawn like the
training data, with its own seed); the training split is generated in memory
by ``tools/train_stereo.py`` with :func:`generate_split`.

Usage::

    python tools/make_stereo_dataset.py --out datasets/stereo
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

Image = np.ndarray
Plane = tuple[float, float, float]
Shape = tuple[int, int]

WIDTH, HEIGHT = 320, 240
MAX_DISPARITY = 48.0
# Layers are rendered on a canvas wider than the left view: the right view
# looks up left-view positions up to MAX_DISPARITY pixels right of the frame.
CANVAS_WIDTH = WIDTH + 64
BACKGROUND_DISPARITY = (1.5, 18.0)
MAX_SLANT = 0.08
OBJECTS = (3, 8)
OBJECT_SIZE = (24.0, 140.0)
MIN_OBJECT_PIXELS = 100
DISPARITY_SCALE = 256.0

TRAIN_SEED = 31337
VAL_SEED = 2015
CALIB_SEED = 4096
VAL_COUNT = 40
CALIB_COUNT = 40


@dataclass
class StereoPair:
    """Left and right BGR views and the left disparity in pixels (0 = invalid)."""

    left: Image
    right: Image
    disparity: np.ndarray


@dataclass
class Layer:
    """A textured planar surface, in left-view canvas coordinates."""

    texture: np.ndarray
    mask: np.ndarray
    plane: Plane

    def disparity(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Disparity ``a + b x + c y`` at left-view positions."""
        a, b, c = self.plane
        return a + b * xs + c * ys


# --------------------------------------------------------------------------- geometry


def _random_plane(
    rng: np.random.Generator, centre: np.ndarray, half_extent: np.ndarray, low: float, high: float, slant: bool
) -> Plane:
    """Disparity plane that stays within [low, high] over the box ``centre +- half_extent``."""
    d0 = rng.uniform(low, high)
    if not slant:
        return (d0, 0.0, 0.0)
    room = min(d0 - low, high - d0) * rng.uniform(0.3, 1.0)
    share = rng.uniform(0, 1)
    signs = rng.choice([-1.0, 1.0], 2)
    b = float(np.clip(signs[0] * share * room / half_extent[0], -MAX_SLANT, MAX_SLANT))
    c = float(np.clip(signs[1] * (1 - share) * room / half_extent[1], -MAX_SLANT, MAX_SLANT))
    return (d0 - b * centre[0] - c * centre[1], b, c)


def _polygon(rng: np.random.Generator, centre: np.ndarray, size: float) -> np.ndarray:
    """Vertices of a rotated rectangle or a random star-shaped polygon."""
    if rng.uniform() < 0.5:
        w, h = size * rng.uniform(0.4, 1.0, 2)
        return cv2.boxPoints(((float(centre[0]), float(centre[1])), (float(w), float(h)), rng.uniform(0, 180)))
    n = int(rng.integers(3, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = size / 2 * rng.uniform(0.45, 1.0, n)
    return np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)


def _object_mask(rng: np.random.Generator, centre: np.ndarray, size: float) -> np.ndarray:
    """Boolean canvas mask of a rectangle, ellipse or polygon (sub-pixel vertices)."""
    mask = np.zeros((HEIGHT, CANVAS_WIDTH), np.uint8)
    if rng.uniform() < 0.3:
        axes = size / 2 * rng.uniform(0.4, 1.0, 2)
        cv2.ellipse(
            mask, (int(centre[0] * 16), int(centre[1] * 16)), (int(axes[0] * 16), int(axes[1] * 16)),
            rng.uniform(0, 180), 0, 360, 1, -1, cv2.LINE_8, 4,
        )
    else:
        cv2.fillPoly(mask, [np.round(_polygon(rng, centre, size) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return mask.astype(bool)


# --------------------------------------------------------------------------- textures


def _base(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Flat random colour, or a linear blend between two colours at a random angle."""
    c0, c1 = rng.uniform(30, 225, (2, 3)).astype(np.float32)
    if rng.uniform() < 0.6:
        return np.broadcast_to(c0, (*shape, 3)).copy()
    angle = float(rng.uniform(0, 2 * np.pi))
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    t = np.cos(angle) * xs + np.sin(angle) * ys
    t = ((t - t.min()) / max(float(t.max() - t.min()), 1.0))[..., None]
    return c0 * (1 - t) + c1 * t


def _block_noise(rng: np.random.Generator, shape: Shape, cell: int, amplitude: float) -> np.ndarray:
    """Gaussian noise constant over ``cell`` x ``cell`` blocks, grey or coloured."""
    channels = 3 if rng.uniform() < 0.5 else 1
    grid = rng.normal(0, amplitude, (shape[0] // cell + 1, shape[1] // cell + 1, channels)).astype(np.float32)
    return np.repeat(np.repeat(grid, cell, 0), cell, 1)[: shape[0], : shape[1]]


def _noise(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Sum of block noise at 4, 8 and 16 pixels."""
    total = np.zeros((*shape, 1), np.float32)
    for cell in (4, 8, 16):
        total = total + _block_noise(rng, shape, cell, float(rng.uniform(8, 28)))
    return total


def _stripes(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Sine or square-wave stripes at a random angle, period and colour."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    angle = float(rng.uniform(0, np.pi))
    period = float(rng.uniform(4, 32))
    phase = float(rng.uniform(0, 2 * np.pi))
    wave = np.sin(2 * np.pi * (np.cos(angle) * xs + np.sin(angle) * ys) / period + phase)
    if rng.uniform() < 0.5:
        wave = np.sign(wave)
    colour = rng.uniform(-1, 1, 3).astype(np.float32) * np.float32(rng.uniform(15, 45))
    return wave[..., None] * colour


def _dead_leaves(rng: np.random.Generator, img: np.ndarray, density: float) -> None:
    """Overlapping flat-coloured discs and boxes in random colours: edges and corners to match."""
    height, width = img.shape[:2]
    for _ in range(max(1, round(density * height * width))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(3, 13))
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        if rng.uniform() < 0.5:
            cv2.circle(img, centre, radius, colour, -1, cv2.LINE_AA)
        else:
            corner = (centre[0] + int(rng.integers(3, 2 * radius)), centre[1] + int(rng.integers(3, 2 * radius)))
            cv2.rectangle(img, centre, corner, colour, -1)


def _texture(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Float32 BGR texture: dead leaves, multi-scale noise, or stripes, over a flat or graded base.

    Mostly piecewise-flat patterns: they carry plenty of detail to match yet
    keep the committed PNGs small (smooth or per-pixel noise roughly triples
    their size).
    """
    img = _base(rng, shape)
    kind = rng.uniform()
    if kind < 0.35:
        _dead_leaves(rng, img, float(rng.uniform(1 / 200, 1 / 70)))
    elif kind < 0.75:
        img += _noise(rng, shape)
    else:
        for _ in range(int(rng.integers(1, 3))):
            img += _stripes(rng, shape)
        _dead_leaves(rng, img, float(rng.uniform(1 / 2000, 1 / 500)))
    return np.clip(img, 0, 255)


def _object_texture(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Canvas-sized texture, filled only around the mask's bounding box."""
    ys, xs = np.nonzero(mask)
    y0, x0 = max(int(ys.min()) - 2, 0), max(int(xs.min()) - 2, 0)
    y1, x1 = min(int(ys.max()) + 3, HEIGHT), min(int(xs.max()) + 3, CANVAS_WIDTH)
    texture = np.zeros((HEIGHT, CANVAS_WIDTH, 3), np.float32)
    texture[y0:y1, x0:x1] = _texture(rng, (y1 - y0, x1 - x0))
    return texture


# --------------------------------------------------------------------------- scene


def _background(rng: np.random.Generator) -> Layer:
    """Full-canvas layer at small disparity, fronto-parallel or slanted."""
    centre = np.array([WIDTH / 2, HEIGHT / 2])
    plane = _random_plane(rng, centre, centre, *BACKGROUND_DISPARITY, slant=rng.uniform() < 0.65)
    return Layer(_texture(rng, (HEIGHT, CANVAS_WIDTH)), np.ones((HEIGHT, CANVAS_WIDTH), bool), plane)


def _foreground(rng: np.random.Generator, background: Layer) -> Layer | None:
    """Object in front of the background, up to MAX_DISPARITY; None if it missed the frame."""
    size = float(np.exp(rng.uniform(*np.log(OBJECT_SIZE))))
    centre = rng.uniform((0, 0), (WIDTH, HEIGHT))
    # Shapes fit within 0.71 * size of their centre (half diagonal of a square).
    half = np.full(2, 0.71 * size)
    corners = centre + half * np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]])
    behind = float(background.disparity(corners[:, 0], corners[:, 1]).max())
    plane = _random_plane(rng, centre, half, behind + 1.0, MAX_DISPARITY, slant=rng.uniform() < 0.5)
    mask = _object_mask(rng, centre, size)
    if mask[:, :WIDTH].sum() < MIN_OBJECT_PIXELS:
        return None
    return Layer(_object_texture(rng, mask), mask, plane)


def _mean_disparity(layer: Layer) -> float:
    """Average disparity over the layer's pixels."""
    ys, xs = np.nonzero(layer.mask)
    return float(layer.disparity(xs, ys).mean())


def _scene(rng: np.random.Generator) -> list[Layer]:
    """Background plus objects, ordered back to front by their mean disparity."""
    background = _background(rng)
    drawn = [_foreground(rng, background) for _ in range(int(rng.integers(OBJECTS[0], OBJECTS[1] + 1)))]
    return [background] + sorted((o for o in drawn if o is not None), key=_mean_disparity)


def render(layers: list[Layer]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite the layers into float left and right views and the exact left disparity."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    left = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    right = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    disparity = np.zeros((HEIGHT, WIDTH), np.float32)
    for layer in layers:
        mask = layer.mask[:, :WIDTH]
        left[mask] = layer.texture[:, :WIDTH][mask]
        disparity[mask] = layer.disparity(xs, ys)[mask]
        # Right pixel xr shows the left-view point xl with xl - d(xl, y) = xr.
        a, b, c = layer.plane
        map_x = ((xs + a + c * ys) / (1.0 - b)).astype(np.float32)
        texture = cv2.remap(layer.texture, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.remap(layer.mask.astype(np.float32), map_x, ys, cv2.INTER_LINEAR)[..., None]
        right = right * (1 - alpha) + texture * alpha
    disparity[xs - disparity < 0] = 0.0
    return left, right, disparity


def _exposure(rng: np.random.Generator, img: np.ndarray) -> Image:
    """Per-view gain and offset, slightly different per channel, quantized to uint8."""
    gain = rng.uniform(0.9, 1.1) * rng.uniform(0.98, 1.02, 3)
    offset = rng.uniform(-8, 8) + rng.uniform(-2, 2, 3)
    return np.clip(np.round(img * gain.astype(np.float32) + offset.astype(np.float32)), 0, 255).astype(np.uint8)


def generate_pair(rng: np.random.Generator) -> StereoPair:
    """Render one random scene into a stereo pair."""
    left, right, disparity = render(_scene(rng))
    return StereoPair(_exposure(rng, left), _exposure(rng, right), disparity)


def generate_split(count: int, seed: int) -> list[StereoPair]:
    """``count`` pairs from one seed."""
    rng = np.random.default_rng(seed)
    return [generate_pair(rng) for _ in range(count)]


def encode_disparity(disparity: np.ndarray) -> np.ndarray:
    """KITTI disparity PNG content: uint16 round(d * 256), 0 = invalid."""
    return np.round(disparity * DISPARITY_SCALE).astype(np.uint16)


def write_split(pairs: list[StereoPair], directory: Path) -> None:
    """Write pairs as ``NNNNNN_10.png`` in image_2, image_3 and disp_occ_0."""
    for sub in ("image_2", "image_3", "disp_occ_0"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    compression = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    for index, pair in enumerate(pairs):
        name = f"{index:06d}_10.png"
        cv2.imwrite(str(directory / "image_2" / name), pair.left, compression)
        cv2.imwrite(str(directory / "image_3" / name), pair.right, compression)
        cv2.imwrite(str(directory / "disp_occ_0" / name), encode_disparity(pair.disparity), compression)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/stereo"))
    args = parser.parse_args()

    for name, count, seed in (("val", VAL_COUNT, VAL_SEED), ("calib", CALIB_COUNT, CALIB_SEED)):
        write_split(generate_split(count, seed), args.out / name)
        print(f"wrote {count} pairs to {args.out / name}")


if __name__ == "__main__":
    main()
