"""The two routes from a PyTorch model to TFLite, on the U²-Net-style saliency sample: quantflow's (PyTorch →
ONNX → onnx2tf → NHWC SavedModel → TFLiteConverter, which then makes every variant) and LiteRT's own PyTorch
converter (litert-torch, fp32 only here; its quantized variants go through a different quantizer). Each route's
fp32 model is run on the same preprocessed val images as OpenVINO FP32; reported: conversion wall time, peak RSS
of the converting process, and the largest difference from OpenVINO on the fused map d0.

litert-torch pins its own pydantic and pulls jax, transformers and torchao (0.9 GB beside torch), so it is not
a quantflow dependency; give an interpreter where it is installed (e.g. a venv with --system-site-packages):

    python benchmarks/tflite_routes.py [--litert-python /path/to/venv/bin/python] [--images 8]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
from common import ROOT

from quantflow.backends.openvino.runner import compile_exact
from quantflow.backends.openvino.sources import load_model, output_infos
from quantflow.backends.tflite.convert import convert_variants
from quantflow.backends.tflite.from_nchw import saved_model_from
from quantflow.backends.tflite.runner import LiteRTRunner
from quantflow.config import load_config
from quantflow.preprocessing import Pipeline

MODEL = ROOT / "datasets" / "saliency" / "model"
LITERT_TORCH = textwrap.dedent("""
    import resource, sys, time
    sys.path.insert(0, sys.argv[2])
    import torch, litert_torch
    import train_u2net_saliency as trainer
    start = time.perf_counter()
    net = trainer.U2Net()
    net.load_state_dict(torch.load(sys.argv[3]))
    litert_torch.convert(net.eval(), (torch.zeros(1, 3, 160, 160),)).export(sys.argv[1])
    print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
""")


def children_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def largest_difference(tflite: Path, nchw_outputs: list | None, tensors: list[np.ndarray], compiled) -> float:
    runner = LiteRTRunner(tflite, source_outputs=nchw_outputs)
    worst = 0.0
    for tensor in tensors:
        reference = compiled(tensor)[compiled.outputs[0]]
        got = runner.infer(tensor)
        worst = max(worst, min(float(np.abs(g.reshape(reference.shape) - reference).max())
                               for g in got if g.size == reference.size))
    return worst


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--litert-python", type=Path, help="an interpreter with litert-torch installed")
    args.add_argument("--images", type=int, default=8)
    options = args.parse_args()
    config = load_config(ROOT / "configs" / "saliency.yml", [f"model.source={MODEL / 'u2net.pt'}",
                                                             "model.inputs={image: [1, 3, 160, 160]}",
                                                             "model.outputs=[d0, d1, d2, d3, d4, d5, d6]"])
    pipeline = Pipeline(config.preprocessing.steps)
    images = sorted((ROOT / "datasets" / "saliency" / "val" / "images").glob("*.jpg"))[: options.images]
    tensors = [pipeline(cv2.imread(str(path)))[0] for path in images]
    model = load_model(config.model)
    compiled = compile_exact(model, "CPU")
    calibration = np.concatenate(tensors)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        saved_model = saved_model_from(config.model, "pytorch", calibration, folder)
        fp32 = convert_variants(saved_model, ["fp32"], "float32", np.moveaxis(calibration, 1, -1), folder, "u2net")
        seconds = time.perf_counter() - start
        difference = largest_difference(fp32["fp32"], output_infos(model), tensors, compiled)
        print(f"quantflow route (torch.onnx → onnx2tf → TFLiteConverter): {seconds:.1f} s, peak RSS of the workers "
              f"{children_peak_gb():.2f} GB, max |TFLite fp32 − OpenVINO| on d0 {difference:.2e}")
        if options.litert_python:
            out = folder / "litert_torch.tflite"
            done = subprocess.run([str(options.litert_python), "-c", LITERT_TORCH, str(out), str(ROOT / "tools"),
                                   str(MODEL / "weights.pth")], capture_output=True, text=True, check=True)
            seconds, peak = (float(v) for v in done.stdout.split()[-2:])
            difference = largest_difference(out, None, tensors, compiled)
            print(f"litert-torch: {seconds:.1f} s, peak RSS {peak:.2f} GB, max |TFLite fp32 − OpenVINO| on d0 "
                  f"{difference:.2e}; input stays NCHW")


if __name__ == "__main__":
    sys.exit(main())
