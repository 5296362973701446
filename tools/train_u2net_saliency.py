"""Train the U²-Net-style salient-object sample in PyTorch and export it as the real U²-Net flow does.

The network follows U²-Net (Qin et al., 2020): a U-Net of six stages whose every stage is itself a residual
U-block (RSU-7 .. RSU-4, and the dilated RSU-4F at the two coarsest stages), with a side output per decoder
stage and a 1x1 fusion of the six; every output passes a sigmoid. Channels are U²-Netp's halved (mid 8,
out 32), about 290 k parameters. It is trained with U²-Net's deep supervision (binary cross-entropy summed
over the fused and the six side outputs) on the synthetic saliency set of `make_saliency_dataset.py`.

Exports, into `--out`:
- `u2net.onnx` (opset 17): input `image` [1, 3, 160, 160] RGB normalized with the ImageNet mean / std,
  outputs `d0` (fused) .. `d6`, each [1, 1, 160, 160] in 0..1, as U²-Net's own ONNX exports;
- `u2net.pt` (TorchScript) and `u2net.pt2` (torch.export) of the same network, the PyTorch sources;
- `TRAINING.md`: how it was made and its FP32 MAE / max F-measure on the committed val split.

Usage::

    python tools/train_u2net_saliency.py --out datasets/saliency/model
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import make_saliency_dataset as saliency  # noqa: E402

SEED = 2027
INPUT_SIZE = 160
TRAIN_COUNT = 2400
TRAIN_SEED = 4040
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class ConvBnRelu(nn.Module):
    def __init__(self, cin: int, cout: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.relu(self.bn(self.conv(x)))


def upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return functional.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of `height` levels: an input conv, a small U-Net on its output, their sum."""

    def __init__(self, height: int, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.inp = ConvBnRelu(cin, cout)
        self.down = nn.ModuleList([ConvBnRelu(cout, mid)] + [ConvBnRelu(mid, mid) for _ in range(height - 2)])
        self.bottom = ConvBnRelu(mid, mid, dilation=2)
        self.up = nn.ModuleList([ConvBnRelu(2 * mid, mid) for _ in range(height - 2)] + [ConvBnRelu(2 * mid, cout)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = self.inp(x)
        skips, h = [], start
        for index, conv in enumerate(self.down):
            h = conv(h if index == 0 else functional.max_pool2d(h, 2, ceil_mode=True))
            skips.append(h)
        h = self.bottom(h)
        for index, conv in enumerate(self.up):
            skip = skips[-1 - index]
            h = conv(torch.cat([upsample_like(h, skip) if index else h, skip], 1))
        return h + start


class RSU4F(nn.Module):
    """The dilated residual block of the coarse stages: no pooling, dilations 1, 2, 4, 8."""

    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.inp = ConvBnRelu(cin, cout)
        self.e1, self.e2, self.e3 = ConvBnRelu(cout, mid), ConvBnRelu(mid, mid, 2), ConvBnRelu(mid, mid, 4)
        self.e4 = ConvBnRelu(mid, mid, 8)
        self.d3, self.d2, self.d1 = ConvBnRelu(2 * mid, mid, 4), ConvBnRelu(2 * mid, mid, 2), ConvBnRelu(2 * mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = self.inp(x)
        e1 = self.e1(start)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        h = self.d3(torch.cat([self.e4(e3), e3], 1))
        h = self.d2(torch.cat([h, e2], 1))
        return self.d1(torch.cat([h, e1], 1)) + start


class U2Net(nn.Module):
    """Six RSU stages down, five up, a side output per decoder stage and their fusion; outputs d0 .. d6."""

    def __init__(self, mid: int = 8, width: int = 32) -> None:
        super().__init__()
        self.encoders = nn.ModuleList([RSU(7, 3, mid, width), RSU(6, width, mid, width), RSU(5, width, mid, width),
                                       RSU(4, width, mid, width), RSU4F(width, mid, width), RSU4F(width, mid, width)])
        self.decoders = nn.ModuleList([RSU4F(2 * width, mid, width), RSU(4, 2 * width, mid, width),
                                       RSU(5, 2 * width, mid, width), RSU(6, 2 * width, mid, width),
                                       RSU(7, 2 * width, mid, width)])
        self.sides = nn.ModuleList([nn.Conv2d(width, 1, 3, padding=1) for _ in range(6)])
        self.fuse = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, h = [], x
        for index, encoder in enumerate(self.encoders):
            h = encoder(h if index == 0 else functional.max_pool2d(h, 2, ceil_mode=True))
            features.append(h)
        decoded = [h]
        for index, decoder in enumerate(self.decoders):
            skip = features[-2 - index]
            h = decoder(torch.cat([upsample_like(h, skip), skip], 1))
            decoded.append(h)
        sides = [upsample_like(side(d), x) for side, d in zip(self.sides, reversed(decoded))]
        fused = self.fuse(torch.cat(sides, 1))
        return tuple(torch.sigmoid(t) for t in (fused, *sides))


def to_input(image_bgr: np.ndarray) -> np.ndarray:
    """The preprocessing configs/saliency.yml describes: resize to 160x160, RGB, ImageNet mean / std, CHW."""
    resized = cv2.resize(image_bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    rgb = resized[..., ::-1].astype(np.float32) / 255.0
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)


def make_train_set() -> tuple[np.ndarray, np.ndarray]:
    images, masks = [], []
    for _, image, mask in saliency.generate(TRAIN_COUNT, TRAIN_SEED):
        images.append(to_input(image))
        masks.append(cv2.resize(mask, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)[None] / 255.0)
    return np.stack(images), np.stack(masks).astype(np.float32)


def train(model: U2Net, images: np.ndarray, masks: np.ndarray, epochs: int, batch: int) -> None:
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * (len(images) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(masks)
    start, step = time.time(), 0
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for first in range(0, len(images) - batch + 1, batch):
            index = order[first:first + batch]
            x, y = x_all[index], y_all[index]
            flip = torch.rand(1, generator=generator).item() < 0.5
            if flip:
                x, y = x.flip(3), y.flip(3)
            loss = sum(functional.binary_cross_entropy(out, y) for out in model(x))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.4f} {time.time() - start:.0f}s",
                      flush=True)


def scores(model: nn.Module, val: Path) -> dict[str, float]:
    """MAE and max F-measure of d0 on the val split as the DUTS literature (and quantflow) computes them: masks
    at original size, each image's F (beta² 0.3) at 256 thresholds averaged over images, the best threshold."""
    maes, curves = [], []
    model.eval()
    with torch.no_grad():
        for path in sorted((val / "images").glob("*.jpg")):
            image = cv2.imread(str(path))
            truth = cv2.imread(str(val / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE) >= 128
            out = model(torch.from_numpy(to_input(image))[None])[0][0, 0].numpy()
            pred = np.clip(cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR), 0, 1)
            maes.append(np.abs(pred - truth).mean())
            levels = (pred * 255).astype(np.uint8)
            hits = np.array([[np.sum((levels >= t) & truth), np.sum(levels >= t)] for t in range(256)], float)
            precision, recall = hits[:, 0] / np.maximum(hits[:, 1], 1), hits[:, 0] / max(truth.sum(), 1)
            curves.append(1.3 * precision * recall / np.maximum(0.3 * precision + recall, 1e-12))
    return {"MAE": float(np.mean(maes)), "maxF": float(np.mean(curves, 0).max())}


def export(model: U2Net, out: Path) -> None:
    model.eval()
    example = torch.from_numpy(to_input(np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)))[None]
    names = [f"d{i}" for i in range(7)]
    torch.onnx.export(model, (example,), str(out / "u2net.onnx"), input_names=["image"], output_names=names,
                      opset_version=17, dynamo=False)
    torch.jit.save(torch.jit.trace(model, example), str(out / "u2net.pt"))
    torch.export.save(torch.export.export(model, (example,)), str(out / "u2net.pt2"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "datasets/saliency/model")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=12)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    images, masks = make_train_set()
    model = U2Net()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{parameters} parameters, {len(images)} training images", flush=True)
    train(model, images, masks, args.epochs, args.batch)
    minutes = (time.time() - started) / 60
    torch.save(model.state_dict(), args.out / "weights.pth")
    export(model, args.out)
    quality = scores(model, REPO / "datasets/saliency/val")
    print(quality, flush=True)
    (args.out / "TRAINING.md").write_text(
        f"# U²-Net-style saliency sample\n\nMade by `python tools/train_u2net_saliency.py --out "
        f"datasets/saliency/model` (seed {SEED}, {args.epochs} epochs of {len(images)} synthetic images, batch "
        f"{args.batch}, Adam with a one-cycle schedule, {minutes:.0f} min on 2 CPU cores; torch "
        f"{torch.__version__}).\n\n{parameters} parameters. Input `image` [1, 3, {INPUT_SIZE}, {INPUT_SIZE}] "
        f"RGB, ImageNet mean / std; outputs d0 (fused) .. d6 [1, 1, {INPUT_SIZE}, {INPUT_SIZE}], sigmoid.\n\n"
        f"FP32 on datasets/saliency/val (PyTorch, d0 resized to each image): MAE {quality['MAE']:.4f}, "
        f"max F-measure {quality['maxF']:.4f}.\n")


if __name__ == "__main__":
    main()
