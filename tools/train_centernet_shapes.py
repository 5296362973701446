"""Train the MobileNetV3-CenterNet shipped as quantflow's hard INT8 sample.

The ingredients that make real detectors lose accuracy in INT8 are all here: a MobileNetV3-style backbone
(hard-swish activations, squeeze-excite blocks with hard-sigmoid gates), an upsampling neck to stride 4 and a
CenterNet head (class heatmap, box size, centre offset). Peak extraction is in the graph, as in exported
CenterNets: sigmoid heatmap, 3x3 max-pool suppression, top-k over every cell and class, gathers of size and
offset. The model is trained on the synthetic shapes set with CenterNet's penalty-reduced focal loss on
Gaussian heatmaps and L1 size and offset losses, written here from the paper's description.

The exported SavedModel takes `image` [1, H, W, 3] float RGB in 0..1 (H, W divisible by 32) and returns
`detections` [1, 100, 6]: x1, y1, x2, y2 in input pixels, score, class index - the layout of the real
COCO-trained MobileNetV3-CenterNet exports. After training the model is converted with OpenVINO and scored on
the committed val split with pycocotools; the result is recorded in `TRAINING.md` next to the model.

Usage::

    python tools/train_centernet_shapes.py --out datasets/shapes/centernet
"""

from __future__ import annotations

import argparse
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
import train_yolo_shapes as yolo  # noqa: E402
from keras import layers  # noqa: E402

SEED = 2026
INPUT_SIZE = 160
STRIDE = 4
NUM_CLASSES = len(shapes.CATEGORY_IDS)
MAX_GT = ssd.MAX_GT
NECK_CHANNELS = 64
TOP_K = 100
GAUSSIAN_ALPHA = 0.54  # TTFNet's elliptical Gaussian: sigma = alpha * side / 6


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults reproduce the committed model."""

    train_images: int = 8000
    epochs: int = 14
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 300


# --------------------------------------------------------------------------- model


def hard_swish(x: tf.Tensor) -> tf.Tensor:
    return layers.Activation("hard_swish")(x)


def conv_bn(x: tf.Tensor, filters: int, kernel: int = 1, stride: int = 1, act: str | None = "hswish") -> tf.Tensor:
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    if act == "hswish":
        return hard_swish(x)
    return layers.ReLU()(x) if act == "relu" else x


def squeeze_excite(x: tf.Tensor) -> tf.Tensor:
    """Channel gates from the global mean: 1x1 reduce (ReLU), 1x1 expand (hard sigmoid), multiply."""
    channels = x.shape[-1]
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(max(8, channels // 4), 1, activation="relu")(gate)
    gate = layers.Conv2D(channels, 1, activation="hard_sigmoid")(gate)
    return layers.Multiply()([x, gate])


def bneck(x: tf.Tensor, kernel: int, expand: int, filters: int, se: bool, act: str, stride: int) -> tf.Tensor:
    """MobileNetV3 block: 1x1 expand, depthwise kxk, optional squeeze-excite, linear 1x1 projection."""
    in_channels = x.shape[-1]
    y = conv_bn(x, expand, act=act) if expand != in_channels else x
    y = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = hard_swish(y) if act == "hswish" else layers.ReLU()(y)
    if se:
        y = squeeze_excite(y)
    y = conv_bn(y, filters, act=None)
    return layers.Add()([x, y]) if stride == 1 and in_channels == filters else y


# (kernel, expansion, output channels, squeeze-excite, activation, stride): MobileNetV3-Small, narrowed
BLOCKS = (
    (3, 16, 16, True, "relu", 2),      # stride 4
    (3, 64, 24, False, "relu", 2),     # stride 8
    (3, 72, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),    # stride 16
    (5, 160, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 192, 96, True, "hswish", 2),   # stride 32
    (5, 288, 96, True, "hswish", 1),
)


def backbone(image: tf.Tensor) -> list[tf.Tensor]:
    """Feature maps at strides 4, 8, 16 and 32."""
    x = conv_bn(layers.Rescaling(2.0, offset=-1.0)(image), 16, 3, 2)
    features = []
    for index, block in enumerate(BLOCKS):
        x = bneck(x, *block)
        if index + 1 == len(BLOCKS) or BLOCKS[index + 1][5] == 2:
            features.append(x)
    return features


def neck(features: list[tf.Tensor]) -> tf.Tensor:
    """Top-down upsampling with lateral skips back to stride 4, as CenterNet's MobileNet variants do."""
    x = conv_bn(features[-1], NECK_CHANNELS)
    for skip in reversed(features[:-1]):
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = layers.Add()([x, conv_bn(skip, NECK_CHANNELS, act=None)])
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = conv_bn(hard_swish(x), NECK_CHANNELS)
    return x


