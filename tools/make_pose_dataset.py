"""Deterministic synthetic COCO-keypoints dataset of articulated figures.

The dataset exists so the sample top-down pose model can be trained,
calibrated and evaluated offline without downloading anything. Each figure
is a kinematic tree (torso, head, arms, legs) with random joint angles and
scale, drawn as tapered limbs with a face, facing the camera, so its left
side appears on the image right. Figures overlap each other and are partly
covered by occluders; the annotations follow COCO person_keypoints: 17
keypoints in COCO order, v=2 visible, v=1 labelled but hidden, v=0 (at 0,0)
outside the image, and a box and area taken from the figure's visible
pixels. All randomness comes from explicit ``numpy.random.Generator``
instances, so the output is reproducible byte for byte.

Usage::

    python tools/make_pose_dataset.py --out datasets/pose
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from make_shapes_dataset import coco_dict

Image = np.ndarray
Sample = tuple[str, Image]

KEYPOINT_NAMES: list[str] = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
# 1-based pairs, as in COCO's person_keypoints_val2017.json.
SKELETON: list[list[int]] = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
    [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]
CATEGORIES: list[dict[str, Any]] = [
    {"supercategory": "person", "id": 1, "name": "person", "keypoints": KEYPOINT_NAMES, "skeleton": SKELETON}
]
NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = range(9)
L_WRIST, R_WRIST, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = range(9, 17)

TRAIN_SEED = 4242
VAL_SEED = 31337
CALIB_SEED = 909
VAL_COUNT = 150
CALIB_COUNT = 60
IMAGE_WIDTH, IMAGE_HEIGHT = 320, 240
JPEG_QUALITY = 92

MIN_HEIGHT, MAX_HEIGHT = 50.0, 220.0
MAX_FIGURES = 3
OCCLUDER_PROBABILITY = 0.3
MIN_VISIBLE_FRACTION = 0.5
# The figure's left limbs are drawn a little darker than its right ones.
LEFT_SHADE = 0.8
OCCLUDER_ID = 255


@dataclass
class Pose:
    """Keypoints of one figure (pelvis at the origin, image axes) plus what drawing needs."""

    height: float
    keypoints: np.ndarray  # [17, 2]
    hidden: np.ndarray  # [17] bool: face points turned away behind the head
    neck: np.ndarray
    head: np.ndarray
    head_radius: float
    head_angle: float  # angle of the head's down axis (see _down)
    torso_angle: float  # angle of the torso's down axis

    def shifted(self, offset: np.ndarray) -> Pose:
        """The same pose translated by ``offset``."""
        return Pose(
            self.height, self.keypoints + offset, self.hidden, self.neck + offset, self.head + offset,
            self.head_radius, self.head_angle, self.torso_angle,
        )


@dataclass
class Palette:
    """Colours of one figure (BGR)."""

    skin: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    hair: np.ndarray


def _down(angle: float) -> np.ndarray:
    """Unit vector of ``angle`` radians measured from image-down towards image-right."""
    return np.array([np.sin(angle), np.cos(angle)])


def _right(angle: float) -> np.ndarray:
    """Image-right axis of a body part whose down axis is ``_down(angle)``."""
    return np.array([np.cos(angle), -np.sin(angle)])


# --------------------------------------------------------------------------- pose


def _face(head: np.ndarray, radius: float, angle: float, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Nose, eyes and ears on a head sphere turned by ``yaw``; returns points and which are behind it."""
    # (longitude on the sphere, offset along the head's down axis in radii)
    features = [(0.0, 0.25), (0.5, -0.15), (-0.5, -0.15), (np.pi / 2, -0.05), (-np.pi / 2, -0.05)]
    points, hidden = [], []
    for longitude, drop in features:
        side = radius * np.sin(longitude + yaw)
        points.append(head + side * _right(angle) + drop * radius * _down(angle))
        hidden.append(np.cos(longitude + yaw) < -0.3)
    return np.array(points), np.array(hidden)


