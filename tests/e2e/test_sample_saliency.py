"""configs/saliency.yml end to end, the U²-Net flow: the PyTorch-trained network as ONNX (NCHW) quantized for
OpenVINO and converted through onnx2tf to TFLite (NHWC) fp32 / dynamic / float16 / int8, every row scored with
MAE and max F-measure; the TFLite fp32 model computes what OpenVINO FP32 computes; the TorchScript export of the
same network takes the PyTorch → ONNX → TFLite route."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from quantflow.backends.openvino.runner import compile_exact
from quantflow.backends.openvino.sources import output_infos
from quantflow.backends.tflite.runner import LiteRTRunner
from quantflow.config import load_config
from quantflow.preprocessing import Pipeline
from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, html_parts, quantize_sample

pytestmark = pytest.mark.slow
ROWS = {"FP32", "INT8", "TFLite fp32", "TFLite dynamic", "TFLite float16", "TFLite int8"}



@pytest.fixture(scope="module")
def saliency_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("saliency") / "run"
    return out, quantize_sample("saliency.yml", out)


def test_every_variant_is_scored_with_mae_and_max_f(saliency_run) -> None:
    out, report = saliency_run
    assert set(report["results"]) == ROWS
    for name, result in report["results"].items():
        metrics = result["metrics"]
        assert set(metrics) == {"MAE", "max F", "IoU@0.5"}, name
        assert metrics["MAE"] < 0.05 and metrics["max F"] > 0.9, (name, metrics)
    fp32 = report["results"]["FP32"]["metrics"]
    assert report["metric"]["main"] == "MAE" and not report["metric"]["higher_is_better"]
    assert abs(report["results"]["TFLite fp32"]["metrics"]["MAE"] - fp32["MAE"]) < 1e-5
    assert report["tflite"]["converted_via"].startswith("onnx2tf")
    assert (out / "tflite" / "u2net-saliency_full_int8_io_float32.tflite").is_file()
    text = (out / "report.md").read_text()
    assert "| TFLite int8 |" in text and "converted to NHWC first: onnx2tf" in text


def test_tflite_fp32_computes_what_openvino_fp32_computes(saliency_run) -> None:
    """Same preprocessed NCHW tensors into both; the TFLite runner restores the NCHW outputs: equal within 1e-4."""
    import openvino as ov

    out, _ = saliency_run
    config = load_config(ROOT / "configs" / "saliency.yml")
    pipeline = Pipeline(config.preprocessing.steps)
    model = ov.Core().read_model(out / "FP32" / "u2net-saliency.xml")
    compiled = compile_exact(model, "CPU")
    runner = LiteRTRunner(out / "tflite" / "u2net-saliency_fp32.tflite", source_outputs=output_infos(model))
    names = [sorted(info.names)[0] for info in output_infos(model)]
    tflite_names = [info.names for info in runner.output_infos()]
    for path in sorted((ROOT / "datasets" / "saliency" / "val" / "images").glob("*.jpg"))[:5]:
        tensor, _ = pipeline(cv2.imread(str(path)))
        reference = compiled(tensor)
        got = runner.infer(tensor)
        for index, name in enumerate(names):
            mine = next(i for i, n in enumerate(tflite_names) if name in n)
            assert got[mine].shape == (1, 1, 160, 160)
            np.testing.assert_allclose(got[mine], reference[compiled.outputs[index]], atol=1e-4)


def test_masks_are_drawn_and_figures_pinned(saliency_run) -> None:
    out, report = saliency_run
    entries = report["pictures"]["entries"]
    assert len(entries) == 3 and report["pictures"]["title"] == "Foreground masks"
    for entry in entries:
        assert set(entry["images"]) == {"fp32_mask", "int8_mask", "disagreement"}
        for path in entry["images"].values():
            assert cv2.imread(str(out / path)) is not None
    tags, _ = html_parts(out / "report.html")
    assert tags["img"] == 9
    assert_pinned(report, "saliency")


def test_torchscript_source_takes_the_pytorch_route_to_tflite(tmp_path: Path) -> None:
    model = ROOT / "datasets" / "saliency" / "model"
    report = quantize_sample("saliency.yml", tmp_path / "run", f"model.source={model / 'u2net.pt'}",
                             "model.inputs={image: [1, 3, 160, 160]}", "model.outputs=[d0, d1, d2, d3, d4, d5, d6]",
                             "quantization.tflite={variants: [fp32]}", "evaluation.max_images=12", "evaluation.maps=0")
    assert report["model"]["format"] == "TorchScript"
    assert report["tflite"]["converted_via"].startswith("onnx2tf") and "pytorch" in report["tflite"]["converted_via"]
    fp32, tflite = report["results"]["FP32"]["metrics"], report["results"]["TFLite fp32"]["metrics"]
    assert abs(fp32["MAE"] - tflite["MAE"]) < 1e-5 and fp32["max F"] > 0.9


def test_report_page_renders_in_a_browser(saliency_run, tmp_path: Path) -> None:
    check_page(saliency_run[0] / "report.html", tmp_path)