def head(x: tf.Tensor, outputs: int, name: str, bias: float = 0.0) -> tf.Tensor:
    y = layers.Conv2D(NECK_CHANNELS, 3, padding="same", activation="relu")(x)
    return layers.Conv2D(outputs, 1, name=name, bias_initializer=keras.initializers.Constant(bias))(y)


def build_raw_model() -> keras.Model:
    """image (0..1 RGB) -> heatmap logits [B,h,w,C], sizes [B,h,w,2] and offsets [B,h,w,2] in output cells."""
    image = keras.Input((None, None, 3), name="image")
    x = neck(backbone(image))
    prior = -math.log((1 - 0.1) / 0.1)
    return keras.Model(image, [head(x, NUM_CLASSES, "heatmap", prior), head(x, 2, "size"), head(x, 2, "offset")])


def serving_function(model: keras.Model):
    """The deployed graph: heads, then CenterNet's peak extraction and top-k rows in input pixels."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
    def serve(image):
        logits, size, offset = model(image, training=False)
        heat = tf.sigmoid(logits)
        peaks = heat * tf.cast(tf.equal(heat, tf.nn.max_pool2d(heat, 3, 1, "SAME")), heat.dtype)
        width = tf.shape(heat)[2]
        scores, index = tf.math.top_k(tf.reshape(peaks, [tf.shape(heat)[0], -1]), TOP_K)
        cell, cls = index // NUM_CLASSES, index % NUM_CLASSES
        ys, xs = tf.cast(cell // width, tf.float32), tf.cast(cell % width, tf.float32)
        # one gather over every image's cells: OpenVINO 2026.4's CPU Gather with batch_dims=1 on these [B, h*w, 2]
        # maps read out of bounds (wrong rows, then a segfault) for some inputs
        flat = cell + tf.range(tf.shape(heat)[0])[:, None] * (tf.shape(heat)[1] * width)
        wh = tf.gather(tf.reshape(size, [-1, 2]), flat) * STRIDE
        centre = tf.gather(tf.reshape(offset, [-1, 2]), flat)
        cx, cy = (xs + centre[..., 0]) * STRIDE, (ys + centre[..., 1]) * STRIDE
        rows = tf.stack([cx - wh[..., 0] / 2, cy - wh[..., 1] / 2, cx + wh[..., 0] / 2, cy + wh[..., 1] / 2,
                         scores, tf.cast(cls, tf.float32)], axis=-1)
        return {"detections": rows}

    return serve


# --------------------------------------------------------------------------- data and targets


def make_train_set(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images [N,S,S,3] uint8 RGB resized to the input, boxes [N,G,4] x1,y1,x2,y2 in input pixels, labels [N,G]
    (-1 = pad)."""
    samples, coco = shapes.generate_split("train", count, shapes.TRAIN_SEED)
    images = np.stack([ssd.preprocess(ssd.jpeg_roundtrip(img)) for _, img in samples])
    boxes = np.zeros((count, MAX_GT, 4), np.float32)
    labels = np.full((count, MAX_GT), -1, np.int32)
    index = {img["id"]: i for i, img in enumerate(coco["images"])}
    slot = np.zeros(count, np.int64)
    for ann in coco["annotations"]:
        i = index[ann["image_id"]]
        if ann.get("iscrowd") or slot[i] >= MAX_GT:
            continue
        info, (x, y, w, h) = coco["images"][i], ann["bbox"]
        sx, sy = INPUT_SIZE / info["width"], INPUT_SIZE / info["height"]
        boxes[i, slot[i]] = [x * sx, y * sy, (x + w) * sx, (y + h) * sy]
        labels[i, slot[i]] = shapes.CATEGORY_IDS.index(ann["category_id"])
        slot[i] += 1
    return images, boxes, labels


