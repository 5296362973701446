"""The embedded-processing variants of a run (`preprocessing.embed: true`): each model with its processing
inside the graph, saved, evaluated on raw images and timed next to the external processing it replaces, so
the report shows whether deploying the merged model changes accuracy or speed."""

from __future__ import annotations

from pathlib import Path

from quantflow.backends.openvino.embed import embedded
from quantflow.backends.openvino.runner import OpenVINORunner
from quantflow.backends.openvino.sources import ir_artifact, save_ir
from quantflow.backends.openvino.speed import latency, measure_speed
from quantflow.core.task import Task
from quantflow.pipeline.evaluate import Evaluation, Predictions, variant
from quantflow.preprocessing import Pipeline
from quantflow.report.model import Variant


def embedded_variants(evaluation: Evaluation, task: Task, models: dict, external: dict[str, Predictions],
                      folder: Path, model_name: str) -> dict[str, Variant]:
    """Variants `<precision> embedded`: metric, speed and files of each merged model, with the external
    preprocessing time for comparison and the task's own measure of how far the results moved."""
    raw, speed, device = Pipeline([]), evaluation.speed, evaluation.device
    sample = evaluation.first_sample()
    preprocess = latency(lambda: evaluation.pipeline(*sample), speed) if speed.enabled else {}
    results = {}
    for precision, model in models.items():
        merged, decoder = embedded(model, evaluation.pipeline, evaluation.decoder)
        xml = folder / f"{precision}-embedded" / f"{model_name}.xml"
        save_ir(merged, xml)
        predictions, metric = evaluation.score(OpenVINORunner(merged, device), f"{precision} embedded evaluation",
                                               decoder, raw)
        results[f"{precision} embedded"] = variant(
            "embedded", precision, metric, predictions,
            speed=measure_speed(merged, raw(*sample)[0], device, speed) if speed.enabled else None,
            artifact=ir_artifact(xml, folder), external_preprocess_ms=preprocess.get("latency_ms_median"),
            agreement=task.agreement(external[precision].rows, predictions.rows))
    return results
