"""The TFLite variants of a run: convert every configured variant, then judge each with the same dataset,
preprocessing, decoder and metric as the OpenVINO models."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantflow.backends.openvino.sources import SOURCES, find_source
from quantflow.backends.openvino.speed import latency, parallel_throughput
from quantflow.backends.tflite.config import TFLiteConfig
from quantflow.backends.tflite.convert import convert_variants
from quantflow.backends.tflite.debugger import worst_layers
from quantflow.backends.tflite.inspect import describe, mixed_range_outputs
from quantflow.backends.tflite.runner import LiteRTRunner
from quantflow.core.errors import UserInputError, shown
from quantflow.core.metric import MetricResult
from quantflow.core.provenance import file_sha256
from quantflow.pipeline.evaluate import Evaluation, variant
from quantflow.preprocessing import Pipeline
from quantflow.report.model import TFLiteNotes, Variant

log = logging.getLogger(__name__)


def check_tflite_source(source: Path, pipeline: Pipeline) -> None:
    """Before any work: TFLite variants need a TensorFlow source and NHWC input."""
    found = find_source(source)
    if not found.tensorflow:
        tf_formats = " or ".join(SOURCES.get(n, "")().format for n in SOURCES.names() if SOURCES.get(n, "").tensorflow)
        raise UserInputError(f"quantization.tflite: needs a TF source ({tf_formats}), got {found.format} "
                             f"{shown(source.name)}")
    if pipeline.spec.layout != "nhwc":
        raise UserInputError("quantization.tflite: TFLite models take NHWC input; set the layout step to nhwc")


@dataclass(frozen=True)
class TFLiteSource:
    """The TensorFlow model the variants are converted from, and the tensors it is converted and calibrated with."""

    path: Path
    name: str
    input_name: str | None
    output_names: list[str] | None
    calibration: np.ndarray


class TFLiteVariants:
    """Builds and evaluates the variants of one run; results are keyed `TFLite <variant>` for the report."""

    def __init__(self, evaluation: Evaluation, settings: TFLiteConfig, source: TFLiteSource, folder: Path) -> None:
        self.evaluation, self.settings, self.source, self.folder = evaluation, settings, source, folder

    def evaluate(self, variant_name: str, path: Path, label: str) -> Variant:
        """Metric, speed, size and what the flatbuffer really holds, for one .tflite file."""
        e = self.evaluation
        runner = LiteRTRunner(path, self.settings.threads)
        decoder = type(e.decoder)(e.decoder.config)
        decoder.bind(runner.output_infos())
        predictions, metric = e.score(runner, label, decoder)
        tensor = e.pipeline(*e.first_sample())[0]
        return variant("tflite", variant_name, metric, predictions,
                       speed=self.speed(path, runner, tensor) if e.speed.enabled else None,
                       artifact={"path": str(path.relative_to(self.folder.parent)), "bytes": path.stat().st_size,
                                 "sha256": file_sha256(path)},
                       contents=describe(path))

    def speed(self, path: Path, runner: LiteRTRunner, tensor: np.ndarray) -> dict:
        """Latency with the configured threads; throughput with one single-threaded interpreter per core."""
        settings = self.evaluation.speed

        def single_threaded():
            worker = LiteRTRunner(path, 1)
            return lambda: worker.infer(tensor)

        return {**latency(lambda: runner.infer(tensor), settings), "latency_threads": self.settings.threads,
                **parallel_throughput(single_threaded, os.cpu_count() or 1, settings)}

    def convert(self, variants: list[str], denylist: dict | None = None) -> dict[str, Path]:
        s = self.source
        return convert_variants(s.path, variants, self.settings.io, s.calibration, self.folder, s.name, s.input_name,
                                s.output_names, denylist)

    def build(self, fp32: MetricResult) -> tuple[dict[str, Variant], TFLiteNotes]:
        """All variants, and notes (mixed-range outputs, layers the int8 variant keeps in float)."""
        calibration = self.source.calibration
        paths = self.convert(list(self.settings.variants))
        results = {v: self.evaluate(v, path, f"TFLite {v}") for v, path in paths.items()}
        notes = TFLiteNotes()
        if "fp32" in paths:
            runner = LiteRTRunner(paths["fp32"])
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
            layers = worst_layers(s.path, calibration, input_name=s.input_name, output_names=s.output_names)
            log.info("TFLite int8 drop %.4f > max_drop %.4f: keeping %d layers in float", drop,
                     self.settings.max_drop, len(layers))
            if layers:
                paths.update(self.convert(["int8"], denylist={"int8": list(layers)}))
                results["int8"] = self.evaluate("int8", paths["int8"], "TFLite int8 (selective)")
            notes.kept_in_float = layers
        return {f"TFLite {v}": result for v, result in results.items()}, notes
