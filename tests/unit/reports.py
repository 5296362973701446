"""A complete, typed report built from small parts, for tests of what reads reports (tables, pages, zoo)."""

from __future__ import annotations

from quantflow.report.model import Report

SPEED = {"latency_ms_median": 2.345, "latency_ms_p90": 2.9, "latency_threads": 2, "throughput_fps": 612.34,
         "streams": 2, "throughput_threads": 2, "requests": 4}


def variant(kind: str, precision: str, metrics: dict, speed: dict | None, size: int, **extra) -> dict:
    return {"kind": kind, "precision": precision, "metrics": metrics, "results": 10, "images_per_second": 300.0,
            "speed": speed, "artifact": {"path": f"{precision}/m.xml", "bytes": size, "sha256": "0" * 64}, **extra}


def make_report(keys: list[str], main: str, fp32: dict, int8: dict, higher_is_better: bool = True,
                **sections) -> Report:
    results = {"FP32": variant("openvino", "FP32", fp32, SPEED, 1_490_000),
               "INT8": {**variant("openvino", "INT8", int8, None, 750_000), "images_per_second": 320.55}}
    results |= sections.pop("extra_results", {})
    return Report.model_validate({
        "created": "2026-12-01T00:00:00+00:00",
        "model": {"name": "m", "source": "m.onnx", "format": "ONNX"},
        "config_hash": "c" * 64, "config": {}, "versions": {"quantflow": "0", "openvino": "1"}, "plugins": [],
        "cpu": {"model": "cpu", "machine": "x86_64", "isa": {"avx2": True, "vnni": False}},
        "dataset": {"type": "coco_detection", "task": "detection", "fingerprint": "f" * 64, "images_evaluated": 4,
                    "samples_evaluated": 4, "sample": "images", "reference": "dataset annotations"},
        "metric": {"name": "coco_ap", "main": main, "summary_keys": keys, "higher_is_better": higher_is_better},
        "calibration": {"source": "the evaluation dataset", "subset_size": 2, "seed": 0, "ids": [1, 2],
                        "files": ["a.jpg", "b.jpg"], "overlap_with_evaluation": 2},
        "quantization": {"algorithm": "default", "fake_quantize_nodes": 7, "settings": {"preset": "performance"}},
        "results": results,
        "delta": {k: (int8[k] - fp32[k] if int8.get(k) is not None and fp32.get(k) is not None else None)
                  for k in int8},
        "fp32_from_cache": False, "timings_s": {"total": 1.0},
        **sections,
    })
