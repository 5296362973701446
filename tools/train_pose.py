"""Train the small HRNet-style pose model shipped as quantflow's keypoint sample.

The model is a top-down heatmap estimator: it sees one person crop, taken
around the person box with the convention below, and outputs 17 COCO
keypoint heatmaps at stride 4. It is trained on synthetic figures (train
split generated in memory by ``make_pose_dataset.generate_split``) and
exported as a TF SavedModel with a fixed ``[1,128,96,3]`` input. After
training, the SavedModel is converted with OpenVINO and scored on the
committed val split with ground-truth boxes and pycocotools OKS AP; the
result is recorded in ``TRAINING.md`` next to the model.

Crop convention (shared with the evaluation code): for a box (x, y, w, h),
centre (x + w/2, y + h/2); the box is widened or heightened to aspect 3:4,
scaled by 1.25, and that region maps linearly onto the 96x128 input.

Usage::

    python tools/train_pose.py --out datasets/pose/model
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import keras  # noqa: E402
import make_pose_dataset as pose_data  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

SEED = 1701
INPUT_H, INPUT_W = 128, 96
STRIDE = 4
HEATMAP_H, HEATMAP_W = INPUT_H // STRIDE, INPUT_W // STRIDE
SIGMA = 1.0
ASPECT = INPUT_W / INPUT_H
PADDING = 1.25
MEAN_RGB = np.array([123.675, 116.28, 103.53], np.float32)
STD_RGB = np.array([58.395, 57.12, 57.375], np.float32)
NUM_JOINTS = pose_data.NUM_KEYPOINTS
# Index of each keypoint's mirror image (left <-> right).
FLIP_INDEX = [
    pose_data.KEYPOINT_NAMES.index(name.replace("left", "right") if "left" in name else name.replace("right", "left"))
    for name in pose_data.KEYPOINT_NAMES
]
STEM_WIDTH = 32
BRANCH_WIDTHS = (20, 40, 80)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults reproduce the committed model."""

    train_images: int = 8000
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 300
    scale_range: float = 0.25
    max_rotation: float = 30.0
    rotation_probability: float = 0.6
    centre_jitter: float = 0.1


# --------------------------------------------------------------------------- geometry


