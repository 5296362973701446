"""Train the semantic-segmentation sample on the shapes set: six classes (background and the five shapes),
ground truth from the COCO polygons through pycocotools' mask API, as `coco_masks` reads the val split.

A small encoder-decoder (depthwise-separable convolutions, a dilated stride-16 stage, bilinear upsampling with
skips) whose SavedModel takes `image` [1, 160, 160, 3] RGB in 0..1, letterboxed with padding 114, and returns
`logits` [1, 40, 40, 6] at stride 4, as DeepLab-style exports leave the last upsampling to the caller.
Training upsamples the logits to the input and ignores the padding. The val mIoU (OpenVINO FP32, class maps
resized back to each image) is recorded in `TRAINING.md` next to the model.

Usage::

    python tools/train_segmentation_shapes.py --out datasets/shapes/segmentation
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import keras  # noqa: E402
import make_shapes_dataset as shapes  # noqa: E402
import tensorflow as tf  # noqa: E402
import train_yolo_shapes as yolo  # noqa: E402
from keras import layers  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

SEED = 2029
TRAIN_COUNT = 6000
INPUT_SIZE = 160
CLASSES = 1 + len(shapes.CATEGORY_IDS)
IGNORE = 255


def class_maps(coco_dict: dict) -> dict[int, np.ndarray]:
    """image id → class map (0 background, 1..5 shapes in category-id order), from the polygons and RLEs."""
    coco = COCO()
    coco.dataset = coco_dict
    coco.createIndex()
    index = {c: i + 1 for i, c in enumerate(sorted(coco.cats))}
    maps = {}
    for image_id, info in coco.imgs.items():
        truth = np.zeros((info["height"], info["width"]), np.uint8)
        for annotation in coco.imgToAnns.get(image_id, []):
            truth[coco.annToMask(annotation).astype(bool)] = index[annotation["category_id"]]
        maps[image_id] = truth
    return maps


def letterbox_mask(mask: np.ndarray) -> np.ndarray:
    """The class map placed as `yolo.letterbox` places its image, padding ignored."""
    height, width = mask.shape
    scale = min(INPUT_SIZE / height, INPUT_SIZE / width)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(mask, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    top, left = round((INPUT_SIZE - new_h) / 2 - 0.1), round((INPUT_SIZE - new_w) / 2 - 0.1)
    canvas = np.full((INPUT_SIZE, INPUT_SIZE), IGNORE, np.uint8)
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas


def make_train_set() -> tuple[np.ndarray, np.ndarray]:
    samples, coco = shapes.generate_split("train", TRAIN_COUNT, shapes.TRAIN_SEED)
    maps = class_maps(coco)
    images = np.stack([yolo.letterbox(image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))[0]
                       for _, image in samples])
    masks = np.stack([letterbox_mask(maps[info["id"]]) for info in coco["images"]])
    return images, masks


def separable(x, filters: int, stride: int = 1, dilation: int = 1):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", dilation_rate=dilation, use_bias=False)(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def build_model() -> keras.Model:
    image = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False)(image)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    stride4 = separable(separable(x, 48, 2), 48)
    stride8 = separable(separable(stride4, 64, 2), 64)
    x = separable(separable(separable(stride8, 96, 2), 96, dilation=2), 96, dilation=4)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = separable(layers.Concatenate()([x, stride8]), 64)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = separable(layers.Concatenate()([x, stride4]), 48)
    return keras.Model(image, layers.Conv2D(CLASSES, 1, name="logits")(x))


def train(model: keras.Model, images: np.ndarray, masks: np.ndarray, epochs: int, batch: int) -> None:
    rng = np.random.default_rng(SEED)
    steps = epochs * (len(images) // batch)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=3e-3, warmup_steps=steps // 10)
    optimizer = keras.optimizers.Adam(schedule)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = tf.image.resize(model(x, training=True), (INPUT_SIZE, INPUT_SIZE))
            valid = tf.cast(y != IGNORE, tf.float32)
            labels = tf.where(y == IGNORE, tf.zeros_like(y), y)
            loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            loss = tf.reduce_sum(loss * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    start = time.time()
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        for first in range(0, len(images) - batch + 1, batch):
            index = order[first:first + batch]
            x, y = images[index], masks[index]
            flip = rng.random(len(index)) < 0.5
            x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
            y = np.where(flip[:, None, None], y[:, :, ::-1], y)
            loss = step(tf.constant(x, tf.float32) / 255.0, tf.constant(y.astype(np.int32)))
        print(f"epoch {epoch + 1}/{epochs} loss {float(loss):.4f} {time.time() - start:.0f}s", flush=True)


def export(model: keras.Model, out: Path) -> None:
    module = tf.Module()
    module.weights = [v.value for v in model.variables]

    @tf.function(input_signature=[tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.float32, name="image")])
    def serve(image):
        return {"logits": model(image, training=False)}

    module.serve = serve
    tf.saved_model.save(module, str(out / "saved_model"), signatures={"serving_default": module.serve})
    names = ["background"] + [c["name"] for c in sorted(shapes.CATEGORIES, key=lambda c: c["id"])]
    (out / "classes.txt").write_text("\n".join(names) + "\n")


def fp32_miou(out: Path) -> float:
    """mIoU of the exported model under OpenVINO on the committed val split, maps resized to each image."""
    import json

    import openvino as ov

    compiled = ov.Core().compile_model(ov.convert_model(str(out / "saved_model")), "CPU",
                                     {"INFERENCE_PRECISION_HINT": "f32"})  # as quantflow evaluates
    coco = json.loads((REPO / "datasets/shapes/val.json").read_text())
    maps = class_maps(coco)
    confusion = np.zeros((CLASSES, CLASSES))
    for info in coco["images"]:
        bgr = cv2.imread(str(REPO / "datasets/shapes/val" / info["file_name"]), cv2.IMREAD_COLOR)
        rgb, scale, (left, top) = yolo.letterbox(bgr)
        logits = compiled(rgb[None].astype(np.float32) / 255.0)[0][0]
        full = cv2.resize(logits, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        height, width = bgr.shape[:2]
        crop = full[top:top + round(height * scale), left:left + round(width * scale)]
        predicted = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR).argmax(2)
        np.add.at(confusion, (maps[info["id"]].ravel(), predicted.ravel()), 1)
    iou = np.diag(confusion) / (confusion.sum(0) + confusion.sum(1) - np.diag(confusion))
    return float(np.nanmean(iou))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "datasets/shapes/segmentation")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    keras.utils.set_random_seed(SEED)
    started = time.time()
    images, masks = make_train_set()
    model = build_model()
    train(model, images, masks, args.epochs, args.batch)
    args.out.mkdir(parents=True, exist_ok=True)
    export(model, args.out)
    miou = fp32_miou(args.out)
    minutes = (time.time() - started) / 60
    print(f"val mIoU {miou:.4f}, {minutes:.1f} min", flush=True)
    (args.out / "TRAINING.md").write_text(
        f"# Segmentation sample (synthetic shapes)\n\nCommand: `python tools/train_segmentation_shapes.py --out "
        f"datasets/shapes/segmentation`\n\n- Seeds: training {SEED}, train split {shapes.TRAIN_SEED}\n- Data: "
        f"{TRAIN_COUNT} generated images (not committed), letterboxed to {INPUT_SIZE} (padding 114, ignored by the "
        f"loss), horizontal flips; class maps from the COCO polygons (pycocotools)\n- Schedule: {args.epochs} "
        f"epochs, batch {args.batch}, Adam, cosine decay from 3e-3 after a 10 % warm-up\n- Model: "
        f"{model.count_params()} parameters; `image` [1,{INPUT_SIZE},{INPUT_SIZE},3] RGB 0..1 → `logits` "
        f"[1,{INPUT_SIZE // 4},{INPUT_SIZE // 4},{CLASSES}] (stride 4)\n- Wall time: {minutes:.1f} min on 2 CPU "
        f"cores (TensorFlow {tf.__version__})\n- Val (OpenVINO FP32, logits resized back to each image, argmax): "
        f"mIoU {miou:.4f}\n")


if __name__ == "__main__":
    main()