def _limb(
    root: np.ndarray, base: float, side: int, angles: tuple[float, float], lengths: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Two-segment chain; angles are outward from the torso's down axis (``side`` +1 left, -1 right)."""
    middle = root + lengths[0] * _down(base + side * angles[0])
    end = middle + lengths[1] * _down(base + side * (angles[0] + angles[1]))
    return middle, end


def _arm_angles(rng: np.random.Generator) -> tuple[float, float]:
    """Shoulder angle from slightly across the chest to overhead; elbow bent either way."""
    return -0.5 + 3.4 * rng.uniform() ** 1.3, rng.uniform(-2.3, 2.3)


def _leg_angles(rng: np.random.Generator) -> tuple[float, float]:
    """Mostly standing or striding legs, sometimes a raised one."""
    hip = rng.uniform(0.6, 1.5) if rng.uniform() < 0.1 else rng.uniform(-0.25, 0.6)
    return hip, rng.uniform(-0.9, 0.9)


def random_pose(rng: np.random.Generator, height: float) -> Pose:
    """Sample joint angles, limb foreshortening and head turn for a figure ``height`` pixels tall."""
    torso = float(np.clip(rng.normal(0, 0.12), -0.35, 0.35))
    body_yaw = rng.uniform(-0.6, 0.6)
    width = np.cos(body_yaw)
    down, right = _down(torso), _right(torso)
    neck = -0.30 * height * down
    shoulder = 0.12 * height * rng.uniform(0.9, 1.1) * width
    hip = 0.08 * height * width

    kp = np.zeros((NUM_KEYPOINTS, 2))
    kp[L_SHOULDER] = neck + shoulder * right + 0.02 * height * down
    kp[R_SHOULDER] = neck - shoulder * right + 0.02 * height * down
    kp[L_HIP], kp[R_HIP] = hip * right, -hip * right
    for side, (sh, el, wr) in ((1, (L_SHOULDER, L_ELBOW, L_WRIST)), (-1, (R_SHOULDER, R_ELBOW, R_WRIST))):
        lengths = (0.17 * height * rng.uniform(0.7, 1.0), 0.16 * height * rng.uniform(0.7, 1.0))
        kp[el], kp[wr] = _limb(kp[sh], torso, side, _arm_angles(rng), lengths)
    for side, (hp, kn, an) in ((1, (L_HIP, L_KNEE, L_ANKLE)), (-1, (R_HIP, R_KNEE, R_ANKLE))):
        lengths = (0.245 * height * rng.uniform(0.6, 1.0), 0.245 * height * rng.uniform(0.75, 1.0))
        kp[kn], kp[an] = _limb(kp[hp], torso, side, _leg_angles(rng), lengths)

    head_angle = torso + float(np.clip(rng.normal(0, 0.15), -0.4, 0.4))
    head = neck - 0.12 * height * _down(head_angle)
    radius = 0.065 * height
    yaw = float(np.clip(body_yaw + rng.normal(0, 0.3), -0.8, 0.8))
    face = slice(NOSE, R_EAR + 1)
    hidden = np.zeros(NUM_KEYPOINTS, bool)
    kp[face], hidden[face] = _face(head, radius, head_angle, yaw)
    return Pose(height, kp, hidden, neck, head, radius, head_angle, torso)


# --------------------------------------------------------------------------- drawing


def _capsule(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, steps: int = 7) -> np.ndarray:
    """Outline of a tapered stroke from ``p0`` (radius r0) to ``p1`` (radius r1)."""
    d = p1 - p0
    heading = np.arctan2(d[1], d[0]) if np.hypot(*d) > 1e-6 else np.pi / 2
    a1 = heading + np.linspace(-np.pi / 2, np.pi / 2, steps)
    a0 = heading + np.linspace(np.pi / 2, 3 * np.pi / 2, steps)
    return np.concatenate([p1 + r1 * np.stack([np.cos(a1), np.sin(a1)], 1),
                           p0 + r0 * np.stack([np.cos(a0), np.sin(a0)], 1)])


def _ellipse(
    centre: np.ndarray, axes: tuple[float, float], angle: float, arc: tuple[int, int] = (0, 360)
) -> np.ndarray:
    """Polygon of an ellipse (or an arc of it, closed by its chord) rotated by ``angle`` radians."""
    pts = cv2.ellipse2Poly((0, 0), (1000, 1000), 0, arc[0], arc[1], 10).astype(np.float64) / 1000
    pts *= axes
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]]) + centre


