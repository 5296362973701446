"""Train the small YOLOv8-style detector shipped as quantflow's YOLO sample.

An anchor-free detector with a decoupled head per pyramid level (strides 8, 16, 32): a box branch predicting,
for each side, a distribution over `REG_MAX` distance bins (DFL) and a class branch with sigmoid scores. It is
trained on the synthetic shapes set with a task-aligned assigner (alignment = score^0.5 * IoU^6 over the
points inside a box, top 10 per box), BCE on IoU-scaled class targets, GIoU and DFL box losses: the recipe of
YOLOv8, written here from its description. Images are letterboxed as Ultralytics evaluates (keep aspect,
centred padding of value 114).

The exported SavedModel takes `image` [1, H, W, 3] float RGB in 0..1 with any H, W divisible by 32, and returns
`output0` [1, 4 + classes, N]: cx, cy, w, h in input pixels, then one sigmoid score per class - the layout of
an Ultralytics export. The box decoding (softmax expectation per side, anchor points, strides) is in the graph.
After training the model is converted with OpenVINO and scored on the committed val split with pycocotools; the
result is recorded in `TRAINING.md` next to the model.

Usage::

    python tools/train_yolo_shapes.py --out datasets/shapes/yolo
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import keras  # noqa: E402
import make_shapes_dataset as shapes  # noqa: E402
import tensorflow as tf  # noqa: E402
import train_ssd_shapes as ssd  # noqa: E402
from keras import layers  # noqa: E402

SEED = 2025
INPUT_SIZE = 160
NUM_CLASSES = len(shapes.CATEGORY_IDS)
MAX_GT = ssd.MAX_GT
STRIDES = (8, 16, 32)
REG_MAX = 16
HEAD_CHANNELS = 64
PAD_VALUE = 114
TOP_K = 10


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults reproduce the committed model."""

    train_images: int = 8000
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 300


# --------------------------------------------------------------------------- model


def head(level: tf.Tensor, outputs: int, name: str, bias: float = 0.0) -> tf.Tensor:
    x = ssd.conv_bn(level, HEAD_CHANNELS, 3)
    x = ssd.conv_bn(x, HEAD_CHANNELS, 3)
    return layers.Conv2D(outputs, 1, name=name, bias_initializer=keras.initializers.Constant(bias))(x)


def build_raw_model() -> keras.Model:
    """image (0..1 RGB, any size divisible by 32) -> per level (box distributions [B,H,W,4R], class logits)."""
    image = keras.Input((None, None, 3), name="image")
    pyramid = ssd.feature_pyramid(ssd.backbone(layers.Rescaling(2.0, offset=-1.0)(image)))
    prior = -math.log((1 - 0.01) / 0.01)
    outputs = []
    for index, level in enumerate(pyramid):
        outputs.append(head(level, 4 * REG_MAX, f"box{index}"))
        outputs.append(head(level, NUM_CLASSES, f"cls{index}", prior))
    return keras.Model(image, outputs)


def flatten(raw: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-level maps -> distributions [B,N,4,R], logits [B,N,C], anchor points [N,2] (pixels), strides [N]."""
    distributions, logits, points, strides = [], [], [], []
    for level, stride in enumerate(STRIDES):
        box, cls = raw[2 * level], raw[2 * level + 1]
        shape = tf.shape(box)
        height, width = shape[1], shape[2]
        ys, xs = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
        grid = tf.cast(tf.stack([tf.reshape(xs, [-1]), tf.reshape(ys, [-1])], axis=1), tf.float32)
        points.append((grid + 0.5) * stride)
        strides.append(tf.fill([height * width], float(stride)))
        distributions.append(tf.reshape(box, [shape[0], -1, 4, REG_MAX]))
        logits.append(tf.reshape(cls, [shape[0], -1, NUM_CLASSES]))
    return (tf.concat(distributions, 1), tf.concat(logits, 1), tf.concat(points, 0), tf.concat(strides, 0))


def distances(distributions: tf.Tensor) -> tf.Tensor:
    """The DFL integral: the softmax expectation over the bins, per side (left, top, right, bottom) in strides."""
    return tf.reduce_sum(tf.nn.softmax(distributions, -1) * tf.range(REG_MAX, dtype=tf.float32), -1)


def corners(points: tf.Tensor, strides: tf.Tensor, ltrb: tf.Tensor) -> tf.Tensor:
    """Anchor points and side distances (in strides) -> boxes x1, y1, x2, y2 in pixels."""
    left_top, right_bottom = tf.split(ltrb * strides[:, None], 2, axis=-1)  # split, not [..., 2:]: see serve
    return tf.concat([points - left_top, points + right_bottom], -1)


def serving_function(model: keras.Model):
    """The deployable graph: raw model + decoding to the Ultralytics layout [1, 4 + C, N]."""

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="image")])
    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        distributions, logits, points, strides = flatten(model(image, training=False))
        boxes = corners(points, strides, distances(distributions))
        # tf.split rather than ellipsis slices: OpenVINO 2026.4's CPU plugin returned uninitialized memory for a
        # `[..., 2:]` StridedSlice of this graph once quantized.
        top_left, bottom_right = tf.split(boxes, 2, axis=-1)
        centre, size = (top_left + bottom_right) / 2, bottom_right - top_left
        rows = tf.concat([centre, size, tf.sigmoid(logits)], -1)
        return {"output0": tf.transpose(rows, [0, 2, 1])}

    return serve


# --------------------------------------------------------------------------- data


def letterbox(bgr: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Keep aspect, centred padding of 114, RGB uint8; returns the image, the scale and the (x, y) padding."""
    height, width = bgr.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), scale, (left, top)


