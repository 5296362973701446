"""Train the small stereo network shipped as quantflow's disparity sample.

The network follows the HITNet deployment convention: one input tensor
``[1, H, W, 2]`` holding the left and right views as grayscale in [0, 1]
(``cv2.COLOR_BGR2GRAY`` luma / 255), stacked as channels (left, right), and
one output ``[1, H, W, 1]``, the left disparity in input pixels. H and W are
dynamic (multiples of 8). It is exported as a frozen TF graph (input tensor
``input:0``, output tensor ``disparity:0``), like the HITNet models.

Architecture: a shared feature extractor brings each view to 1/4 resolution;
a group-wise correlation cost volume over disparities 0..15 at 1/4 resolution
(0..60 pixels at full resolution), built with pad-and-slice shifts so it
works for any width, is aggregated by a small 2D U-Net (disparity as
channels; 1/4, 1/8 and 1/16 resolution); a soft-argmin gives the 1/4
disparity, which is upsampled bilinearly to full resolution and corrected by
a small residual refinement guided by the left image. Convolutions use
BatchNorm; in the frozen graph it is arithmetic on constants, which
OpenVINO folds into the convolutions.

The training split is generated in memory by
``make_stereo_dataset.generate_split``. After training, the frozen graph is
converted with OpenVINO and scored on the committed val split (KITTI
layout) and on the Middlebury Motorcycle pair; the figures are recorded in
``TRAINING.md`` next to the model.

Usage::

    python tools/train_stereo.py --out datasets/stereo/model
"""

from __future__ import annotations

import argparse
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
import make_motorcycle_middlebury as middlebury  # noqa: E402
import make_stereo_dataset as stereo_data  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

SEED = 5150
STRIDE = 4
COST_DISPARITIES = 16
MAX_DISPARITY = STRIDE * (COST_DISPARITIES - 1)
FEATURE_CHANNELS = 32
CORRELATION_GROUPS = 4
AGGREGATION_CHANNELS = (48, 64, 96)
REFINE_CHANNELS = 16
INPUT_NAME, OUTPUT_NAME = "input", "disparity"
# Motorcycle (741x500, disparities 7..60 px) is scored with the views resized
# to these (w, h): its disparities become 3..28 and 7..57 px, inside 0..60 px.
MOTORCYCLE_INPUTS = ((352, 240), (704, 480))


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults reproduce the committed model."""

    train_pairs: int = 3000
    steps: int = 2000
    batch_size: int = 4
    crop_height: int = 160
    crop_width: int = 320
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    coarse_loss_weight: float = 0.5
    max_noise: float = 2.0
    time_budget_minutes: float = 30.0


@dataclass
class TrainSet:
    """Network inputs ``[N,H,W,2]`` uint8 gray (left, right) and disparities ``[N,H,W]`` (0 = invalid)."""

    images: np.ndarray
    disparity: np.ndarray


# --------------------------------------------------------------------------- model


def to_network_input(left_bgr: np.ndarray, right_bgr: np.ndarray) -> np.ndarray:
    """``[H,W,2]`` uint8: standard luma of each view, stacked (left, right)."""
    return np.stack([cv2.cvtColor(v, cv2.COLOR_BGR2GRAY) for v in (left_bgr, right_bgr)], axis=-1)


def conv(x: tf.Tensor, filters: int, stride: int = 1, act: bool = True) -> tf.Tensor:
    """3x3 convolution + BatchNorm (+ leaky ReLU)."""
    x = layers.Conv2D(filters, 3, stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.LeakyReLU(0.1)(x) if act else x


def conv_out(x: tf.Tensor, filters: int) -> tf.Tensor:
    """Plain 3x3 convolution with bias: a linear prediction head."""
    return layers.Conv2D(filters, 3, padding="same")(x)


class CostVolume(layers.Layer):
    """Group-wise correlation of left features with right features shifted right by 0..D-1.

    The right map is zero-padded on the left once and sliced per shift, so
    the graph works for any width; positions that would read left of the
    image see zeros.
    """

    def __init__(self, disparities: int, groups: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.disparities = disparities
        self.groups = groups

    def call(self, left: tf.Tensor, right: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(left)
        channels = left.shape[-1]
        pad = self.disparities - 1
        padded = tf.pad(right, [[0, 0], [0, 0], [pad, 0], [0, 0]])
        costs = []
        for d in range(self.disparities):
            shifted = padded[:, :, pad - d : pad - d + shape[2], :]
            grouped = tf.reshape(left * shifted, [shape[0], shape[1], shape[2], self.groups, channels // self.groups])
            costs.append(tf.reduce_mean(grouped, axis=-1))
        return tf.concat(costs, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "disparities": self.disparities, "groups": self.groups}


class SoftArgmin(layers.Layer):
    """Expected disparity index under the softmax of the per-disparity scores."""

    def call(self, scores: tf.Tensor) -> tf.Tensor:
        probabilities = tf.nn.softmax(scores, axis=-1)
        index = tf.range(scores.shape[-1], dtype=scores.dtype)
        return tf.reduce_sum(probabilities * index, axis=-1, keepdims=True)


class ResizeLike(layers.Layer):
    """Bilinear resize of the first input to the height and width of the second, times ``scale``."""

    def __init__(self, scale: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
        return tf.image.resize(x, tf.shape(like)[1:3], method="bilinear") * self.scale

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def feature_extractor() -> keras.Model:
    """Shared per-view features at 1/4 resolution."""
    image = keras.Input((None, None, 1))
    x = conv(image, 16, stride=2)
    x = conv(x, 16)
    x = conv(x, FEATURE_CHANNELS, stride=2)
    x = conv(x, FEATURE_CHANNELS)
    x = conv(x, FEATURE_CHANNELS, act=False)
    return keras.Model(image, x, name="features")


def merge(skip: tf.Tensor, deeper: tf.Tensor) -> tf.Tensor:
    """Upsample the deeper map to the skip's size, match channels with a 1x1 conv, add, convolve."""
    up = layers.Conv2D(skip.shape[-1], 1)(ResizeLike()(deeper, skip))
    return conv(layers.Add()([skip, up]), skip.shape[-1])


