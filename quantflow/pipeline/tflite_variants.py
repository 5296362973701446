"""The TFLite variants of a run: convert every configured variant, then judge each with the same dataset,
preprocessing, decoder and metric as the OpenVINO models."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from quantflow.backends.openvino.sources import SOURCES, find_source
from quantflow.backends.openvino.speed import latency, parallel_throughput
from quantflow.backends.tflite.config import TFLiteConfig
from quantflow.backends.tflite.convert import convert_variants
from quantflow.backends.tflite.debugger import worst_layers
from quantflow.backends.tflite.from_nchw import channels_last, check_onnx2tf, converter_version, saved_model_from
from quantflow.backends.tflite.inspect import describe, mixed_range_outputs
from quantflow.backends.tflite.runner import LiteRTRunner
from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError, shown
from quantflow.core.metric import MetricResult
from quantflow.core.progress import step
from quantflow.core.provenance import file_sha256
from quantflow.pipeline.evaluate import Evaluation, variant
from quantflow.preprocessing import Pipeline
from quantflow.report.model import TFLiteNotes, Variant

log = logging.getLogger(__name__)


def check_tflite_source(source: Path, pipeline: Pipeline) -> None:
    """Before any work: TFLite variants need a TensorFlow source with NHWC input, or an NCHW ONNX / PyTorch one
    (converted through onnx2tf)."""
    found = find_source(source)
    if not found.tflite_route:
        routes = " or ".join(sorted({SOURCES.get(n, "")().format for n in SOURCES.names()
                                     if SOURCES.get(n, "").tflite_route}))
        raise UserInputError(f"quantization.tflite: needs a TF, ONNX or PyTorch source ({routes}), got "
                             f"{found.format} {shown(source.name)}")
    if found.tflite_route == "tensorflow" and pipeline.spec.layout != "nhwc":
        raise UserInputError("quantization.tflite: TFLite models take NHWC input; set the layout step to nhwc")
    if found.tflite_route != "tensorflow":
        if pipeline.spec.layout != "nchw":
            raise UserInputError(f"quantization.tflite: {found.format} models reach TFLite through onnx2tf, which "
                                 "expects NCHW input; this preprocessing ends in nhwc")
        check_onnx2tf()


@dataclass(frozen=True)
class TFLiteSource:
    """The model the variants are converted from, and the tensors it is converted and calibrated with (as the
    preprocessing makes them). `route`: "tensorflow", or "onnx" / "pytorch" for NCHW sources, which go through
    an NHWC SavedModel first; `model`: their config section; `source_outputs`: their OpenVINO outputs."""

    path: Path
    name: str
    input_name: str | None
    output_names: list[str] | None
    calibration: np.ndarray
    route: str = "tensorflow"
    model: Any = None
    source_outputs: list[OutputInfo] | None = None

    @property
    def converter_calibration(self) -> np.ndarray:
        return channels_last(self.calibration) if self.route != "tensorflow" else self.calibration


class TFLiteVariants:
    """Builds and evaluates the variants of one run; results are keyed `TFLite <variant>` for the report."""

    def __init__(self, evaluation: Evaluation, settings: TFLiteConfig, source: TFLiteSource, folder: Path) -> None:
        self.evaluation, self.settings, self.source, self.folder = evaluation, settings, source, folder

    def evaluate(self, variant_name: str, path: Path, label: str) -> Variant:
        """Metric, speed, size and what the flatbuffer really holds, for one .tflite file."""
        e = self.evaluation
        runner = self.runner(path, self.settings.threads)
        decoder = type(e.decoder)(e.decoder.config)
        decoder.bind(runner.output_infos())
        predictions, metric = e.score(runner, label, decoder)
        tensor = e.pipeline(*e.first_sample())[0]
        speed = None
        if e.speed.enabled:
            with step(f"{label}: timing"):
                speed = self.speed(path, runner, tensor)
        return variant("tflite", variant_name, metric, predictions, speed=speed,
                       artifact={"path": str(path.relative_to(self.folder.parent)), "bytes": path.stat().st_size,
                                 "sha256": file_sha256(path)},
                       contents=describe(path))

    def speed(self, path: Path, runner: LiteRTRunner, tensor: np.ndarray) -> dict:
        """Latency with the configured threads; throughput with one single-threaded interpreter per core."""
        settings = self.evaluation.speed

        def single_threaded():
            worker = self.runner(path, 1)
            return lambda: worker.infer(tensor)

        return {**latency(lambda: runner.infer(tensor), settings), "latency_threads": self.settings.threads,
                **parallel_throughput(single_threaded, os.cpu_count() or 1, settings)}

    def runner(self, path: Path, threads: int | None) -> LiteRTRunner:
        return LiteRTRunner(path, threads, self.source.source_outputs if self.source.route != "tensorflow" else None)

    def convert(self, variants: list[str], denylist: dict | None = None) -> dict[str, Path]:
        s = self.source
        with step(f"TFLite: converting {', '.join(variants)}") as say:
            return convert_variants(s.path, variants, self.settings.io, s.converter_calibration, self.folder, s.name,
                                    s.input_name, s.output_names, denylist, on_progress=say)

    def build(self, fp32: MetricResult) -> tuple[dict[str, Variant], TFLiteNotes]:
        """All variants, and notes (the NHWC conversion of NCHW sources, mixed-range outputs, layers the int8
        variant keeps in float)."""
        if self.source.route == "tensorflow":
            return self._build(fp32, TFLiteNotes())
        with tempfile.TemporaryDirectory(prefix="quantflow_nhwc_") as tmp:
            start = time.perf_counter()
            with step(f"TFLite: {self.source.route} → NHWC SavedModel ({converter_version()})"):
                saved_model = saved_model_from(self.source.model, self.source.route, self.source.calibration, Path(tmp))
            notes = TFLiteNotes(converted_via=f"{converter_version()}: {self.source.route} → NHWC SavedModel",
                                conversion_s=time.perf_counter() - start)
            self.source = replace(self.source, path=saved_model, input_name=None, output_names=None)
            return self._build(fp32, notes)

    def _build(self, fp32: MetricResult, notes: TFLiteNotes) -> tuple[dict[str, Variant], TFLiteNotes]:
        calibration = self.source.calibration
        paths = self.convert(list(self.settings.variants))
        results = {v: self.evaluate(v, path, f"TFLite {v}") for v, path in paths.items()}
        if "fp32" in paths:
            runner = self.runner(paths["fp32"], None)
            names = [sorted(info.names, key=len)[0] for info in runner.output_infos()]
            samples = [runner.infer(calibration[i : i + 1]) for i in range(min(8, len(calibration)))]
            stacked = [np.concatenate([sample[k] for sample in samples]) for k in range(len(names))]
            notes.mixed_range_outputs = mixed_range_outputs(stacked, names)
            for name in notes.mixed_range_outputs:
                log.warning("TFLite: output %s mixes value ranges in one tensor; full-integer int8 will lose "
                            "precision there (keep decoding outside the model or split the output)", name)
        drop = fp32.loss_to(results["int8"].metrics[fp32.main]) if "int8" in results else 0.0
        if self.settings.max_drop is not None and drop > self.settings.max_drop:
            s = self.source
            with step("TFLite: measuring each int8 layer's error"):
                layers = worst_layers(s.path, s.converter_calibration, input_name=s.input_name,
                                      output_names=s.output_names)
            log.info("TFLite int8 drop %.4f > max_drop %.4f: keeping %d layers in float", drop,
                     self.settings.max_drop, len(layers))
            if layers:
                paths.update(self.convert(["int8"], denylist={"int8": list(layers)}))
                results["int8"] = self.evaluate("int8", paths["int8"], "TFLite int8 (selective)")
            notes.kept_in_float = layers
        return {f"TFLite {v}": result for v, result in results.items()}, notes