def targets(boxes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gaussian class heatmaps [B,h,w,C] with 1 at each centre cell, and per object its cell index [B,G],
    size and sub-cell offset [B,G,2] in output cells and a mask [B,G]."""
    cells = INPUT_SIZE // STRIDE
    batch = len(boxes)
    heat = np.zeros((batch, cells, cells, NUM_CLASSES), np.float32)
    index = np.zeros((batch, MAX_GT), np.int32)
    size = np.zeros((batch, MAX_GT, 2), np.float32)
    offset = np.zeros((batch, MAX_GT, 2), np.float32)
    mask = (labels >= 0).astype(np.float32)
    grid = np.arange(cells, dtype=np.float32)
    for b, g in zip(*np.nonzero(labels >= 0)):
        x1, y1, x2, y2 = boxes[b, g] / STRIDE
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ix, iy = min(int(cx), cells - 1), min(int(cy), cells - 1)
        sx, sy = max(GAUSSIAN_ALPHA * (x2 - x1) / 6, 0.3), max(GAUSSIAN_ALPHA * (y2 - y1) / 6, 0.3)
        blob = np.exp(-((grid[None, :] - ix) ** 2) / (2 * sx * sx) - ((grid[:, None] - iy) ** 2) / (2 * sy * sy))
        channel = heat[b, :, :, labels[b, g]]
        np.maximum(channel, blob, out=channel)
        channel[iy, ix] = 1.0
        index[b, g] = iy * cells + ix
        size[b, g] = (x2 - x1, y2 - y1)
        offset[b, g] = (cx - ix, cy - iy)
    return heat, index, size, offset, mask


# --------------------------------------------------------------------------- loss and training


def focal_loss(logits: tf.Tensor, heat: tf.Tensor) -> tf.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), normalised by the number of objects."""
    p = tf.clip_by_value(tf.sigmoid(logits), 1e-4, 1 - 1e-4)
    positive = tf.cast(tf.equal(heat, 1.0), tf.float32)
    pos = tf.math.log(p) * tf.square(1 - p) * positive
    neg = tf.math.log(1 - p) * tf.square(p) * tf.pow(1 - heat, 4) * (1 - positive)
    return -(tf.reduce_sum(pos) + tf.reduce_sum(neg)) / tf.maximum(tf.reduce_sum(positive), 1.0)


def regression_loss(prediction: tf.Tensor, index: tf.Tensor, target: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    flat = tf.reshape(prediction, [tf.shape(prediction)[0], -1, 2])
    picked = tf.gather(flat, index, batch_dims=1)
    return tf.reduce_sum(tf.abs(picked - target) * mask[..., None]) / tf.maximum(tf.reduce_sum(mask), 1.0)


def train(model: keras.Model, data: tuple[np.ndarray, np.ndarray, np.ndarray], config: TrainConfig) -> None:
    """Plain epoch loop with a seeded shuffle so runs are reproducible."""
    images, boxes, labels = data
    rng = np.random.default_rng(SEED)
    steps_per_epoch = len(images) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=10.0)

    @tf.function
    def step_fn(batch_images, heat, index, size, offset, mask):
        with tf.GradientTape() as tape:
            logits, size_out, offset_out = model(tf.cast(batch_images, tf.float32) / 255.0, training=True)
            loss = (focal_loss(logits, heat) + 0.1 * regression_loss(size_out, index, size, mask)
                    + regression_loss(offset_out, index, offset, mask))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step = 0
    for epoch in range(config.epochs):
        start, losses = time.time(), []
        order = rng.permutation(len(images))
        for b in range(steps_per_epoch):
            idx = np.sort(order[b * config.batch_size : (b + 1) * config.batch_size])
            batch_images, batch_boxes = yolo.flip_batch(rng, images[idx], boxes[idx])
            optimizer.learning_rate.assign(ssd.learning_rate(step, total_steps, config))
            losses.append(float(step_fn(batch_images, *targets(batch_boxes, labels[idx]))))
            step += 1
        print(f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f} ({time.time() - start:.0f}s)", flush=True)


# --------------------------------------------------------------------------- export and evaluation


def evaluate_openvino(saved_model: Path, dataset: Path) -> list[float]:
    """COCO bbox stats of the OpenVINO-converted SavedModel on the val split (plain resize, rows as they come)."""
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
        rows = compiled(ssd.preprocess(bgr).astype(np.float32)[None] / 255.0)["detections"][0]
        sx, sy = info["width"] / INPUT_SIZE, info["height"] / INPUT_SIZE
        for x1, y1, x2, y2, score, k in rows:
            if score < 0.001:
                continue
            box = [float(x1 * sx), float(y1 * sy), float((x2 - x1) * sx), float((y2 - y1) * sy)]
            results.append({"image_id": info["id"], "category_id": cat_ids[int(k)], "bbox": box,
                            "score": float(score)})
    coco_eval = COCOeval(gt, gt.loadRes(results), "bbox")
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return [float(s) for s in coco_eval.stats]


def write_report(out: Path, config: TrainConfig, wall: str, stats: list[float], reexported: bool) -> None:
    size = sum(f.stat().st_size for f in (out / "saved_model").rglob("*") if f.is_file())
    lines = [
        "# Sample MobileNetV3-CenterNet (synthetic shapes)",
        "",
        "Command: `python tools/train_centernet_shapes.py --out datasets/shapes/centernet`",
        "",
        f"- Seeds: training {SEED} (keras.utils.set_random_seed and shuffling), train split {shapes.TRAIN_SEED}",
        f"- Data: {config.train_images} generated train images (not committed), resized to {INPUT_SIZE}, "
        "horizontal flips",
        f"- Schedule: {config.epochs} epochs, batch {config.batch_size}, Adam, peak lr {config.learning_rate}, "
        f"{config.warmup_steps} warm-up steps then cosine decay",
        f"- Model: input `image` [1,H,W,3] RGB 0..1 (H, W divisible by 32), output `detections` [1,{TOP_K},6] "
        f"(x1, y1, x2, y2 in input pixels, score, class index); hard-swish, squeeze-excite, stride-{STRIDE} "
        f"heatmap head with in-graph max-pool peaks and top-{TOP_K}; SavedModel {size} bytes",
        wall,
        *(["- Serving graph re-exported from the trained weights with `--weights-from` (one Gather over all "
            "images' cells)"] if reexported else []),
        f"- Val (OpenVINO FP32, resize {INPUT_SIZE}, rows as emitted, pycocotools bbox): "
        f"AP {stats[0]:.3f}, AP50 {stats[1]:.3f}, AP75 {stats[2]:.3f}",
        "",
    ]
    (out / "TRAINING.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "datasets" / "shapes" / "centernet")
    parser.add_argument("--dataset", type=Path, default=REPO / "datasets" / "shapes", help="holds val/ and val.json")
    parser.add_argument("--train-images", type=int, default=TrainConfig.train_images)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--weights-from", type=Path, help="skip training: re-export the weights of this earlier "
                        "SavedModel with the current serving graph")
    args = parser.parse_args()
    config = TrainConfig(train_images=args.train_images, epochs=args.epochs)
    started = time.time()
    keras.utils.set_random_seed(SEED)
    model = build_raw_model()
    if args.weights_from:
        for variable, value in zip(model.variables, tf.saved_model.load(str(args.weights_from)).weights, strict=True):
            variable.assign(value)
    else:
        data = make_train_set(config.train_images)
        print(f"data ready: {len(data[0])} images ({time.time() - started:.0f}s)", flush=True)
        train(model, data, config)
    args.out.mkdir(parents=True, exist_ok=True)
    yolo.export(model, args.out, serving_function(model))
    stats = evaluate_openvino(args.out / "saved_model", args.dataset)
    wall = (f"- Wall time: {(time.time() - started) / 60:.1f} min (data generation, training, export, evaluation; "
            "2 CPU cores)")
    if args.weights_from:  # the training run's own figure stands
        earlier = args.weights_from.parent / "TRAINING.md"
        lines = earlier.read_text().splitlines() if earlier.is_file() else []
        wall = next((line for line in lines if line.startswith("- Wall time:")), "- Wall time: not recorded")
    write_report(args.out, config, wall, stats, bool(args.weights_from))
    print(f"AP {stats[0]:.3f} AP50 {stats[1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
