"""Train the small SSD detector shipped as quantflow's sample model.

The model is trained on the synthetic shapes dataset (train split generated
in memory by ``make_shapes_dataset.generate_split``) and exported as a TF
SavedModel whose raw outputs follow the TF Object Detection API SSD
convention, so quantflow's post-processing (box decoding, NMS) stays outside
the graph. After training, the SavedModel is converted with OpenVINO and
scored on the committed val split with pycocotools; the result is recorded
in ``TRAINING.md`` next to the model.

Usage::

    python tools/train_ssd_shapes.py --out datasets/shapes/model
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
import make_shapes_dataset as shapes  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

SEED = 2024
INPUT_SIZE = 160
NUM_CLASSES = len(shapes.CATEGORY_IDS)
MAX_GT = 8
SCALE_FACTORS = (10.0, 10.0, 5.0, 5.0)
FEATURE_SIZES = (20, 10, 5)
# Nine anchor sizes spaced geometrically over the object size range
# (about 0.035 to 0.5 of the input side), three per feature map.
ANCHOR_SIZES = tuple(0.04 * (0.46 / 0.04) ** (i / 8) for i in range(9))
ASPECT_RATIOS = (0.7, 1.0, 1.4)
ANCHORS_PER_CELL = 3 * len(ASPECT_RATIOS)
POS_IOU, NEG_IOU = 0.5, 0.4
NEG_POS_RATIO, MIN_NEGATIVES = 3, 16
HEAD_CHANNELS = 64


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults reproduce the committed model."""

    train_images: int = 8000
    epochs: int = 11
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 300


# --------------------------------------------------------------------------- anchors


def make_anchors() -> np.ndarray:
    """Anchors ``[A, 4]`` as normalized (cy, cx, h, w), in the head output order."""
    anchors = []
    for level, size in enumerate(FEATURE_SIZES):
        centres = (np.arange(size) + 0.5) / size
        scales = ANCHOR_SIZES[3 * level : 3 * level + 3]
        per_cell = [(s / math.sqrt(r), s * math.sqrt(r)) for s in scales for r in ASPECT_RATIOS]
        for cy in centres:
            for cx in centres:
                anchors.extend((cy, cx, h, w) for h, w in per_cell)
    return np.asarray(anchors, np.float32)


