"""`--json`: a run's headline figures as plain JSON on stdout, for scripts and CI jobs that gate on INT8 accuracy
(`quantflow quantize --config X --json | jq '.results.INT8.delta'`); report.json holds everything else."""

from __future__ import annotations

from typing import Any

from quantflow.report.model import Report, Variant, metric_deltas


def _variant(result: Variant, reference: dict[str, float | None]) -> dict[str, Any]:
    speed = result.speed
    return {
        "kind": result.kind, "precision": result.precision, "metrics": result.metrics,
        "delta": metric_deltas(reference, result.metrics),
        "latency_ms_median": speed.latency_ms_median if speed else None,
        "throughput_fps": speed.throughput_fps if speed else None,
        "file": result.artifact.path if result.artifact else None,
        "bytes": result.artifact.bytes if result.artifact else None,
    }


def run_summary(report: Report) -> dict[str, Any]:
    """Model, metric, every variant's figures and change against FP32, the target verdict and the run folder."""
    reference = report.results["FP32"].metrics
    target = report.quantization.target
    return {
        "model": report.model.name,
        "run_folder": report.config.get("output"),
        "metric": report.metric.model_dump(mode="json"),
        "evaluated": {"samples": report.dataset.samples_evaluated, "sample": report.dataset.sample,
                      "images": report.dataset.images_evaluated},
        "quantization": {"algorithm": report.quantization.algorithm,
                         "fake_quantize_nodes": report.quantization.fake_quantize_nodes},
        "target": target.model_dump(mode="json") if target else None,
        "results": {name: _variant(result, reference) for name, result in report.results.items()},
        "versions": report.versions,
    }
