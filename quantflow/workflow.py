"""`quantflow quantize`: convert → evaluate FP32 → calibrate + quantize → evaluate INT8 → run folder + report."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from quantflow.adapters import ADAPTERS, DatasetAdapter
from quantflow.adapters.image_folder import ImageFolder
from quantflow.config import Config
from quantflow.decoders import DECODERS, Decoder
from quantflow.errors import QuantflowError
from quantflow.evaluate import Predictions, predict
from quantflow.metrics import METRICS, Metric, MetricResult
from quantflow.preprocessing import Pipeline
from quantflow.provenance import cpu_info, versions
from quantflow.pseudo_labels import pseudo_ground_truth
from quantflow.quantizers import QUANTIZERS, CalibrationData, Quantizer
from quantflow.report import write_reports
from quantflow.rundir import RunFolder
from quantflow.runner import OpenVINORunner
from quantflow.sources import conform_input, count_ops, load_model, output_infos, save_ir, source_format
from quantflow.subsets import seeded_subset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stages:
    """Every provider a run needs, built (and so validated) before any heavy work starts."""

    dataset: DatasetAdapter
    pipeline: Pipeline
    decoder: Decoder
    metric: Metric
    quantizer: Quantizer
    calibration_source: DatasetAdapter
    evaluation_ids: list[int]
    calibration_ids: list[int]


def build_stages(config: Config) -> Stages:
    """Construct all providers; any bad input surfaces here as a UserInputError."""
    dataset = ADAPTERS.get(config.dataset.type, "dataset.type")(config.dataset)
    calibration_source = (ImageFolder.from_folder(config.calibration.images, "calibration.images")
                          if config.calibration.images else dataset)
    return Stages(
        dataset=dataset,
        pipeline=Pipeline(config.preprocessing),
        decoder=DECODERS.get(config.decoder.type, "decoder.type")(config.decoder),
        metric=METRICS.get(config.metric.type, "metric.type")(config.metric),
        quantizer=QUANTIZERS.get(config.quantization.openvino.algorithm, "quantization.openvino.algorithm")(
            config.quantization.openvino),
        calibration_source=calibration_source,
        evaluation_ids=seeded_subset(dataset.ids(), config.evaluation.max_images, config.evaluation.seed,
                                     "evaluation.max_images"),
        calibration_ids=seeded_subset(calibration_source.ids(), config.calibration.subset_size,
                                      config.calibration.seed, "calibration.subset_size"),
    )


def prepare_model(config: Config, stages: Stages):
    """Read/convert the model and check it against the preprocessing and the decoder."""
    model = load_model(config.model)
    conform_input(model, stages.pipeline.spec)
    stages.decoder.bind(output_infos(model))
    return model


def _artifact(xml: Path, root: Path) -> dict:
    bin_path = xml.with_suffix(".bin")
    return {"path": str(xml.relative_to(root)), "bytes": xml.stat().st_size + bin_path.stat().st_size,
            "sha256": hashlib.sha256(bin_path.read_bytes()).hexdigest()}


def _result(metric: MetricResult, predictions: Predictions) -> dict:
    return {"metrics": metric.summary, "per_class": metric.per_class, "detections": int(len(predictions.rows)),
            "images_per_second": predictions.images_per_second}


def _ground_truth(config: Config, stages: Stages, fp32: Predictions):
    """The dataset's labels, or in annotation-free mode the FP32 predictions above the threshold."""
    if stages.dataset.has_labels:
        return stages.dataset.coco, "dataset annotations"
    sizes = {}
    for image_id in fp32.image_ids:
        height, width = stages.dataset.load_image(image_id).shape[:2]
        sizes[image_id] = (height, width)
    threshold = config.dataset.pseudo_label_threshold
    reference = f"FP32 predictions with score >= {threshold} (annotation-free mode; FP32 scores itself)"
    return pseudo_ground_truth(fp32.rows, sizes, threshold), reference