def encode_boxes(boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
    """(ymin, xmin, ymax, xmax) -> FasterRcnnBoxCoder (ty, tx, th, tw) relative to anchors."""
    h = tf.maximum(boxes[..., 2] - boxes[..., 0], 1e-6)
    w = tf.maximum(boxes[..., 3] - boxes[..., 1], 1e-6)
    cy = boxes[..., 0] + h / 2
    cx = boxes[..., 1] + w / 2
    sy, sx, sh, sw = SCALE_FACTORS
    return tf.stack(
        [
            (cy - anchors[:, 0]) / anchors[:, 2] * sy,
            (cx - anchors[:, 1]) / anchors[:, 3] * sx,
            tf.math.log(h / anchors[:, 2]) * sh,
            tf.math.log(w / anchors[:, 3]) * sw,
        ],
        axis=-1,
    )


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_boxes`, returning normalized (ymin, xmin, ymax, xmax)."""
    sy, sx, sh, sw = SCALE_FACTORS
    cy = encodings[:, 0] / sy * anchors[:, 2] + anchors[:, 0]
    cx = encodings[:, 1] / sx * anchors[:, 3] + anchors[:, 1]
    h = np.exp(encodings[:, 2] / sh) * anchors[:, 2]
    w = np.exp(encodings[:, 3] / sw) * anchors[:, 3]
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)


def corners(anchors: np.ndarray) -> np.ndarray:
    """(cy, cx, h, w) -> (ymin, xmin, ymax, xmax)."""
    cy, cx, h, w = anchors.T
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)


# --------------------------------------------------------------------------- model


def conv_bn(x: tf.Tensor, filters: int, kernel: int = 1, stride: int = 1, act: bool = True) -> tf.Tensor:
    """Convolution + BatchNorm (+ ReLU6), the MobileNetV2 building block."""
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(6.0)(x) if act else x


def depthwise_bn(x: tf.Tensor, stride: int = 1) -> tf.Tensor:
    """3x3 depthwise convolution + BatchNorm + ReLU6."""
    x = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(6.0)(x)


def inverted_residual(x: tf.Tensor, filters: int, stride: int = 1, expand: int = 4) -> tf.Tensor:
    """MobileNetV2 inverted residual block with a linear bottleneck."""
    in_channels = x.shape[-1]
    y = conv_bn(x, in_channels * expand) if expand != 1 else x
    y = depthwise_bn(y, stride)
    y = conv_bn(y, filters, act=False)
    return layers.Add()([x, y]) if stride == 1 and in_channels == filters else y


def backbone(image: tf.Tensor) -> list[tf.Tensor]:
    """MobileNetV2-like feature extractor returning the stride 8, 16 and 32 maps.

    The two high-resolution layers are plain convolutions: depthwise
    convolutions at 80x80 and 40x40 dominate CPU training time for little gain.
    """
    x = conv_bn(image, 16, 3, 2)
    x = conv_bn(x, 24, 3, 2)
    x = inverted_residual(x, 24, expand=3)
    features = []
    for filters, repeats in ((32, 3), (64, 3), (96, 2)):
        x = inverted_residual(x, filters, stride=2)
        for _ in range(repeats - 1):
            x = inverted_residual(x, filters)
        features.append(x)
    return features


def feature_pyramid(features: list[tf.Tensor]) -> list[tf.Tensor]:
    """Light top-down pyramid so the fine map sees the context of the coarse ones."""
    laterals = [conv_bn(f, HEAD_CHANNELS) for f in features]
    merged = [laterals[-1]]
    for lateral in reversed(laterals[:-1]):
        up = layers.UpSampling2D(2, interpolation="nearest")(merged[0])
        merged.insert(0, layers.Add()([lateral, up]))
    return [conv_bn(depthwise_bn(m), HEAD_CHANNELS) for m in merged]


def build_models() -> tuple[keras.Model, keras.Model]:
    """SSD with heads shared across pyramid levels.

    Returns a training model emitting logits (numerically stable loss) and the
    deployable model sharing its weights, emitting softmax scores.
    """
    image = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    pyramid = feature_pyramid(backbone(image))
    box_head = layers.Conv2D(ANCHORS_PER_CELL * 4, 3, padding="same", name="box_head")
    prior = -math.log((1 - 0.01) / 0.01)
    class_head = layers.Conv2D(
        ANCHORS_PER_CELL * (NUM_CLASSES + 1), 3, padding="same", name="class_head",
        bias_initializer=keras.initializers.Constant(([0.0] + [prior] * NUM_CLASSES) * ANCHORS_PER_CELL),
    )
    tower = [layers.SeparableConv2D(HEAD_CHANNELS, 3, padding="same", activation="relu6") for _ in range(2)]
    boxes, logits = [], []
    for level in pyramid:
        for conv in tower:
            level = conv(level)
        boxes.append(layers.Reshape((-1, 4))(box_head(level)))
        logits.append(layers.Reshape((-1, NUM_CLASSES + 1))(class_head(level)))
    box_encodings = layers.Concatenate(axis=1, name="box_encodings")(boxes)
    class_logits = layers.Concatenate(axis=1)(logits)
    class_scores = layers.Softmax(name="class_scores")(class_logits)
    train_model = keras.Model(image, [box_encodings, class_logits])
    deploy_model = keras.Model(image, {"box_encodings": box_encodings, "class_scores": class_scores})
    return train_model, deploy_model


# --------------------------------------------------------------------------- data


def preprocess(bgr: np.ndarray) -> np.ndarray:
    """Plain resize to the model input, uint8 RGB (normalization happens later)."""
    resized = cv2.resize(bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)


def normalize(images: tf.Tensor) -> tf.Tensor:
    """uint8 RGB -> float32 in [-1, 1], as the deployed model expects."""
    return (tf.cast(images, tf.float32) - 127.5) / 127.5


def jpeg_roundtrip(img: np.ndarray) -> np.ndarray:
    """Encode/decode like the committed splits so training sees JPEG artefacts and 3 channels."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, shapes.JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def make_train_set(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``[N,S,S,3]`` uint8, boxes ``[N,G,4]`` normalized corners, labels ``[N,G]`` (0 = pad)."""
    samples, coco = shapes.generate_split("train", count, shapes.TRAIN_SEED)
    images = np.stack([preprocess(jpeg_roundtrip(img)) for _, img in samples])
    boxes = np.zeros((count, MAX_GT, 4), np.float32)
    labels = np.zeros((count, MAX_GT), np.int32)
    index = {img["id"]: i for i, img in enumerate(coco["images"])}
    slot = np.zeros(count, np.int64)
    for ann in coco["annotations"]:
        i = index[ann["image_id"]]
        info = coco["images"][i]
        x, y, w, h = ann["bbox"]
        boxes[i, slot[i]] = [y / info["height"], x / info["width"], (y + h) / info["height"], (x + w) / info["width"]]
        labels[i, slot[i]] = shapes.CATEGORY_IDS.index(ann["category_id"]) + 1
        slot[i] += 1
    return images, boxes, labels


def flip_batch(
    rng: np.random.Generator, images: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip; every shape class is mirror-invariant."""
    flip = rng.random(len(images)) < 0.5
    images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
    flipped = boxes.copy()
    flipped[..., 1], flipped[..., 3] = 1.0 - boxes[..., 3], 1.0 - boxes[..., 1]
    valid = boxes[..., 2] > boxes[..., 0]
    boxes = np.where((flip[:, None] & valid)[..., None], flipped, boxes)
    return images, boxes


# --------------------------------------------------------------------------- loss


def pairwise_iou(anchors: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
    """IoU between anchors ``[A,4]`` and per-image boxes ``[B,G,4]`` -> ``[B,A,G]``."""
    a = anchors[None, :, None, :]
    b = boxes[:, None, :, :]
    ih = tf.nn.relu(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]))
    iw = tf.nn.relu(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]))
    inter = ih * iw
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter + 1e-9)


def match(
    anchor_corners: tf.Tensor, anchors: tf.Tensor, boxes: tf.Tensor, labels: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """SSD matching: IoU >= POS_IOU or best anchor of a GT is positive, < NEG_IOU negative, else ignored (-1)."""
    valid = labels > 0
    iou = tf.where(valid[:, None, :], pairwise_iou(anchor_corners, boxes), -1.0)
    best_gt = tf.argmax(iou, axis=2, output_type=tf.int32)
    best_iou = tf.reduce_max(iou, axis=2)
    forced = tf.one_hot(tf.argmax(iou, axis=1, output_type=tf.int32), tf.shape(iou)[1], axis=1)
    forced *= tf.cast(valid, tf.float32)[:, None, :]
    is_forced = tf.reduce_max(forced, axis=2) > 0
    gt_index = tf.where(is_forced, tf.argmax(forced, axis=2, output_type=tf.int32), best_gt)
    quality = tf.where(is_forced, 1.0, best_iou)
    matched_labels = tf.gather(labels, gt_index, batch_dims=1)
    targets = tf.where(quality >= POS_IOU, matched_labels, tf.where(quality < NEG_IOU, 0, -1))
    return targets, encode_boxes(tf.gather(boxes, gt_index, batch_dims=1), anchors)


def smooth_l1(targets: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
    """Smooth-L1 summed over the four box coordinates."""
    diff = tf.abs(targets - predictions)
    return tf.reduce_sum(tf.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5), axis=-1)


def ssd_loss(
    class_targets: tf.Tensor, box_targets: tf.Tensor, logits: tf.Tensor, encodings: tf.Tensor
) -> tf.Tensor:
    """Smooth-L1 on positives plus softmax cross-entropy with 3:1 hard negative mining."""
    positive = class_targets > 0
    negative = tf.equal(class_targets, 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(class_targets, 0), logits)
    num_pos = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    num_neg = tf.minimum(
        tf.maximum(NEG_POS_RATIO * num_pos, MIN_NEGATIVES),
        tf.reduce_sum(tf.cast(negative, tf.int32), axis=1),
    )
    neg_ce = tf.where(negative, ce, -1.0)
    ranked = tf.sort(neg_ce, axis=1, direction="DESCENDING")
    threshold = tf.gather(ranked, tf.maximum(num_neg - 1, 0), batch_dims=1)
    hard = negative & (neg_ce >= threshold[:, None]) & (num_neg[:, None] > 0)
    normalizer = tf.maximum(tf.cast(tf.reduce_sum(num_pos), tf.float32), 1.0)
    cls_loss = tf.reduce_sum(tf.where(positive | hard, ce, 0.0)) / normalizer
    box_loss = tf.reduce_sum(tf.where(positive, smooth_l1(box_targets, encodings), 0.0)) / normalizer
    return cls_loss + box_loss


# --------------------------------------------------------------------------- training


def learning_rate(step: int, total_steps: int, config: TrainConfig) -> float:
    """Linear warm-up followed by cosine decay to zero."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(total_steps - config.warmup_steps, 1)
    return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * progress))


def make_train_step(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, anchors: np.ndarray
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], tf.Tensor]:
    """Compile one optimisation step; matching runs in-graph on the augmented boxes."""
    anchors_t = tf.constant(anchors)
    corners_t = tf.constant(corners(anchors))

    @tf.function
    def step(images: tf.Tensor, boxes: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        class_targets, box_targets = match(corners_t, anchors_t, boxes, labels)
        with tf.GradientTape() as tape:
            encodings, logits = model(normalize(images), training=True)
            loss = ssd_loss(class_targets, box_targets, logits, encodings)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def train(
    model: keras.Model, data: tuple[np.ndarray, np.ndarray, np.ndarray], anchors: np.ndarray, config: TrainConfig
) -> None:
    """Plain epoch loop with a seeded shuffle so runs are reproducible."""
    images, boxes, labels = data
    rng = np.random.default_rng(SEED)
    steps_per_epoch = len(images) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=10.0)
    step_fn = make_train_step(model, optimizer, anchors)
    step = 0
    for epoch in range(config.epochs):
        start, losses = time.time(), []
        order = rng.permutation(len(images))
        for b in range(steps_per_epoch):
            idx = np.sort(order[b * config.batch_size : (b + 1) * config.batch_size])
            batch_images, batch_boxes = flip_batch(rng, images[idx], boxes[idx])
            optimizer.learning_rate.assign(learning_rate(step, total_steps, config))
            losses.append(float(step_fn(batch_images, batch_boxes, labels[idx])))
            step += 1
        print(f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f} ({time.time() - start:.0f}s)", flush=True)


# --------------------------------------------------------------------------- export


def export(model: keras.Model, anchors: np.ndarray, out: Path) -> None:
    """Write the SavedModel (serving signature image -> box_encodings, class_scores), anchors and labels."""
    serve = tf.function(
        lambda image: model(image, training=False),
        input_signature=[tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.float32, name="image")],
    )
    # A bare tf.Module holding the weights once keeps the SavedModel about half
    # the size of a Keras export archive, which also stores them per collection.
    module = tf.Module()
    module.weights = [v.value for v in model.variables]
    module.serve = serve
    tf.saved_model.save(module, str(out / "saved_model"), signatures={"serving_default": serve})
    np.save(out / "anchors.npy", anchors)
    labels = ["background"] + [c["name"] for c in sorted(shapes.CATEGORIES, key=lambda c: c["id"])]
    (out / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")


# --------------------------------------------------------------------------- evaluation


def detect(scores: np.ndarray, encodings: np.ndarray, anchors: np.ndarray, width: int, height: int) -> list[tuple]:
    """Decode, per-class NMS and top-100; returns (x, y, w, h, score, class index) in pixels."""
    boxes = decode_boxes(encodings, anchors)
    anchor_idx, cls = np.nonzero(scores[:, 1:] > 0.01)
    if len(anchor_idx) == 0:
        return []
    cand = boxes[anchor_idx] * [height, width, height, width]
    xywh = np.stack([cand[:, 1], cand[:, 0], cand[:, 3] - cand[:, 1], cand[:, 2] - cand[:, 0]], 1)
    cand_scores = scores[anchor_idx, cls + 1]
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), cand_scores.tolist(), cls.tolist(), 0.01, 0.6)
    keep = sorted(np.asarray(keep, np.int64).ravel(), key=lambda k: -cand_scores[k])[:100]
    return [(*xywh[k], cand_scores[k], cls[k] + 1) for k in keep]


def evaluate_openvino(saved_model: Path, dataset: Path, anchors: np.ndarray) -> list[float]:
    """COCO bbox stats of the OpenVINO-converted SavedModel on the val split."""
    import openvino as ov
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ov_model = ov.convert_model(str(saved_model))
    ov_model.reshape([1, INPUT_SIZE, INPUT_SIZE, 3])
    compiled = ov.Core().compile_model(ov_model, "CPU")
    gt = COCO(str(dataset / "val.json"))
    cat_ids = sorted(gt.getCatIds())
    results = []
    for info in gt.dataset["images"]:
        bgr = cv2.imread(str(dataset / "val" / info["file_name"]), cv2.IMREAD_COLOR)
        image = (preprocess(bgr).astype(np.float32)[None] - 127.5) / 127.5
        out = compiled(image)
        scores, encodings = out["class_scores"][0], out["box_encodings"][0]
        for x, y, w, h, score, k in detect(scores, encodings, anchors, bgr.shape[1], bgr.shape[0]):
            box = [float(x), float(y), float(w), float(h)]
            results.append({"image_id": info["id"], "category_id": cat_ids[k - 1], "bbox": box, "score": float(score)})
    coco_eval = COCOeval(gt, gt.loadRes(results), "bbox")
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return [float(s) for s in coco_eval.stats]


def write_report(out: Path, config: TrainConfig, anchors: np.ndarray, wall_seconds: float, stats: list[float]) -> None:
    """Record how the committed model was produced and how well it scores."""
    size = sum(f.stat().st_size for f in (out / "saved_model").rglob("*") if f.is_file())
    lines = [
        "# Sample SSD model (synthetic shapes)",
        "",
        "Command: `python tools/make_shapes_dataset.py --out datasets/shapes && "
        "python tools/train_ssd_shapes.py --out datasets/shapes/model`",
        "",
        f"- Seeds: training {SEED} (keras.utils.set_random_seed and shuffling), "
        f"train split {shapes.TRAIN_SEED}, val split {shapes.VAL_SEED}, calib split {shapes.CALIB_SEED}",
        f"- Data: {config.train_images} generated train images (not committed), horizontal flips",
        f"- Schedule: {config.epochs} epochs, batch {config.batch_size}, Adam, peak lr {config.learning_rate}, "
        f"{config.warmup_steps} warm-up steps then cosine decay",
        f"- Model: input `image` [1,{INPUT_SIZE},{INPUT_SIZE},3] RGB (x-127.5)/127.5, {len(anchors)} anchors, "
        f"SavedModel {size} bytes",
        f"- Wall time: {wall_seconds / 60:.1f} min (data generation, training, export, evaluation; 2 CPU cores)",
        f"- Val (OpenVINO FP32, pycocotools bbox): AP {stats[0]:.3f}, AP50 {stats[1]:.3f}, AP75 {stats[2]:.3f}",
        "",
    ]
    (out / "TRAINING.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/shapes/model"))
    parser.add_argument("--dataset", type=Path, default=REPO / "datasets" / "shapes", help="holds val/ and val.json")
    parser.add_argument("--train-images", type=int, default=TrainConfig.train_images)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args()
    config = TrainConfig(train_images=args.train_images, epochs=args.epochs)

    start = time.time()
    keras.utils.set_random_seed(SEED)
    anchors = make_anchors()
    data = make_train_set(config.train_images)
    print(f"generated {len(data[0])} train images in {time.time() - start:.0f}s", flush=True)
    train_model, deploy_model = build_models()
    train(train_model, data, anchors, config)
    args.out.mkdir(parents=True, exist_ok=True)
    export(deploy_model, anchors, args.out)
    stats = evaluate_openvino(args.out / "saved_model", args.dataset, anchors)
    write_report(args.out, config, anchors, time.time() - start, stats)


if __name__ == "__main__":
    main()