def make_train_set(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images [N,S,S,3] uint8 letterboxed, boxes [N,G,4] x1,y1,x2,y2 in input pixels, labels [N,G] (-1 = pad)."""
    samples, coco = shapes.generate_split("train", count, shapes.TRAIN_SEED)
    images = np.zeros((count, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    geometry = []
    for i, (_, img) in enumerate(samples):
        bgr = ssd.jpeg_roundtrip(img)
        images[i], scale, pad = letterbox(bgr)
        geometry.append((scale, pad))
    boxes = np.zeros((count, MAX_GT, 4), np.float32)
    labels = np.full((count, MAX_GT), -1, np.int32)
    index = {img["id"]: i for i, img in enumerate(coco["images"])}
    slot = np.zeros(count, np.int64)
    for ann in coco["annotations"]:
        i = index[ann["image_id"]]
        if ann.get("iscrowd") or slot[i] >= MAX_GT:
            continue
        (scale, (left, top)), (x, y, w, h) = geometry[i], ann["bbox"]
        boxes[i, slot[i]] = [x * scale + left, y * scale + top, (x + w) * scale + left, (y + h) * scale + top]
        labels[i, slot[i]] = shapes.CATEGORY_IDS.index(ann["category_id"])
        slot[i] += 1
    return images, boxes, labels


def flip_batch(rng: np.random.Generator, images: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip; every shape class is mirror-invariant."""
    flip = rng.random(len(images)) < 0.5
    images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
    flipped = boxes.copy()
    flipped[..., 0], flipped[..., 2] = INPUT_SIZE - boxes[..., 2], INPUT_SIZE - boxes[..., 0]
    return images, np.where(flip[:, None, None], flipped, boxes)


# --------------------------------------------------------------------------- loss


def iou_and_giou(a: tf.Tensor, b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """IoU and GIoU of boxes broadcast against each other (x1, y1, x2, y2 on the last axis)."""
    lt, rb = tf.maximum(a[..., :2], b[..., :2]), tf.minimum(a[..., 2:], b[..., 2:])
    inter = tf.reduce_prod(tf.nn.relu(rb - lt), -1)
    area_a = tf.reduce_prod(tf.nn.relu(a[..., 2:] - a[..., :2]), -1)
    area_b = tf.reduce_prod(tf.nn.relu(b[..., 2:] - b[..., :2]), -1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    hull = tf.reduce_prod(tf.maximum(a[..., 2:], b[..., 2:]) - tf.minimum(a[..., :2], b[..., :2]), -1) + 1e-7
    return iou, iou - (hull - union) / hull


def assign(scores, boxes, points, gt_boxes, gt_labels):
    """Task-aligned assignment. scores [B,N,C] sigmoid, boxes [B,N,4] predicted; gt [B,G,4], labels [B,G].
    Returns positive mask [B,N], the assigned gt index [B,N] and the soft class target scale [B,N]."""
    valid = gt_labels >= 0
    inside = tf.reduce_all(tf.concat([points[None, :, None] - gt_boxes[:, None, :, :2],
                                      gt_boxes[:, None, :, 2:] - points[None, :, None]], -1) > 1e-3, -1)
    inside &= valid[:, None, :]
    iou, _ = iou_and_giou(boxes[:, :, None], gt_boxes[:, None])  # [B,N,G]
    class_score = tf.gather(scores, tf.maximum(gt_labels, 0), axis=2, batch_dims=1)  # [B,N,G]
    align = tf.where(inside, tf.pow(class_score, 0.5) * tf.pow(iou, 6.0), 0.0)
    top = tf.math.top_k(tf.transpose(align, [0, 2, 1]), TOP_K).indices  # [B,G,K]
    chosen = tf.reduce_sum(tf.one_hot(top, tf.shape(points)[0]), 2)  # [B,G,N]
    candidate = tf.transpose(chosen, [0, 2, 1]) > 0
    candidate &= inside
    overlap = tf.where(candidate, iou, -1.0)
    assigned = tf.argmax(overlap, -1, output_type=tf.int32)  # [B,N]
    positive = tf.reduce_any(candidate, -1)
    align = tf.where(candidate & (tf.one_hot(assigned, tf.shape(gt_labels)[1]) > 0), align, 0.0)
    best_align = tf.reduce_max(align, 1, keepdims=True)  # per gt
    best_iou = tf.reduce_max(tf.where(candidate, iou, 0.0), 1, keepdims=True)
    scale = tf.reduce_max(align / (best_align + 1e-9) * best_iou, -1)  # [B,N]
    return positive, assigned, scale


def dfl_loss(distributions: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Cross-entropy to the two bins around each target distance (in strides), weighted by proximity."""
    target = tf.clip_by_value(target, 0.0, REG_MAX - 1.01)
    left = tf.floor(target)
    weight_right = target - left
    log_p = tf.nn.log_softmax(distributions, -1)
    left_i = tf.cast(left, tf.int32)
    take = lambda i: tf.gather(log_p, i[..., None], axis=-1, batch_dims=len(i.shape))[..., 0]  # noqa: E731
    return -tf.reduce_mean(take(left_i) * (1 - weight_right) + take(left_i + 1) * weight_right, -1)


def loss_fn(raw, gt_boxes, gt_labels) -> tf.Tensor:
    distributions, logits, points, strides = flatten(raw)
    scores = tf.sigmoid(logits)
    boxes = corners(points, strides, distances(distributions))
    positive, assigned, scale = assign(tf.stop_gradient(scores), tf.stop_gradient(boxes), points, gt_boxes,
                                       gt_labels)
    labels = tf.gather(gt_labels, assigned, batch_dims=1)
    target_boxes = tf.gather(gt_boxes, assigned, batch_dims=1)
    class_target = tf.one_hot(tf.maximum(labels, 0), NUM_CLASSES) * (scale * tf.cast(positive, tf.float32))[..., None]
    normalizer = tf.maximum(tf.reduce_sum(class_target), 1.0)
    cls = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=class_target, logits=logits)) / normalizer
    weight = tf.where(positive, scale, 0.0)
    _, giou = iou_and_giou(boxes, target_boxes)
    box = tf.reduce_sum((1.0 - giou) * weight) / normalizer
    ltrb = tf.concat([points - target_boxes[..., :2], target_boxes[..., 2:] - points], -1) / strides[:, None]
    dfl = tf.reduce_sum(dfl_loss(distributions, ltrb) * weight) / normalizer
    return 0.5 * cls + 7.5 * box + 1.5 * dfl


def train(model: keras.Model, data: tuple[np.ndarray, np.ndarray, np.ndarray], config: TrainConfig) -> None:
    """Plain epoch loop with a seeded shuffle so runs are reproducible."""
    images, boxes, labels = data
    rng = np.random.default_rng(SEED)
    steps_per_epoch = len(images) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=10.0)

    @tf.function
    def step_fn(batch_images, batch_boxes, batch_labels):
        with tf.GradientTape() as tape:
            raw = model(tf.cast(batch_images, tf.float32) / 255.0, training=True)
            loss = loss_fn(raw, batch_boxes, batch_labels)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step = 0
    for epoch in range(config.epochs):
        start, losses = time.time(), []
        order = rng.permutation(len(images))
        for b in range(steps_per_epoch):
            idx = np.sort(order[b * config.batch_size : (b + 1) * config.batch_size])
            batch_images, batch_boxes = flip_batch(rng, images[idx], boxes[idx])
            optimizer.learning_rate.assign(ssd.learning_rate(step, total_steps, config))
            losses.append(float(step_fn(batch_images, batch_boxes, labels[idx])))
            step += 1
        print(f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f} ({time.time() - start:.0f}s)", flush=True)


# --------------------------------------------------------------------------- export and evaluation


def export(model: keras.Model, out: Path, serve) -> None:
    """A bare tf.Module holding the weights once and the serving function `serve` (a Keras archive stores more);
    the shapes' class names beside it."""
    module = tf.Module()
    module.weights = [v.value for v in model.variables]
    module.serve = serve
    tf.saved_model.save(module, str(out / "saved_model"), signatures={"serving_default": module.serve})
    names = [c["name"] for c in sorted(shapes.CATEGORIES, key=lambda c: c["id"])]
    (out / "labels.json").write_text(json.dumps(names, indent=2) + "\n")


def detect(rows: np.ndarray, scale: float, pad: tuple[float, float]) -> list[tuple]:
    """[4 + C, N] -> (x, y, w, h, score, class index) in original pixels; class-aware NMS 0.7, top 300."""
    rows = rows.T
    scores = rows[:, 4:]
    point, cls = np.nonzero(scores > 0.001)
    if len(point) == 0:
        return []
    cx, cy, w, h = (rows[point, i] for i in range(4))
    xywh = np.stack([(cx - w / 2 - pad[0]) / scale, (cy - h / 2 - pad[1]) / scale, w / scale, h / scale], 1)
    candidate = scores[point, cls]
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), candidate.tolist(), cls.tolist(), 0.001, 0.7)
    keep = sorted(np.asarray(keep, np.int64).ravel(), key=lambda k: -candidate[k])[:300]
    return [(*xywh[k], candidate[k], cls[k]) for k in keep]


def evaluate_openvino(saved_model: Path, dataset: Path) -> list[float]:
    """COCO bbox stats of the OpenVINO-converted SavedModel on the val split."""
    import openvino as ov
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model = ov.convert_model(str(saved_model))
    model.reshape([1, INPUT_SIZE, INPUT_SIZE, 3])
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    gt = COCO(str(dataset / "val.json"))
    cat_ids = sorted(gt.getCatIds())
    results = []
    for info in gt.dataset["images"]:
        bgr = cv2.imread(str(dataset / "val" / info["file_name"]), cv2.IMREAD_COLOR)
        image, scale, pad = letterbox(bgr)
        rows = compiled(image.astype(np.float32)[None] / 255.0)["output0"][0]
        for x, y, w, h, score, k in detect(rows, scale, pad):
            box = [float(x), float(y), float(w), float(h)]
            results.append({"image_id": info["id"], "category_id": cat_ids[k], "bbox": box, "score": float(score)})
    coco_eval = COCOeval(gt, gt.loadRes(results), "bbox")
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return [float(s) for s in coco_eval.stats]


def write_report(out: Path, config: TrainConfig, wall_seconds: float, stats: list[float]) -> None:
    size = sum(f.stat().st_size for f in (out / "saved_model").rglob("*") if f.is_file())
    lines = [
        "# Sample YOLOv8-style model (synthetic shapes)",
        "",
        "Command: `python tools/train_yolo_shapes.py --out datasets/shapes/yolo`",
        "",
        f"- Seeds: training {SEED} (keras.utils.set_random_seed and shuffling), train split {shapes.TRAIN_SEED}",
        f"- Data: {config.train_images} generated train images (not committed), letterboxed to {INPUT_SIZE} "
        f"(pad {PAD_VALUE}), horizontal flips",
        f"- Schedule: {config.epochs} epochs, batch {config.batch_size}, Adam, peak lr {config.learning_rate}, "
        f"{config.warmup_steps} warm-up steps then cosine decay",
        f"- Model: input `image` [1,H,W,3] RGB 0..1 (H, W divisible by 32), output `output0` [1,{4 + NUM_CLASSES},N] "
        f"(cx, cy, w, h in input pixels, sigmoid class scores; N = 525 at {INPUT_SIZE}x{INPUT_SIZE}); strides "
        f"{list(STRIDES)}, reg_max {REG_MAX}; SavedModel {size} bytes",
        f"- Wall time: {wall_seconds / 60:.1f} min (data generation, training, export, evaluation; 2 CPU cores)",
        f"- Val (OpenVINO FP32, letterbox {INPUT_SIZE}, conf 0.001, NMS 0.7, 300 detections, pycocotools bbox): "
        f"AP {stats[0]:.3f}, AP50 {stats[1]:.3f}, AP75 {stats[2]:.3f}",
        "",
    ]
    (out / "TRAINING.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "datasets" / "shapes" / "yolo")
    parser.add_argument("--dataset", type=Path, default=REPO / "datasets" / "shapes", help="holds val/ and val.json")
    parser.add_argument("--train-images", type=int, default=TrainConfig.train_images)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args()
    config = TrainConfig(train_images=args.train_images, epochs=args.epochs)
    started = time.time()
    keras.utils.set_random_seed(SEED)
    model = build_raw_model()
    data = make_train_set(config.train_images)
    print(f"data ready: {len(data[0])} images ({time.time() - started:.0f}s)", flush=True)
    train(model, data, config)
    args.out.mkdir(parents=True, exist_ok=True)
    export(model, args.out, serving_function(model))
    stats = evaluate_openvino(args.out / "saved_model", args.dataset)
    write_report(args.out, config, time.time() - started, stats)
    print(f"AP {stats[0]:.3f} AP50 {stats[1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
