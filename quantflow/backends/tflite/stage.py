"""The TFLite stage of a run: convert every configured variant, then judge each with the same dataset,
preprocessing, decoder and metric as the OpenVINO models."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from quantflow.backends.openvino.speed import latency, parallel_throughput
from quantflow.backends.tflite.config import TFLiteConfig
from quantflow.backends.tflite.convert import convert_variants
from quantflow.backends.tflite.debugger import worst_layers
from quantflow.backends.tflite.inspect import describe
from quantflow.backends.tflite.runner import LiteRTRunner
from quantflow.core.decoder import DECODERS
from quantflow.core.errors import UserInputError
from quantflow.core.metric import MetricResult
from quantflow.core.provenance import file_sha256
from quantflow.pipeline.evaluate import result_entry, scored_pass

log = logging.getLogger(__name__)
TF_FORMATS = ("TF SavedModel", "frozen TF graph")


def mixed_range_outputs(outputs: list[np.ndarray], names: list[str]) -> list[str]:
    """Outputs whose last axis holds both coordinate-range columns (beyond ±10, e.g. pixels) and score-range
    columns (within ±1): one per-tensor int8 scale cannot serve both, the trap that makes full-integer
    detectors find nothing. `outputs` may stack several samples along any leading axis."""
    mixed = []
    for name, output in zip(names, outputs):
        if output.ndim < 2 or output.shape[-1] < 2:
            continue
        spans = np.abs(output.reshape(-1, output.shape[-1])).max(axis=0)
        if spans.max() > 10 and (spans <= 1).any():
            mixed.append(name)
    return mixed


class TFLiteStage:
    """Builds and evaluates the variants of one run; results are keyed `TFLite <variant>` for the report."""

    def __init__(self, run, settings: TFLiteConfig, folder: Path) -> None:
        self.run, self.settings, self.folder = run, settings, folder
        config = run.config
        self.input_name = next(iter(config.model.inputs), None)
        self.output_names = list(config.model.outputs) or None
        if run.stages.pipeline.spec.layout != "nhwc":
            raise UserInputError("quantization.tflite: TFLite models take NHWC input; set the layout step to nhwc")

    def calibration(self) -> np.ndarray:
        s = self.run.stages
        return np.concatenate([s.pipeline(*s.calibration_source.load_sample(i))[0] for i in s.calibration_ids])

    def evaluate(self, path: Path, ground_truth, label: str) -> dict:
        """Metric, speed, size and what the flatbuffer really holds, for one .tflite file."""
        s, config = self.run.stages, self.run.config
        runner = LiteRTRunner(path, self.settings.threads)
        decoder = DECODERS.get(config.decoder.type, "decoder.type")(config.decoder)
        decoder.bind(runner.output_infos())
        predictions, metric = scored_pass(runner, s.dataset, s.evaluation_ids, s.pipeline, decoder, label, s.metric,
                                          ground_truth)
        speed = config.evaluation.speed
        tensor = s.pipeline(*s.dataset.load_sample(s.evaluation_ids[0]))[0]
        return {
            **result_entry(metric, predictions),
            "speed": self.speed(path, runner, tensor) if speed.enabled else {},
            "file": path.name, "bytes": path.stat().st_size,
            "sha256": file_sha256(path), "contents": describe(path),
        }

    def speed(self, path: Path, runner: LiteRTRunner, tensor: np.ndarray) -> dict:
        """Latency with the configured threads; throughput with one single-threaded interpreter per core."""
        settings = self.run.config.evaluation.speed

        def single_threaded():
            worker = LiteRTRunner(path, 1)
            return lambda: worker.infer(tensor)

        return {**latency(lambda: runner.infer(tensor), settings), "latency_threads": self.settings.threads,
                **parallel_throughput(single_threaded, os.cpu_count() or 1, settings)}

    def build(self, ground_truth, fp32: MetricResult) -> tuple[dict, dict]:
        """All variants' results, and notes (mixed-range outputs, layers the int8 variant keeps in float)."""
        config = self.run.config
        calibration = self.calibration()
        paths = convert_variants(config.model.source, list(self.settings.variants), self.settings.io, calibration,
                                 self.folder, config.model.name, self.input_name, self.output_names)
        results = {variant: self.evaluate(path, ground_truth, f"TFLite {variant}") for variant, path in paths.items()}
        notes: dict = {"kept_in_float": {}}
        if "fp32" in paths:
            runner = LiteRTRunner(paths["fp32"])
            names = [sorted(info.names, key=len)[0] for info in runner.output_infos()]
            samples = [runner.infer(calibration[i : i + 1]) for i in range(min(8, len(calibration)))]
            stacked = [np.concatenate([sample[k] for sample in samples]) for k in range(len(names))]
            notes["mixed_range_outputs"] = mixed_range_outputs(stacked, names)
            for name in notes["mixed_range_outputs"]:
                log.warning("TFLite: output %s mixes value ranges in one tensor; full-integer int8 will lose "
                            "precision there (keep decoding outside the model or split the output)", name)
        drop = fp32.loss_to(results["int8"]["metrics"][fp32.main]) if "int8" in results else 0.0
        if self.settings.max_drop is not None and drop > self.settings.max_drop:
            layers = worst_layers(config.model.source, calibration, input_name=self.input_name,
                                  output_names=self.output_names)
            log.info("TFLite int8 drop %.4f > max_drop %.4f: keeping %d layers in float", drop,
                     self.settings.max_drop, len(layers))
            if layers:
                paths.update(convert_variants(config.model.source, ["int8"], self.settings.io, calibration,
                                              self.folder, config.model.name, self.input_name, self.output_names,
                                              denylist={"int8": list(layers)}))
                results["int8"] = self.evaluate(paths["int8"], ground_truth, "TFLite int8 (selective)")
            notes["kept_in_float"] = layers
        return results, notes
