"""Train the classification sample: a small depthwise-separable CNN on the ten-class synthetic set of
`make_classification_dataset.py`, exported as a SavedModel whose softmax has a leading background class, as
1001-class TensorFlow classifiers have (so configs set `background_offset: 1`).

The SavedModel takes `image` [1, 96, 96, 3] RGB in 0..1 and returns `probabilities` [1, 11]. Preprocessing
(also in configs/classification.yml): shorter side to 110, centre crop 96. Training crops at random instead,
and flips. The val top-1 (OpenVINO FP32) is recorded in `TRAINING.md` next to the model.

Usage::

    python tools/train_classifier.py --out datasets/classification/model
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
import make_classification_dataset as classes  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

SEED = 2028
TRAIN_SEED = 9090
TRAIN_COUNT = 16000
SHORTER_SIDE = 110
CROP = 96


def shorter_side(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    factor = SHORTER_SIDE / min(height, width)
    return cv2.resize(image, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_LINEAR)


def to_input(image_bgr: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Shorter side 110, then the centre 96x96 crop (a random crop and flip when training), RGB 0..1."""
    resized = shorter_side(image_bgr)
    height, width = resized.shape[:2]
    top, left = (height - CROP) // 2, (width - CROP) // 2
    if rng is not None:
        top, left = int(rng.integers(0, height - CROP + 1)), int(rng.integers(0, width - CROP + 1))
    crop = resized[top:top + CROP, left:left + CROP, ::-1].astype(np.float32) / 255.0
    return crop[:, ::-1] if rng is not None and rng.uniform() < 0.5 else crop


def jpeg_roundtrip(image: np.ndarray) -> np.ndarray:
    """The image as the committed JPEGs hold it (quality 90): texture classes must survive its artefacts."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, classes.JPEG_QUALITY])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def build_model() -> keras.Model:
    image = keras.Input((CROP, CROP, 3), name="image")
    x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False)(image)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    for filters, stride in ((32, 1), (48, 2), (64, 1), (96, 2), (128, 1), (160, 2)):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    logits = layers.Dense(len(classes.CLASSES) + 1)(x)
    return keras.Model(image, layers.Softmax(name="probabilities")(logits))


def export(model: keras.Model, out: Path) -> None:
    module = tf.Module()
    module.weights = [v.value for v in model.variables]

    @tf.function(input_signature=[tf.TensorSpec([1, CROP, CROP, 3], tf.float32, name="image")])
    def serve(image):
        return {"probabilities": model(image, training=False)}

    module.serve = serve
    tf.saved_model.save(module, str(out / "saved_model"), signatures={"serving_default": module.serve})


def fp32_top1(out: Path) -> float:
    """Top-1 of the exported model under OpenVINO on the committed val split."""
    import openvino as ov

    compiled = ov.Core().compile_model(ov.convert_model(str(out / "saved_model")), "CPU",
                                     {"INFERENCE_PRECISION_HINT": "f32"})  # as quantflow evaluates
    names = (REPO / "datasets/classification/classes.txt").read_text().split()
    hits = total = 0
    for label, name in enumerate(names):
        for path in sorted((REPO / "datasets/classification/val" / name).glob("*.jpg")):
            scores = compiled(to_input(cv2.imread(str(path)))[None])[0][0]
            hits += int(np.argmax(scores[1:]) == label)
            total += 1
    return hits / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "datasets/classification/model")
    parser.add_argument("--epochs", type=int, default=16)
    args = parser.parse_args()
    keras.utils.set_random_seed(SEED)
    started = time.time()
    rng = np.random.default_rng(TRAIN_SEED)
    pairs = classes.generate(TRAIN_COUNT, TRAIN_SEED)
    x = np.stack([to_input(jpeg_roundtrip(image), rng) for _, image in pairs])
    y = np.array([label + 1 for label, _ in pairs])  # index 0 is the background class
    model = build_model()
    steps = args.epochs * (len(x) // 64)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=3e-3, warmup_steps=steps // 10)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=args.epochs, verbose=2, shuffle=True)
    args.out.mkdir(parents=True, exist_ok=True)
    export(model, args.out)
    top1 = fp32_top1(args.out)
    minutes = (time.time() - started) / 60
    print(f"val top-1 {top1:.4f}, {minutes:.1f} min", flush=True)
    (args.out / "TRAINING.md").write_text(
        f"# Classification sample\n\nCommand: `python tools/train_classifier.py --out datasets/classification/model`"
        f"\n\n- Seeds: training {SEED} (keras.utils.set_random_seed), train split {TRAIN_SEED}\n"
        f"- Data: {TRAIN_COUNT} generated images (not committed), JPEG quality {classes.JPEG_QUALITY} as committed, "
        f"shorter side {SHORTER_SIDE}, random {CROP}x{CROP} crops, horizontal flips\n- Schedule: {args.epochs} epochs, batch 64, Adam, cosine decay from 3e-3 after "
        f"a 10 % warm-up\n- Model: {model.count_params()} parameters; `image` [1,{CROP},{CROP},3] RGB 0..1 → "
        f"`probabilities` [1,{len(classes.CLASSES) + 1}] softmax, index 0 a background class never trained on\n"
        f"- Wall time: {minutes:.1f} min on 2 CPU cores (TensorFlow {tf.__version__})\n"
        f"- Val (OpenVINO FP32, shorter side {SHORTER_SIDE}, centre crop {CROP}): top-1 {top1:.4f}\n")


if __name__ == "__main__":
    main()