def crop_box(box: list[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and size (w, h) of the input region for a COCO box (3:4 aspect, 1.25 padding)."""
    x, y, w, h = (float(v) for v in box)
    centre = np.array([x + w / 2, y + h / 2])
    if w > ASPECT * h:
        h = w / ASPECT
    else:
        w = ASPECT * h
    return centre, np.array([w, h]) * PADDING


def crop_affine(centre: np.ndarray, size: np.ndarray, rotation: float = 0.0, flip: bool = False) -> np.ndarray:
    """2x3 matrix taking image points to input points (rotation in degrees, flip about the crop centre)."""
    theta = math.radians(rotation)
    rot = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    scale = np.diag([INPUT_W / size[0], INPUT_H / size[1]])
    mirror = np.diag([-1.0 if flip else 1.0, 1.0])
    linear = mirror @ scale @ rot
    offset = np.array([INPUT_W / 2, INPUT_H / 2]) - linear @ centre
    return np.concatenate([linear, offset[:, None]], axis=1)


def warp(image: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Input crop: linear interpolation, black outside the image."""
    return cv2.warpAffine(
        image, affine, (INPUT_W, INPUT_H), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )


def normalize(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> ImageNet-normalized float32, as the deployed model expects."""
    return (rgb.astype(np.float32) - MEAN_RGB) / STD_RGB


def heatmap_targets(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gaussians ``[B,H,W,K]`` centred at input points / stride; rows with weight 0 stay empty."""
    grid_y = np.arange(HEATMAP_H, dtype=np.float32)[None, :, None, None]
    grid_x = np.arange(HEATMAP_W, dtype=np.float32)[None, None, :, None]
    mu = points.astype(np.float32) / STRIDE
    d2 = (grid_x - mu[:, None, None, :, 0]) ** 2 + (grid_y - mu[:, None, None, :, 1]) ** 2
    return np.exp(-d2 / (2 * SIGMA**2)) * weights[:, None, None, :]


# --------------------------------------------------------------------------- model


def conv_bn(x: tf.Tensor, filters: int, kernel: int = 3, stride: int = 1, act: bool = True) -> tf.Tensor:
    """Convolution + BatchNorm (+ ReLU)."""
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x) if act else x


def basic_block(x: tf.Tensor) -> tf.Tensor:
    """ResNet basic block (two 3x3 convolutions and an identity shortcut)."""
    filters = x.shape[-1]
    y = conv_bn(conv_bn(x, filters), filters, act=False)
    return layers.ReLU()(layers.Add()([x, y]))


def fuse(branches: list[tf.Tensor]) -> list[tf.Tensor]:
    """HRNet exchange unit: every branch receives the sum of all branches brought to its resolution."""
    fused = []
    for i, target in enumerate(branches):
        width = target.shape[-1]
        terms = []
        for j, source in enumerate(branches):
            if j == i:
                terms.append(source)
            elif j > i:
                up = conv_bn(source, width, kernel=1, act=False)
                terms.append(layers.UpSampling2D(2 ** (j - i), interpolation="nearest")(up))
            else:
                down = source
                for step in range(i - j):
                    last = step == i - j - 1
                    down = conv_bn(down, width if last else source.shape[-1], stride=2, act=not last)
                terms.append(down)
        fused.append(layers.ReLU()(layers.Add()(terms)))
    return fused


def hr_module(branches: list[tf.Tensor]) -> list[tf.Tensor]:
    """One basic block per branch followed by an exchange unit."""
    return fuse([basic_block(x) for x in branches])


def build_models() -> tuple[keras.Model, keras.Model]:
    """Training model (NHWC heatmaps) and deploy model (same weights, NCHW output named ``heatmaps``)."""
    image = keras.Input((INPUT_H, INPUT_W, 3), name="image")
    x = conv_bn(image, STEM_WIDTH, stride=2)
    x = conv_bn(x, STEM_WIDTH, stride=2)
    branches = [basic_block(conv_bn(x, BRANCH_WIDTHS[0]))]
    for width in BRANCH_WIDTHS[1:]:
        branches = hr_module(branches + [conv_bn(branches[-1], width, stride=2)])
    branches = hr_module(branches)
    # Near-zero initial heatmaps, as in HRNet, so training does not start by unlearning noise.
    final_init = keras.initializers.RandomNormal(stddev=0.001, seed=SEED)
    nhwc = layers.Conv2D(NUM_JOINTS, 1, kernel_initializer=final_init, name="final")(branches[0])
    nchw = layers.Permute((3, 1, 2), name="heatmaps")(nhwc)
    return keras.Model(image, nhwc), keras.Model(image, {"heatmaps": nchw})


# --------------------------------------------------------------------------- data


@dataclass
class TrainSet:
    """Decoded training images and one row per person: image index, box, keypoints [17,3]."""

    images: np.ndarray
    image_index: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray


def jpeg_roundtrip(img: np.ndarray) -> np.ndarray:
    """Encode/decode like the committed splits so training sees the same JPEG artefacts."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, pose_data.JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def make_train_set(count: int) -> TrainSet:
    """Render the train split in memory; keep every person with at least one labelled keypoint."""
    samples, coco = pose_data.generate_split("train", count, pose_data.TRAIN_SEED)
    images = np.stack([jpeg_roundtrip(img) for _, img in samples])
    index = {info["id"]: i for i, info in enumerate(coco["images"])}
    people = [a for a in coco["annotations"] if a["num_keypoints"] > 0]
    return TrainSet(
        images=images,
        image_index=np.array([index[a["image_id"]] for a in people]),
        boxes=np.array([a["bbox"] for a in people], np.float64),
        keypoints=np.array([a["keypoints"] for a in people], np.float64).reshape(-1, NUM_JOINTS, 3),
    )


def random_affine(rng: np.random.Generator, box: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, bool]:
    """Crop affine with scale, rotation, centre jitter and flip drawn around the evaluation crop."""
    centre, size = crop_box(box)
    centre = centre + rng.uniform(-config.centre_jitter, config.centre_jitter, 2) * box[2:]
    size = size * rng.uniform(1 - config.scale_range, 1 + config.scale_range)
    rotation = 0.0
    if rng.uniform() < config.rotation_probability:
        rotation = rng.uniform(-config.max_rotation, config.max_rotation)
    flip = bool(rng.uniform() < 0.5)
    return crop_affine(centre, size, rotation, flip), flip


def colour_jitter(rng: np.random.Generator, crops: np.ndarray) -> np.ndarray:
    """Per-crop contrast, brightness and channel gains."""
    n = len(crops)
    contrast = rng.uniform(0.7, 1.3, (n, 1, 1, 1))
    brightness = rng.uniform(-30, 30, (n, 1, 1, 1))
    gains = rng.uniform(0.85, 1.15, (n, 1, 1, 3))
    mean = crops.mean(axis=(1, 2, 3), keepdims=True)
    out = ((crops - mean) * contrast + mean + brightness) * gains
    return np.clip(out, 0, 255).astype(np.uint8)


def make_batch(
    rng: np.random.Generator, data: TrainSet, rows: np.ndarray, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augmented normalized crops ``[B,128,96,3]``, target heatmaps ``[B,32,24,17]``, joint weights ``[B,17]``."""
    crops = np.empty((len(rows), INPUT_H, INPUT_W, 3), np.float32)
    points = np.zeros((len(rows), NUM_JOINTS, 2))
    weights = np.zeros((len(rows), NUM_JOINTS), np.float32)
    for k, row in enumerate(rows):
        affine, flip = random_affine(rng, data.boxes[row], config)
        crops[k] = warp(data.images[data.image_index[row]], affine)[..., ::-1]
        kp = data.keypoints[row][FLIP_INDEX] if flip else data.keypoints[row]
        points[k] = kp[:, :2] @ affine[:, :2].T + affine[:, 2]
        inside = (points[k] >= 0).all(1) & (points[k, :, 0] < INPUT_W) & (points[k, :, 1] < INPUT_H)
        weights[k] = (kp[:, 2] > 0) & inside
    return normalize(colour_jitter(rng, crops)), heatmap_targets(points, weights), weights


# --------------------------------------------------------------------------- training


def joints_mse(targets: tf.Tensor, predictions: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """HRNet's JointsMSELoss: half the mean squared error with each joint's map scaled by its weight."""
    w = weights[:, None, None, :]
    return 0.5 * tf.reduce_mean(tf.square(w * (predictions - targets)))


def learning_rate(step: int, total_steps: int, config: TrainConfig) -> float:
    """Linear warm-up followed by cosine decay to zero."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(total_steps - config.warmup_steps, 1)
    return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * progress))


def make_train_step(
    model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], tf.Tensor]:
    """Compile one optimisation step."""

    @tf.function
    def step(crops: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = joints_mse(targets, model(crops, training=True), weights)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def train(model: keras.Model, data: TrainSet, config: TrainConfig) -> None:
    """Plain epoch loop over person crops with a seeded shuffle and seeded augmentation."""
    rng = np.random.default_rng(SEED)
    steps_per_epoch = len(data.boxes) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    step_fn = make_train_step(model, optimizer)
    step = 0
    for epoch in range(config.epochs):
        start, losses = time.time(), []
        order = rng.permutation(len(data.boxes))
        for b in range(steps_per_epoch):
            rows = order[b * config.batch_size : (b + 1) * config.batch_size]
            optimizer.learning_rate.assign(learning_rate(step, total_steps, config))
            losses.append(float(step_fn(*make_batch(rng, data, rows, config))))
            step += 1
        print(
            f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.3e} "
            f"lr {learning_rate(step - 1, total_steps, config):.2e} ({time.time() - start:.0f}s)",
            flush=True,
        )


# --------------------------------------------------------------------------- export


def export(model: keras.Model, out: Path) -> None:
    """Write the SavedModel: serving signature ``image`` [1,128,96,3] -> ``heatmaps`` [1,17,32,24]."""
    serve = tf.function(
        lambda image: model(image, training=False),
        input_signature=[tf.TensorSpec([1, INPUT_H, INPUT_W, 3], tf.float32, name="image")],
    )
    # A bare tf.Module holding the weights once keeps the SavedModel smaller than a Keras export archive.
    module = tf.Module()
    module.weights = [v.value for v in model.variables]
    module.serve = serve
    tf.saved_model.save(module, str(out / "saved_model"), signatures={"serving_default": serve})


# --------------------------------------------------------------------------- evaluation


def decode(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax per joint with HRNet's quarter-pixel shift towards the higher neighbour.

    Returns input-space points ``[K,2]`` and the maxima ``[K]``.
    """
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1).argmax(1)
    ys, xs = np.divmod(flat, w)
    coords = np.stack([xs, ys], 1).astype(np.float64)
    for j, (x, y) in enumerate(zip(xs, ys)):
        hm = heatmaps[j]
        if 0 < x < w - 1:
            coords[j, 0] += 0.25 * np.sign(hm[y, x + 1] - hm[y, x - 1])
        if 0 < y < h - 1:
            coords[j, 1] += 0.25 * np.sign(hm[y + 1, x] - hm[y - 1, x])
    return coords * STRIDE, heatmaps[np.arange(k), ys, xs]


def to_image(points: np.ndarray, centre: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Inverse of the evaluation crop: input points -> image points."""
    return (points - [INPUT_W / 2, INPUT_H / 2]) * size / [INPUT_W, INPUT_H] + centre


def evaluate_openvino(saved_model: Path, dataset: Path) -> list[float]:
    """COCO keypoint stats of the OpenVINO-converted SavedModel on val with ground-truth boxes."""
    import openvino as ov
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    compiled = ov.Core().compile_model(ov.convert_model(str(saved_model)), "CPU")
    gt = COCO(str(dataset / "val.json"))
    results = []
    for info in gt.dataset["images"]:
        bgr = cv2.imread(str(dataset / "val" / info["file_name"]), cv2.IMREAD_COLOR)
        for ann in gt.loadAnns(gt.getAnnIds(imgIds=info["id"], iscrowd=False)):
            centre, size = crop_box(ann["bbox"])
            rgb = warp(bgr, crop_affine(centre, size))[..., ::-1]
            heatmaps = compiled(normalize(rgb)[None])["heatmaps"][0]
            points, maxima = decode(heatmaps)
            xy = to_image(points, centre, size)
            keypoints = np.concatenate([xy, maxima[:, None]], 1).ravel()
            results.append({
                "image_id": info["id"], "category_id": 1,
                "keypoints": [float(v) for v in keypoints], "score": float(maxima.mean()),
            })
    coco_eval = COCOeval(gt, gt.loadRes(results), "keypoints")
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return [float(s) for s in coco_eval.stats]


def split_counts(path: Path) -> str:
    """'N images, P persons, V visible / L labelled keypoints' for a COCO keypoints file."""
    coco = json.loads(path.read_text())
    v = np.array([a["keypoints"][2::3] for a in coco["annotations"]])
    return (
        f"{len(coco['images'])} images, {len(coco['annotations'])} persons, "
        f"{int((v == 2).sum())} visible / {int((v > 0).sum())} labelled keypoints"
    )


def write_report(
    out: Path, dataset: Path, config: TrainConfig, data: TrainSet, params: int,
    times: dict[str, float], stats: list[float],
) -> None:
    """Record how the committed model was produced and how well it scores."""
    size = sum(f.stat().st_size for f in (out / "saved_model").rglob("*") if f.is_file())
    lines = [
        "# Sample pose model (synthetic figures)",
        "",
        "Command: `python tools/make_pose_dataset.py --out datasets/pose && "
        "python tools/train_pose.py --out datasets/pose/model`",
        "",
        f"- Seeds: training {SEED} (keras.utils.set_random_seed, shuffling, augmentation), "
        f"train split {pose_data.TRAIN_SEED}, val split {pose_data.VAL_SEED}, calib split {pose_data.CALIB_SEED}",
        f"- Train data: {config.train_images} generated images (not committed), {len(data.boxes)} person crops; "
        f"augmentation: scale x[{1 - config.scale_range:g},{1 + config.scale_range:g}], rotation "
        f"+-{config.max_rotation:g} deg (p={config.rotation_probability:g}), centre jitter "
        f"+-{config.centre_jitter:g} of the box, horizontal flip with left/right swap, colour jitter",
        f"- Val: {split_counts(dataset / 'val.json')}",
        f"- Calib: {split_counts(dataset / 'calib.json')}",
        f"- Schedule: {config.epochs} epochs, batch {config.batch_size}, Adam, peak lr {config.learning_rate}, "
        f"{config.warmup_steps} warm-up steps then cosine decay; loss JointsMSE (Gaussian sigma {SIGMA:g} "
        f"heatmap pixel, weighted by target visibility)",
        f"- Model: HRNet-style, branches {'/'.join(map(str, BRANCH_WIDTHS))} channels at stride 4/8/16, "
        f"{params:,} parameters; input `image` [1,{INPUT_H},{INPUT_W},3] RGB (x-mean)/std with ImageNet "
        f"mean/std; output `heatmaps` [1,{NUM_JOINTS},{HEATMAP_H},{HEATMAP_W}] (NCHW, stride {STRIDE}); "
        f"SavedModel {size} bytes",
        f"- Wall time (2 CPU cores): data generation {times['data'] / 60:.1f} min, training "
        f"{times['train'] / 60:.1f} min, export and evaluation {times['eval'] / 60:.1f} min",
        f"- Val (OpenVINO FP32, ground-truth boxes, argmax + quarter-pixel shift, pycocotools OKS): "
        f"AP {stats[0]:.3f}, AP50 {stats[1]:.3f}, AP75 {stats[2]:.3f}, APm {stats[3]:.3f}, "
        f"APl {stats[4]:.3f}, AR {stats[5]:.3f}",
        "",
    ]
    (out / "TRAINING.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/pose/model"))
    parser.add_argument(
        "--dataset", type=Path, default=REPO / "datasets" / "pose", help="holds val/, val.json and calib.json"
    )
    parser.add_argument("--train-images", type=int, default=TrainConfig.train_images)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args()
    config = TrainConfig(train_images=args.train_images, epochs=args.epochs)

    times: dict[str, float] = {}
    start = time.time()
    keras.utils.set_random_seed(SEED)
    data = make_train_set(config.train_images)
    times["data"], start = time.time() - start, time.time()
    print(f"generated {len(data.images)} train images, {len(data.boxes)} persons in {times['data']:.0f}s", flush=True)
    train_model, deploy_model = build_models()
    print(f"{train_model.count_params():,} parameters", flush=True)
    train(train_model, data, config)
    times["train"], start = time.time() - start, time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    export(deploy_model, args.out)
    stats = evaluate_openvino(args.out / "saved_model", args.dataset)
    times["eval"] = time.time() - start
    write_report(args.out, args.dataset, config, data, train_model.count_params(), times, stats)


if __name__ == "__main__":
    main()
