"""The embedded-processing variants of a run (`preprocessing.embed: true`): each model with its processing
inside the graph, saved, evaluated on raw images and timed next to the external processing it replaces, so
the report shows whether deploying the merged model changes accuracy or speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantflow.backends.openvino.embed import embedded
from quantflow.backends.openvino.runner import OpenVINORunner
from quantflow.backends.openvino.sources import ir_artifact, save_ir
from quantflow.backends.openvino.speed import latency, measure_speed
from quantflow.pipeline.evaluate import Predictions, result_entry, scored_pass
from quantflow.preprocessing import Pipeline


def evaluate_embedded(run, models: dict, ground_truth, external: dict[str, Predictions], folder: Path) -> dict:
    """Report entries `<precision> embedded`: metric, speed and files of each merged model, with the external
    preprocessing time for comparison and, for pose, how far the keypoints moved."""
    s, settings, device = run.stages, run.config.evaluation.speed, run.config.evaluation.device
    raw = Pipeline([])
    sample = s.dataset.load_sample(s.evaluation_ids[0])
    preprocess = latency(lambda: s.pipeline(*sample), settings) if settings.enabled else {}
    results = {}
    for name, model in models.items():
        merged, decoder = embedded(model, s.pipeline, s.decoder)
        xml = folder / f"{name}-embedded" / f"{run.config.model.name}.xml"
        save_ir(merged, xml)
        predictions, metric = scored_pass(OpenVINORunner(merged, device), s.dataset, s.evaluation_ids, raw, decoder,
                                          f"{name} embedded evaluation", s.metric, ground_truth)
        speed = measure_speed(merged, raw(*sample)[0], device, settings) if settings.enabled else {}
        results[f"{name} embedded"] = {
            **result_entry(metric, predictions), "speed": speed, **ir_artifact(xml, folder),
            "external_preprocess_ms": preprocess.get("latency_ms_median"),
            "keypoint_shift_px": (keypoint_shift(external[name].rows, predictions.rows)
                                  if s.dataset.task == "keypoints" else None),
        }
    return results


def keypoint_shift(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean distance in pixels between the keypoints of two passes over the same samples (rows in order)."""
    return float(np.hypot(other[:, 4::3] - reference[:, 4::3], other[:, 5::3] - reference[:, 5::3]).mean())
