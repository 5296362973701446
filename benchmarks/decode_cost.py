"""Decode cost per image of every detection decoder, on outputs shaped like the real families' at their usual
COCO input sizes (YOLOv8 640: [1, 84, 8400]; YOLOv5 640: [1, 25200, 85]; YOLOv10: [1, 300, 6]; RT-DETR:
[1, 300, 4] + [1, 300, 80]; DFL heads 80/40/20 grids; SSD raw on the shipped sample's anchors), with scores drawn
so that 2,000-3,300 (row, class) candidates pass the 0.001 floor, as on real images.

    python benchmarks/decode_cost.py [--repeat 200]
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from common import ROOT, parser

from quantflow.core.decoder import DECODERS, OutputInfo


def logits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Class logits whose sigmoid passes 0.001 about 0.3 % of the time (a few thousand of 672,000 for YOLOv8)."""
    return rng.normal(-11.0, 1.5, size=shape).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def boxes_cxcywh(rng: np.random.Generator, count: int, size: float) -> np.ndarray:
    centres = rng.uniform(0, size, (count, 2))
    sides = rng.uniform(0.02 * size, 0.4 * size, (count, 2))
    return np.concatenate([centres, sides], axis=1).astype(np.float32)


def cases(rng: np.random.Generator) -> dict[str, tuple[dict, list[np.ndarray]]]:
    v8 = np.concatenate([boxes_cxcywh(rng, 8400, 640), sigmoid(logits(rng, (8400, 80)))], axis=1).T[None]
    v5 = np.concatenate([boxes_cxcywh(rng, 25200, 640), sigmoid(logits(rng, (25200, 1)) + 4),
                         sigmoid(rng.normal(-6, 1.5, (25200, 80)))], axis=1)[None].astype(np.float32)
    e2e = np.concatenate([boxes_cxcywh(rng, 300, 640), rng.uniform(0, 1, (300, 1)),
                          rng.integers(0, 80, (300, 1))], axis=1)[None].astype(np.float32)
    detr_boxes = (boxes_cxcywh(rng, 300, 1.0))[None]
    detr_logits = logits(rng, (1, 300, 80)) + 6
    heads = [np.concatenate([rng.normal(0, 2, (1, 64, g, g)), logits(rng, (1, 80, g, g))], axis=1).astype(np.float32)
             for g in (80, 40, 20)]
    anchors = np.load(ROOT / "datasets" / "shapes" / "model" / "anchors.npy")
    ssd_scores = np.concatenate([np.ones((len(anchors), 1)), sigmoid(logits(rng, (len(anchors), 5)) + 4)], axis=1)
    return {
        "box_list yolov8 [1,84,8400]": ({"type": "box_list", "preset": "yolov8"}, [v8]),
        "box_list yolov5 [1,25200,85]": ({"type": "box_list", "preset": "yolov5"}, [v5]),
        "box_list yolov10 [1,300,6]": ({"type": "box_list", "preset": "yolov10"}, [e2e]),
        "detr (RT-DETR) [1,300,4]+[1,300,80]": ({"type": "detr", "max_detections": 300}, [detr_boxes, detr_logits]),
        "dfl_heads 80/40/20, 144 ch": ({"type": "dfl_heads"}, heads),
        "ssd_raw (sample, 4725 anchors)": ({"type": "ssd_raw", "anchors": str(ROOT / "datasets" / "shapes" / "model" /
                                                                             "anchors.npy")},
                                           [rng.normal(0, 1, (1, len(anchors), 4)).astype(np.float32),
                                            ssd_scores[None].astype(np.float32)]),
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeat=100).parse_args()
    rng = np.random.default_rng(0)
    print("| decoder | output | detections kept | decode ms per image (median, min–max) |")
    print("|---|---|---|---|")
    for name, (settings, outputs) in cases(rng).items():
        decoder_class = DECODERS.get(settings["type"], "benchmark")
        decoder = decoder_class(decoder_class.Config(**settings))
        decoder.bind([OutputInfo(i, frozenset({f"out{i}"}), tuple(o.shape)) for i, o in enumerate(outputs)])
        decoder.decode(outputs)  # warm-up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            kept = decoder.decode(outputs)
            times.append((time.perf_counter() - start) * 1000)
        print(f"| `{settings['type']}` | {name} | {len(kept.scores)} | {statistics.median(times):.2f} "
              f"({min(times):.2f}–{max(times):.2f}, n={args.repeat}) |", flush=True)


if __name__ == "__main__":
    main()