class Canvas:
    """Draws filled polygons on the image and records their owner in a label map."""

    def __init__(self, img: Image, owner: np.ndarray, label: int) -> None:
        self.img, self.owner, self.label = img, owner, label

    def fill(self, pts: np.ndarray, colour: np.ndarray) -> None:
        """Fill a convex polygon with a dark outline."""
        fixed = np.round(pts * 16).astype(np.int32)
        cv2.fillConvexPoly(self.img, fixed, _bgr(colour), cv2.LINE_AA, shift=4)
        cv2.polylines(self.img, [fixed], True, _bgr(colour * 0.55), 1, cv2.LINE_AA, shift=4)
        cv2.fillConvexPoly(self.owner, fixed, self.label, cv2.LINE_8, shift=4)


def _bgr(colour: np.ndarray) -> tuple[int, int, int]:
    """Colour as the int tuple OpenCV wants."""
    return tuple(int(v) for v in np.clip(colour, 0, 255))


def _random_palette(rng: np.random.Generator) -> Palette:
    """Skin tone from a light-to-dark ramp; clothes and hair anywhere."""
    tone = rng.uniform()
    skin = np.array([60, 85, 120]) * tone + np.array([170, 200, 235]) * (1 - tone)
    return Palette(skin * rng.uniform(0.9, 1.1, 3), rng.uniform(20, 240, 3), rng.uniform(20, 240, 3),
                   rng.uniform(10, 90, 3))


def _draw_legs(canvas: Canvas, pose: Pose, palette: Palette, rng: np.random.Generator) -> None:
    """Thighs, shins and feet, the two legs in random order."""
    h, kp = pose.height, pose.keypoints
    legs = [(1, L_HIP, L_KNEE, L_ANKLE, LEFT_SHADE), (-1, R_HIP, R_KNEE, R_ANKLE, 1.0)]
    for index in rng.permutation(2):
        side, hip, knee, ankle, shade = legs[index]
        foot = kp[ankle] + h * np.array([0.06 * side, 0.02])
        canvas.fill(_capsule(kp[ankle], foot, 0.025 * h, 0.022 * h), palette.hair * 0.6 + 20)
        canvas.fill(_capsule(kp[knee], kp[ankle], 0.045 * h, 0.032 * h), palette.trousers * shade)
        canvas.fill(_capsule(kp[hip], kp[knee], 0.06 * h, 0.046 * h), palette.trousers * shade)


def _draw_torso(canvas: Canvas, pose: Pose, palette: Palette) -> None:
    """Trapezoid from the shoulders to below the hips, plus the neck."""
    h, kp = pose.height, pose.keypoints
    down, right = _down(pose.torso_angle), _right(pose.torso_angle)
    canvas.fill(_capsule(pose.neck, pose.head, 0.03 * h, 0.03 * h), palette.skin * 0.9)
    outline = np.array([
        kp[L_SHOULDER] + 0.04 * h * right - 0.01 * h * down,
        kp[L_HIP] + 0.05 * h * right + 0.04 * h * down,
        kp[R_HIP] - 0.05 * h * right + 0.04 * h * down,
        kp[R_SHOULDER] - 0.04 * h * right - 0.01 * h * down,
    ])
    canvas.fill(outline, palette.shirt)