def aggregate(cost: tf.Tensor, left_features: tf.Tensor) -> tf.Tensor:
    """2D aggregation (disparity as channels), a small U-Net over 1/4, 1/8 and 1/16; scores at 1/4."""
    c4, c8, c16 = AGGREGATION_CHANNELS
    x4 = conv(conv(layers.Concatenate()([cost, left_features]), c4), c4)
    x8 = conv(conv(x4, c8, stride=2), c8)
    x16 = conv(conv(x8, c16, stride=2), c16)
    x4 = merge(x4, merge(x8, x16))
    return conv_out(x4, COST_DISPARITIES)


def refine(coarse: tf.Tensor, left: tf.Tensor) -> tf.Tensor:
    """Full-resolution residual correction of the upsampled disparity, guided by the left image."""
    x = conv(layers.Concatenate()([coarse * (1.0 / MAX_DISPARITY), left]), REFINE_CHANNELS)
    x = conv(x, REFINE_CHANNELS)
    return layers.Add()([coarse, conv_out(x, 1)])


def build_models() -> tuple[keras.Model, keras.Model]:
    """Training model (refined and coarse full-resolution disparity) and the deployable one."""
    pair = keras.Input((None, None, 2), name=INPUT_NAME)
    left = layers.Lambda(lambda t: t[..., :1])(pair)
    right = layers.Lambda(lambda t: t[..., 1:])(pair)
    features = feature_extractor()
    left_features, right_features = features(left), features(right)
    cost = CostVolume(COST_DISPARITIES, CORRELATION_GROUPS)(left_features, right_features)
    quarter = SoftArgmin()(aggregate(cost, left_features))
    coarse = ResizeLike(scale=float(STRIDE))(quarter, pair)
    disparity = refine(coarse, left)
    return keras.Model(pair, [disparity, coarse]), keras.Model(pair, disparity)


# --------------------------------------------------------------------------- data


def make_train_set(count: int) -> TrainSet:
    """Generate the in-memory training split."""
    pairs = stereo_data.generate_split(count, stereo_data.TRAIN_SEED)
    images = np.stack([to_network_input(p.left, p.right) for p in pairs])
    return TrainSet(images, np.stack([p.disparity for p in pairs]).astype(np.float32))