def _calibration_overlap(stages: Stages) -> int:
    """Calibration images that are also evaluated: they flatter INT8, so the report counts them."""
    if stages.calibration_source is not stages.dataset:
        return 0
    return len(set(stages.calibration_ids) & set(stages.evaluation_ids))


def run_quantize(config: Config) -> dict:
    """The whole default flow; returns the report written to the run folder."""
    started = time.perf_counter()
    stages = build_stages(config)
    timings: dict[str, float] = {}

    def timed(name: str, fn, *args):
        t0 = time.perf_counter()
        value = fn(*args)
        timings[name] = time.perf_counter() - t0
        return value

    model = timed("load", prepare_model, config, stages)
    overlap = _calibration_overlap(stages)
    if overlap:
        log.warning("calibration: %d calibration images are also evaluated; set calibration.images to a "
                    "separate folder for an unbiased INT8 figure", overlap)

    with RunFolder(config.output) as run:
        fp32_xml = run.path / "FP32" / f"{config.model.name}.xml"
        save_ir(model, fp32_xml)

        def evaluate(candidate, label: str) -> Predictions:
            runner = OpenVINORunner(candidate, config.evaluation.device)
            return predict(runner, stages.dataset, stages.evaluation_ids, stages.pipeline, stages.decoder, label)

        fp32 = timed("evaluate_fp32", evaluate, model, "FP32 evaluation")
        ground_truth, reference = _ground_truth(config, stages, fp32)
        fp32_metric = stages.metric.evaluate(ground_truth, fp32.rows, fp32.image_ids)

        source = stages.calibration_source
        calibration = CalibrationData(stages.calibration_ids, lambda i: stages.pipeline(source.load_image(i))[0])
        outcome = timed("quantize", stages.quantizer.quantize, model, calibration)
        fake_quantize = count_ops(outcome.model, "FakeQuantize")
        if fake_quantize == 0:
            raise QuantflowError("quantization inserted no FakeQuantize nodes; the INT8 model would be FP32")
        int8_xml = run.path / "INT8" / f"{config.model.name}.xml"
        save_ir(outcome.model, int8_xml)
        int8 = timed("evaluate_int8", evaluate, outcome.model, "INT8 evaluation")
        int8_metric = stages.metric.evaluate(ground_truth, int8.rows, int8.image_ids)
        timings["total"] = time.perf_counter() - started

        report = {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": {"name": config.model.name, "source": str(config.model.source),
                      "format": source_format(config.model.source)},
            "config_hash": config.digest(),
            "config": config.model_dump(mode="json"),
            "versions": versions(),
            "cpu": cpu_info(),
            "dataset": {"type": config.dataset.type, "fingerprint": stages.dataset.fingerprint(),
                        "images_evaluated": len(stages.evaluation_ids), "reference": reference},
            "metric": {"name": config.metric.type, "main": fp32_metric.main},
            "calibration": {
                "source": str(config.calibration.images or "the evaluation dataset"),
                "subset_size": len(stages.calibration_ids), "seed": config.calibration.seed,
                "ids": stages.calibration_ids,
                "files": [source.file_of(i).name for i in stages.calibration_ids],
                "overlap_with_evaluation": overlap,
            },
            "quantization": {"algorithm": config.quantization.openvino.algorithm, "settings": outcome.details,
                             "fake_quantize_nodes": fake_quantize},
            "results": {"FP32": _result(fp32_metric, fp32), "INT8": _result(int8_metric, int8)},
            "delta": {k: (v - fp32_metric.summary[k] if v is not None and fp32_metric.summary[k] is not None else None)
                      for k, v in int8_metric.summary.items()},
            "timings_s": timings,
            "artifacts": {"FP32": _artifact(fp32_xml, run.path), "INT8": _artifact(int8_xml, run.path)},
        }
        write_reports(run.path, report)
    return report