def _draw_head(canvas: Canvas, pose: Pose, palette: Palette) -> None:
    """Ears behind the head, head, hair on top, then eyes and nose if turned towards the camera."""
    kp, r, angle = pose.keypoints, pose.head_radius, pose.head_angle
    tilt = -angle  # rotates an upright ellipse so that its down axis becomes _down(angle)
    for ear in (L_EAR, R_EAR):
        if not pose.hidden[ear]:
            outward = np.sign((kp[ear] - pose.head) @ _right(angle))
            centre = kp[ear] + 0.12 * r * outward * _right(angle)
            canvas.fill(_ellipse(centre, (0.28 * r, 0.4 * r), tilt), palette.skin * 0.85)
    canvas.fill(_ellipse(pose.head, (r, 1.1 * r), tilt), palette.skin)
    canvas.fill(_ellipse(pose.head, (1.02 * r, 1.14 * r), tilt, (200, 340)), palette.hair)
    for eye in (L_EYE, R_EYE):
        canvas.fill(_ellipse(kp[eye], (0.16 * r, 0.12 * r), tilt), np.array([30.0, 30.0, 30.0]))
    canvas.fill(_ellipse(kp[NOSE], (0.13 * r, 0.17 * r), tilt), palette.skin * 0.7)


def _draw_arms(canvas: Canvas, pose: Pose, palette: Palette, rng: np.random.Generator) -> None:
    """Sleeves, forearms and hands, the two arms in random order."""
    h, kp = pose.height, pose.keypoints
    arms = [(L_SHOULDER, L_ELBOW, L_WRIST, LEFT_SHADE), (R_SHOULDER, R_ELBOW, R_WRIST, 1.0)]
    for index in rng.permutation(2):
        shoulder, elbow, wrist, shade = arms[index]
        canvas.fill(_capsule(kp[shoulder], kp[elbow], 0.04 * h, 0.032 * h), palette.shirt * 0.85 * shade)
        canvas.fill(_capsule(kp[elbow], kp[wrist], 0.032 * h, 0.025 * h), palette.skin * shade)
        direction = kp[wrist] - kp[elbow]
        hand = kp[wrist] + 0.035 * h * direction / max(np.hypot(*direction), 1e-6)
        canvas.fill(_ellipse(hand, (0.03 * h, 0.03 * h), 0.0), palette.skin * 0.95 * shade)


def draw_figure(canvas: Canvas, pose: Pose, rng: np.random.Generator) -> None:
    """Paint a whole figure back to front."""
    palette = _random_palette(rng)
    _draw_legs(canvas, pose, palette, rng)
    _draw_torso(canvas, pose, palette)
    _draw_head(canvas, pose, palette)
    _draw_arms(canvas, pose, palette, rng)


# --------------------------------------------------------------------------- scene


