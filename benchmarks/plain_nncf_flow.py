"""The sample SSD's quantization done by hand with the same libraries quantflow uses: the baseline that
quantize_vs_plain.py times `quantflow quantize` against. Convert with OpenVINO, evaluate FP32 in a simple
loop, nncf.quantize on the 300 calibration images, evaluate INT8, COCO AP of both with pycocotools.

    python benchmarks/plain_nncf_flow.py --out /tmp/plain [--model ... --anchors ... --annotations ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

import cv2
import nncf
import numpy as np
import openvino as ov
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from quantflow.tasks.detection.nms import nms
from quantflow.tasks.detection.ssd_raw import decode_boxes

SHAPES = Path(__file__).resolve().parents[1] / "datasets" / "shapes"
SIZE = 160


def preprocess(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """configs/ssd.yml's preprocessing: linear resize to 160x160, BGR→RGB, (x - 127.5) / 127.5, NHWC."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    resized = cv2.cvtColor(cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    return ((resized.astype(np.float32) - 127.5) / 127.5)[None], image.shape[:2]


def detections(result, anchors: np.ndarray, image_id: int, height: int, width: int,
               category_ids: list[int]) -> np.ndarray:
    """SSD decode + class-aware NMS with the config's settings, as COCO rows (id, x, y, w, h, score, category)."""
    scores = result["class_scores"].reshape(len(anchors), -1)
    anchor_idx, class_idx = np.nonzero(scores[:, 1:] >= 0.01)
    candidate_scores = scores[anchor_idx, class_idx + 1]
    top = np.argsort(-candidate_scores, kind="stable")[:1000]
    boxes = decode_boxes(result["box_encodings"].reshape(-1, 4)[anchor_idx[top]], anchors[anchor_idx[top]],
                         (10.0, 10.0, 5.0, 5.0))
    kept = nms(boxes, candidate_scores[top], class_idx[top] + 1, 0.6, 100)
    pixels = (kept.boxes.astype(np.float64) * [width, height, width, height]).clip(0, [width, height, width, height])
    return np.column_stack([np.full(len(pixels), image_id), pixels[:, :2], pixels[:, 2:] - pixels[:, :2],
                            kept.scores, np.asarray(category_ids)[kept.labels - 1]])


def coco_ap(compiled, coco: COCO, images: Path, anchors: np.ndarray) -> float:
    """Predict every validation image one by one, then COCOeval bbox AP@[.5:.95]."""
    category_ids = sorted(coco.cats)
    rows = []
    for image_id in sorted(coco.imgs):
        tensor, (height, width) = preprocess(images / coco.imgs[image_id]["file_name"])
        rows.append(detections(compiled(tensor), anchors, image_id, height, width, category_ids))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco, coco.loadRes(np.concatenate(rows)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--model", type=Path, default=SHAPES / "model" / "saved_model")
    args.add_argument("--anchors", type=Path, default=SHAPES / "model" / "anchors.npy")
    args.add_argument("--annotations", type=Path, default=SHAPES / "val.json")
    args.add_argument("--images", type=Path, default=SHAPES / "val")
    args.add_argument("--calib", type=Path, default=SHAPES / "calib")
    args.add_argument("--out", type=Path, required=True)
    options = args.parse_args()

    timings, start = {}, time.perf_counter()
    model = ov.convert_model(options.model, input=[1, SIZE, SIZE, 3])
    anchors = np.load(options.anchors).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(options.annotations))
    core = ov.Core()
    timings["load"] = time.perf_counter() - start

    t = time.perf_counter()
    fp32_ap = coco_ap(core.compile_model(model, "CPU"), coco, options.images, anchors)
    timings["evaluate_fp32"] = time.perf_counter() - t

    t = time.perf_counter()
    calibration = sorted(p for p in options.calib.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:300]
    quantized = nncf.quantize(model, nncf.Dataset(calibration, lambda p: preprocess(p)[0]), subset_size=300,
                              preset=nncf.QuantizationPreset.PERFORMANCE, target_device=nncf.TargetDevice.CPU)
    timings["quantize"] = time.perf_counter() - t

    t = time.perf_counter()
    int8_ap = coco_ap(core.compile_model(quantized, "CPU"), coco, options.images, anchors)
    timings["evaluate_int8"] = time.perf_counter() - t

    options.out.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, options.out / "fp32.xml")
    ov.save_model(quantized, options.out / "int8.xml")
    timings["total"] = time.perf_counter() - start
    report = {"FP32_AP": fp32_ap, "INT8_AP": int8_ap, "timings_s": timings}
    (options.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