def sample_batch(rng: np.random.Generator, data: TrainSet, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Random crops, vertical flips (they keep rows epipolar) and per-view gain, offset and sensor noise."""
    n, height, width = data.disparity.shape
    idx = rng.integers(0, n, config.batch_size)
    y0 = rng.integers(0, height - config.crop_height + 1, config.batch_size)
    x0 = rng.integers(0, width - config.crop_width + 1, config.batch_size)
    images = np.empty((config.batch_size, config.crop_height, config.crop_width, 2), np.float32)
    targets = np.empty((config.batch_size, config.crop_height, config.crop_width, 1), np.float32)
    for k, (i, y, x) in enumerate(zip(idx, y0, x0)):
        rows, cols = slice(y, y + config.crop_height), slice(x, x + config.crop_width)
        images[k] = data.images[i, rows, cols] / 255.0
        targets[k, ..., 0] = data.disparity[i, rows, cols]
    flip = rng.random(config.batch_size) < 0.5
    images[flip], targets[flip] = images[flip, ::-1], targets[flip, ::-1]
    gain = rng.uniform(0.9, 1.1, (config.batch_size, 1, 1, 2))
    offset = rng.uniform(-0.03, 0.03, (config.batch_size, 1, 1, 2))
    sigma = rng.uniform(0, config.max_noise / 255.0, (config.batch_size, 1, 1, 1))
    noise = rng.standard_normal(images.shape, dtype=np.float32) * sigma
    return np.clip(images * gain + offset + noise, 0.0, 1.0).astype(np.float32), targets


# --------------------------------------------------------------------------- training


def masked_smooth_l1(target: tf.Tensor, prediction: tf.Tensor) -> tf.Tensor:
    """Smooth-L1 (Huber, delta 1 px) averaged over pixels with ground truth."""
    valid = tf.cast(target > 0, tf.float32)
    diff = tf.abs(target - prediction)
    loss = tf.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5)
    return tf.reduce_sum(loss * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up followed by cosine decay to zero."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * progress))


def make_train_step(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, config: TrainConfig
) -> Callable[[np.ndarray, np.ndarray], tf.Tensor]:
    """Compile one optimisation step on the refined and the coarse disparity."""

    @tf.function
    def step(images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            refined, coarse = model(images, training=True)
            loss = masked_smooth_l1(targets, refined) + config.coarse_loss_weight * masked_smooth_l1(targets, coarse)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def train(model: keras.Model, data: TrainSet, config: TrainConfig) -> int:
    """Seeded step loop; stops early at the wall-time budget. Returns the steps done."""
    rng = np.random.default_rng(SEED)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=5.0)
    step_fn = make_train_step(model, optimizer, config)
    start, losses = time.time(), []
    for step in range(config.steps):
        if time.time() - start > config.time_budget_minutes * 60:
            print(f"time budget reached after {step} steps", flush=True)
            return step
        optimizer.learning_rate.assign(learning_rate(step, config))
        losses.append(float(step_fn(*sample_batch(rng, data, config))))
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{config.steps} loss {np.mean(losses):.3f} ({time.time() - start:.0f}s)", flush=True)
            losses = []
    return config.steps


# --------------------------------------------------------------------------- export


def export_frozen_graph(model: keras.Model, path: Path) -> None:
    """Frozen GraphDef with input ``input:0`` [1,?,?,2] and output ``disparity:0`` [1,?,?,1]."""
    spec = tf.TensorSpec([1, None, None, 2], tf.float32, name=INPUT_NAME)
    serve = tf.function(lambda pair: tf.identity(model(pair, training=False), name=OUTPUT_NAME), input_signature=[spec])
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    # The concrete function appends its own Identity after ours; cut the graph at
    # ``disparity`` so it is a graph output, and drop the variable-read Identity nodes.
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(frozen.graph.as_graph_def(), [OUTPUT_NAME])
    graph_def = tf.compat.v1.graph_util.remove_training_nodes(graph_def, protected_nodes=[OUTPUT_NAME])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph_def.SerializeToString())


def graph_tensors(path: Path) -> tuple[str, str]:
    """Shape of the input placeholder and the output tensor as stored in the frozen graph."""
    graph_def = tf.compat.v1.GraphDef.FromString(path.read_bytes())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    tensors = (graph.get_tensor_by_name(f"{n}:0") for n in (INPUT_NAME, OUTPUT_NAME))
    return tuple(f"{t.name} {t.shape.as_list()} {t.dtype.name}" for t in tensors)


# --------------------------------------------------------------------------- evaluation


def convert(path: Path, width: int, height: int):
    """OpenVINO model from the frozen graph, input fixed to ``[1, height, width, 2]``."""
    import openvino as ov

    return ov.convert_model(str(path), input=[(f"{INPUT_NAME}:0", [1, height, width, 2])], output=[f"{OUTPUT_NAME}:0"])


def describe(ov_model) -> list[str]:
    """Names and shapes of an OpenVINO model's inputs and outputs."""
    ports = [("input", p) for p in ov_model.inputs] + [("output", p) for p in ov_model.outputs]
    return [
        f"{kind} {sorted(p.get_names())} {p.get_partial_shape()} {p.get_element_type().get_type_name()}"
        for kind, p in ports
    ]


def disparity_errors(prediction: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Absolute errors and ground truth at valid pixels, as a ``[2, N]`` array."""
    return np.stack([np.abs(prediction[valid] - gt[valid]), gt[valid]])


def metrics(errors: np.ndarray) -> dict[str, float]:
    """EPE, KITTI D1 (> 3 px and > 5 %) and bad-2.0 over pooled valid pixels."""
    err, gt = errors
    return {
        "epe": float(err.mean()),
        "d1": float(np.mean((err > 3.0) & (err > 0.05 * gt))),
        "bad2": float(np.mean(err > 2.0)),
    }


def evaluate_kitti(path: Path, split: Path) -> dict[str, float]:
    """Metrics of the OpenVINO model on a KITTI-layout split (disparity PNG / 256, 0 = invalid)."""
    import openvino as ov

    names = sorted(p.name for p in (split / "image_2").glob("*_10.png"))
    first = cv2.imread(str(split / "image_2" / names[0]), cv2.IMREAD_COLOR)
    compiled = ov.Core().compile_model(convert(path, first.shape[1], first.shape[0]), "CPU")
    errors = []
    for name in names:
        left = cv2.imread(str(split / "image_2" / name), cv2.IMREAD_COLOR)
        right = cv2.imread(str(split / "image_3" / name), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(split / "disp_occ_0" / name), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256.0
        pair = to_network_input(left, right).astype(np.float32)[None] / 255.0
        prediction = compiled(pair)[0][0, ..., 0]
        errors.append(disparity_errors(prediction, gt, gt > 0))
    return {**metrics(np.concatenate(errors, axis=1)), "pairs": len(names), "pixels": sum(e.shape[1] for e in errors)}


def evaluate_middlebury(path: Path, scene: Path, size: tuple[int, int]) -> dict[str, float]:
    """Metrics on a Middlebury scene resized to ``size`` (w, h); disparity scaled back to full resolution."""
    import openvino as ov

    left = cv2.imread(str(scene / "im0.png"), cv2.IMREAD_COLOR)
    right = cv2.imread(str(scene / "im1.png"), cv2.IMREAD_COLOR)
    gt = middlebury.read_pfm(scene / "disp0GT.pfm")
    height, width = gt.shape
    small = [cv2.resize(v, size, interpolation=cv2.INTER_AREA) for v in (left, right)]
    compiled = ov.Core().compile_model(convert(path, *size), "CPU")
    prediction = compiled(to_network_input(*small).astype(np.float32)[None] / 255.0)[0][0, ..., 0]
    full = cv2.resize(prediction, (width, height), interpolation=cv2.INTER_LINEAR) * (width / size[0])
    valid = np.isfinite(gt)
    return {**metrics(disparity_errors(full, gt, valid)), "pixels": int(valid.sum())}


# --------------------------------------------------------------------------- report


def openvino_agreement(model: keras.Model, path: Path, split: Path) -> float:
    """Largest |Keras - OpenVINO| disparity over the first pair of a split, in pixels."""
    import openvino as ov

    name = min(p.name for p in (split / "image_2").glob("*_10.png"))
    views = [cv2.imread(str(split / sub / name), cv2.IMREAD_COLOR) for sub in ("image_2", "image_3")]
    pair = to_network_input(*views).astype(np.float32)[None] / 255.0
    compiled = ov.Core().compile_model(convert(path, pair.shape[2], pair.shape[1]), "CPU")
    return float(np.abs(model(pair, training=False).numpy() - compiled(pair)[0]).max())


# --------------------------------------------------------------------------- report


def _figures(r: dict[str, float]) -> str:
    """EPE, D1-all and bad-2.0 as one phrase."""
    return f"EPE {r['epe']:.3f} px, D1-all {100 * r['d1']:.2f} %, bad-2.0 {100 * r['bad2']:.2f} %"


def write_report(
    out: Path, config: TrainConfig, params: int, steps_done: int, times: dict[str, float],
    tensors: dict[str, list[str]], agreement: float, results: dict[str, dict[str, float]],
) -> None:
    """Record how the committed model was produced and how well it scores."""
    val = results["val"]
    lines = [
        "# Sample stereo model (synthetic layered scenes)",
        "",
        "Command: `python tools/make_stereo_dataset.py --out datasets/stereo && "
        "python tools/make_motorcycle_middlebury.py --out datasets/stereo/middlebury && "
        "python tools/train_stereo.py --out datasets/stereo/model`",
        "",
        f"- Seeds: training {SEED} (keras.utils.set_random_seed, batch sampling, augmentation), "
        f"train split {stereo_data.TRAIN_SEED}, val split {stereo_data.VAL_SEED}, calib split {stereo_data.CALIB_SEED}",
        f"- Data: {config.train_pairs} generated train pairs {stereo_data.WIDTH}x{stereo_data.HEIGHT} (not committed); "
        f"val {stereo_data.VAL_COUNT} pairs, calib {stereo_data.CALIB_COUNT} pairs (KITTI 2015 layout); "
        f"augmentation: {config.crop_width}x{config.crop_height} crops, vertical flips, per-view gain, offset "
        f"and Gaussian noise up to sigma {config.max_noise:g}/255",
        f"- Schedule: {steps_done} of {config.steps} steps, batch {config.batch_size}, Adam, peak lr "
        f"{config.learning_rate}, {config.warmup_steps} warm-up steps then cosine decay; loss smooth-L1 on valid "
        f"pixels, refined + {config.coarse_loss_weight:g} x coarse; "
        f"wall-time budget {config.time_budget_minutes:g} min",
        f"- Model: features at 1/{STRIDE}, {CORRELATION_GROUPS}-group correlation over {COST_DISPARITIES} "
        f"disparities at 1/{STRIDE} (0..{MAX_DISPARITY} px), 2D aggregation, soft-argmin, bilinear upsampling, "
        f"residual refinement; {params:,} parameters; frozen graph {(out / 'stereo.pb').stat().st_size} bytes",
        f"- Frozen graph tensors: {'; '.join(tensors['graph'])}",
        f"- After `openvino.convert_model(..., input=[('input:0', [1, 240, 320, 2])], output=['disparity:0'])`: "
        f"{'; '.join(tensors['openvino'])}; largest |Keras - OpenVINO| on a val pair {agreement:.2e} px",
        f"- Wall time (2 CPU cores): data generation {times['data'] / 60:.1f} min, training "
        f"{times['train'] / 60:.1f} min, export and evaluation {times['eval'] / 60:.1f} min",
        f"- Val (OpenVINO FP32, {val['pairs']} pairs, {val['pixels']:,} valid pixels incl. occluded): {_figures(val)}",
    ]
    for width, height in MOTORCYCLE_INPUTS:
        moto = results[f"motorcycle {width}x{height}"]
        lines.append(
            f"- Middlebury 2014 Motorcycle (scikit-image copy, 741x500), views resized to {width}x{height}, "
            f"output upsampled to 741x500 and scaled by 741/{width}, compared at full resolution on "
            f"{moto['pixels']:,} pixels with ground truth: {_figures(moto)}"
        )
    lines += [
        "",
        "D1-all: share of valid pixels with error > 3 px and > 5 % of the ground truth; bad-2.0: error > 2 px.",
        "",
    ]
    (out / "TRAINING.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("datasets/stereo/model"))
    parser.add_argument("--dataset", type=Path, default=REPO / "datasets" / "stereo", help="holds val/ and middlebury/")
    parser.add_argument("--train-pairs", type=int, default=TrainConfig.train_pairs)
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    args = parser.parse_args()
    config = TrainConfig(train_pairs=args.train_pairs, steps=args.steps)

    times = {"start": time.time()}
    keras.utils.set_random_seed(SEED)
    data = make_train_set(config.train_pairs)
    times["data"] = time.time() - times["start"]
    print(f"generated {config.train_pairs} train pairs in {times['data']:.0f}s", flush=True)
    train_model, deploy_model = build_models()
    params = deploy_model.count_params()
    print(f"{params:,} parameters", flush=True)
    steps_done = train(train_model, data, config)
    times["train"] = time.time() - times["start"] - times["data"]

    pb = args.out / "stereo.pb"
    export_frozen_graph(deploy_model, pb)
    fixed = convert(pb, stereo_data.WIDTH, stereo_data.HEIGHT)
    tensors = {"graph": list(graph_tensors(pb)), "openvino": describe(fixed)}
    print("\n".join(tensors["graph"] + tensors["openvino"]))
    agreement = openvino_agreement(deploy_model, pb, args.dataset / "val")
    scene = args.dataset / "middlebury" / middlebury.SCENE
    results = {"val": evaluate_kitti(pb, args.dataset / "val")}
    for width, height in MOTORCYCLE_INPUTS:
        results[f"motorcycle {width}x{height}"] = evaluate_middlebury(pb, scene, (width, height))
    for name, r in results.items():
        print(f"{name}: {_figures(r)}")
    times["eval"] = time.time() - times["start"] - times["data"] - times["train"]
    write_report(args.out, config, params, steps_done, times, tensors, agreement, results)


if __name__ == "__main__":
    main()