def _smooth_layers(rng: np.random.Generator) -> Image:
    """Gradient, stripes and low-frequency noise, built at half resolution and upsampled."""
    h, w = IMAGE_HEIGHT // 2, IMAGE_WIDTH // 2
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    c0, c1 = rng.uniform(30, 225, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xs / w + np.sin(angle) * ys / h + 1.0) / 2.0
    period, heading = rng.uniform(4, 20), rng.uniform(0, np.pi)
    stripes = rng.uniform(0, 12) * np.sin((np.cos(heading) * xs + np.sin(heading) * ys) * 2 * np.pi / period)
    coarse = rng.normal(0, 14, size=(h // 10 + 2, w // 10 + 2, 3)).astype(np.float32)
    img = c0 + (c1 - c0) * t[..., None] + stripes[..., None] + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img = cv2.resize(img, (IMAGE_WIDTH, IMAGE_HEIGHT), interpolation=cv2.INTER_LINEAR)
    return np.clip(img, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator) -> Image:
    """Smooth texture plus lines and filled ellipses: clutter that is not a figure."""
    h, w = IMAGE_HEIGHT, IMAGE_WIDTH
    img = _smooth_layers(rng)
    for _ in range(int(rng.integers(2, 8))):
        p0, p1 = (tuple(int(v) for v in rng.integers(0, (w, h))) for _ in range(2))
        cv2.line(img, p0, p1, _bgr(rng.uniform(0, 255, 3)), int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        cv2.ellipse(img, centre, axes, rng.uniform(0, 180), 0, 360, _bgr(rng.uniform(0, 255, 3)), -1, cv2.LINE_AA)
    return img


def _random_height(rng: np.random.Generator) -> float:
    """Figure height in pixels; the log-height density rises towards tall figures, so few are tiny."""
    low, high = np.log(MIN_HEIGHT), np.log(MAX_HEIGHT)
    return float(np.exp(low + (high - low) * np.sqrt(rng.uniform())))


def _placement(rng: np.random.Generator, pose: Pose) -> np.ndarray:
    """Offset that keeps the figure's extent mostly inside the image (up to ~20% cut off)."""
    lo = pose.keypoints.min(0) - 0.05 * pose.height
    hi = pose.keypoints.max(0) + 0.05 * pose.height
    lo[1] = min(lo[1], pose.head[1] - pose.head_radius * 1.2)
    size = hi - lo
    bounds = np.array([IMAGE_WIDTH, IMAGE_HEIGHT], np.float64)
    low = -lo - 0.2 * size
    high = bounds - hi + 0.2 * size
    return rng.uniform(np.minimum(low, high), np.maximum(low, high))


def _keeps_others(owner: np.ndarray, new: np.ndarray, labels: list[int]) -> bool:
    """True if painting ``new`` leaves every earlier figure at least half visible."""
    for label in labels:
        mask = owner == label
        if (mask & ~new).sum() < MIN_VISIBLE_FRACTION * mask.sum():
            return False
    return True


def _add_figure(rng: np.random.Generator, img: Image, owner: np.ndarray, label: int) -> Pose | None:
    """Try a few placements of a random figure; paint and return the first acceptable one."""
    pose = random_pose(rng, _random_height(rng))
    for _ in range(10):
        placed = pose.shifted(_placement(rng, pose))
        scratch, layer = img.copy(), np.zeros_like(owner)
        draw_figure(Canvas(scratch, layer, 1), placed, rng)
        new = layer > 0
        if new.sum() >= 50 and _keeps_others(owner, new, list(range(1, label))):
            img[:] = scratch
            owner[new] = label
            return placed
    return None


def _occluder_outline(rng: np.random.Generator, centre: np.ndarray, size: float) -> np.ndarray:
    """A rotated rectangle or an irregular blob around ``centre``."""
    if rng.uniform() < 0.5:
        half = size * rng.uniform(0.3, 0.6, 2)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
        theta = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        return corners @ rot.T + centre
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = size / 2 * rng.uniform(0.5, 1.0, 9)
    return np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None] + centre


def _add_occluder(rng: np.random.Generator, img: Image, owner: np.ndarray, label: int) -> None:
    """Cover part of figure ``label`` with a shape, unless it would hide too much of any figure."""
    ys, xs = np.nonzero(owner == label)
    extent = max(np.ptp(xs), np.ptp(ys))
    labels = [int(v) for v in np.unique(owner) if 0 < v < OCCLUDER_ID]
    for _ in range(5):
        k = int(rng.integers(len(xs)))
        outline = _occluder_outline(rng, np.array([xs[k], ys[k]], np.float64), extent * rng.uniform(0.2, 0.5))
        fixed = np.round(outline * 16).astype(np.int32)
        mask = np.zeros_like(owner)
        cv2.fillPoly(mask, [fixed], 1, cv2.LINE_8, shift=4)
        if _keeps_others(owner, mask > 0, labels):
            colour = rng.uniform(0, 255, 3)
            cv2.fillPoly(img, [fixed], _bgr(colour), cv2.LINE_AA, shift=4)
            cv2.polylines(img, [fixed], True, _bgr(colour * 0.6), 1, cv2.LINE_AA, shift=4)
            owner[mask > 0] = OCCLUDER_ID
            return


def _finish(rng: np.random.Generator, img: Image) -> Image:
    """Slight blur and mild sensor noise."""
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(cv2.GaussianBlur(img, (3, 3), 0.6) + noise, 0, 255).astype(np.uint8)


def render_image(rng: np.random.Generator) -> tuple[Image, np.ndarray, list[Pose]]:
    """Draw one image; returns it, the owner map (figure label per pixel) and the placed poses."""
    img = _background(rng)
    owner = np.zeros(img.shape[:2], np.uint8)
    poses: list[Pose] = []
    for _ in range(int(rng.integers(1, MAX_FIGURES + 1))):
        pose = _add_figure(rng, img, owner, len(poses) + 1)
        if pose is not None:
            poses.append(pose)
    for label in range(1, len(poses) + 1):
        if rng.uniform() < OCCLUDER_PROBABILITY:
            _add_occluder(rng, img, owner, label)
    return _finish(rng, img), owner, poses


# --------------------------------------------------------------------------- COCO


def _keypoint_triplets(pose: Pose, owner: np.ndarray, label: int) -> list[float]:
    """COCO ``keypoints``: v=2 visible, 1 covered (or turned away), 0 at (0, 0) outside the image."""
    out: list[float] = []
    for (x, y), hidden in zip(pose.keypoints, pose.hidden):
        xi, yi = round(x), round(y)
        if not (0 <= xi < IMAGE_WIDTH and 0 <= yi < IMAGE_HEIGHT):
            out += [0, 0, 0]
            continue
        visible = owner[yi, xi] == label and not hidden
        out += [round(float(x), 2), round(float(y), 2), 2 if visible else 1]
    return out


def _annotation(pose: Pose, owner: np.ndarray, label: int, ann_id: int, image_id: int) -> dict[str, Any]:
    """COCO person annotation; box and area come from the figure's visible pixels."""
    mask = owner == label
    ys, xs = np.nonzero(mask)
    x0, y0 = float(xs.min()), float(ys.min())
    keypoints = _keypoint_triplets(pose, owner, label)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "bbox": [x0, y0, float(xs.max()) + 1.0 - x0, float(ys.max()) + 1.0 - y0],
        "area": float(mask.sum()),
        "iscrowd": 0,
        "keypoints": keypoints,
        "num_keypoints": sum(1 for v in keypoints[2::3] if v > 0),
    }


def generate_split(name: str, count: int, seed: int) -> tuple[list[Sample], dict[str, Any]]:
    """Render ``count`` images and their COCO dict; samples are ``(file_name, BGR uint8 image)``."""
    rng = np.random.default_rng(seed)
    image_ids = sorted(int(i) for i in rng.choice(1_000_000, size=count, replace=False))
    samples: list[Sample] = []
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id in image_ids:
        img, owner, poses = render_image(rng)
        file_name = f"{image_id:012d}.jpg"
        samples.append((file_name, img))
        images.append(_image_entry(image_id, file_name))
        for label, pose in enumerate(poses, start=1):
            annotations.append(_annotation(pose, owner, label, len(annotations) + 1, image_id))
    return samples, coco_dict(f"quantflow synthetic pose figures ({name})", images, annotations, CATEGORIES)


def _image_entry(image_id: int, file_name: str) -> dict[str, Any]:
    """COCO ``images`` record."""
    return {
        "id": image_id,
        "file_name": file_name,
        "width": IMAGE_WIDTH,
        "height": IMAGE_HEIGHT,
        "license": 1,
        "date_captured": "2024-01-01 00:00:00",
    }


def write_split(samples: list[Sample], coco: dict[str, Any], out: Path, name: str) -> None:
    """Save the JPEGs (fixed quality; the encoder is deterministic) and ``<name>.json``."""
    directory = out / name
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, img in samples:
        cv2.imwrite(str(directory / file_name), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    (out / f"{name}.json").write_text(json.dumps(coco, separators=(",", ":")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/pose"))
    args = parser.parse_args()
    for name, count, seed in (("val", VAL_COUNT, VAL_SEED), ("calib", CALIB_COUNT, CALIB_SEED)):
        samples, coco = generate_split(name, count, seed)
        write_split(samples, coco, args.out, name)


if __name__ == "__main__":
    main()
