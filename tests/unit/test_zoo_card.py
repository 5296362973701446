"""Zoo cards and the index: every artifact (OpenVINO precisions, TFLite variants) is one row with its own
measured value, its change against FP32, size and speed; the card says how the entry was made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantflow.core.output_safety import ZOO_SCHEMA, is_zoo
from quantflow.zoo.card import model_card, precision_rows, write_index

SPEED = {"latency_ms_median": 2.0, "throughput_fps": 500.0}


def manifest(name: str = "ssd", higher_is_better: bool = True) -> dict:
    return {
        "name": name, "task": "detection", "created": "2026-12-01T00:00:00+00:00", "config_hash": "c" * 64,
        "dataset_fingerprint": "f" * 64, "versions": {"quantflow": "0", "openvino": "1"}, "cpu": {"model": "cpu"},
        "config": {"model": {"source": "/models/ssd.onnx", "inputs": {}},
                   "dataset": {"type": "coco_detection"},
                   "preprocessing": {"steps": [{"type": "resize", "size": [160, 160]}], "embed": False}},
        "metric": {"name": "coco_ap", "main": "AP", "higher_is_better": higher_is_better},
        "quantization": {"algorithm": "default", "settings": {"preset": "performance"}, "fake_quantize_nodes": 42,
                         "reverted": [{"name": "conv7"}], "auto_ignored": None},
        "calibration": {"subset_size": 300, "source": "calib", "seed": 0},
        "precisions": {"FP32": {"path": "FP32/ssd.xml", "bytes": 4_000_000, "metrics": {"AP": 0.5}, "speed": SPEED},
                       "FP16-INT8": {"path": "FP16-INT8/ssd.xml", "bytes": 1_000_000, "metrics": {"AP": 0.49},
                                     "speed": {}}},
        "tflite": {"int8": {"bytes": 900_000, "metrics": {"AP": 0.47}, "speed": None}},
        "speed_method": {"enabled": True, "warmup": 10, "latency_runs": 100, "throughput_seconds": 3.0,
                         "device": "CPU", "timed_alone": True},
        "verify": {"ids": [1, 2, 3], "tolerance": 1e-6},
    }


def test_rows_carry_each_artifacts_value_delta_and_size() -> None:
    rows = precision_rows(manifest())
    assert [r["precision"] for r in rows] == ["FP32", "FP16-INT8", "tflite int8"]
    assert [r["delta"] for r in rows] == [0.0, pytest.approx(-0.01), pytest.approx(-0.03)]
    assert [r["bytes"] for r in rows] == [4_000_000, 1_000_000, 900_000]
    assert (rows[0]["latency_ms"], rows[1]["latency_ms"], rows[2]["throughput_fps"]) == (2.0, None, None)
    assert {r["worse_if_delta"] for r in rows} == {"negative"}
    assert precision_rows(manifest(higher_is_better=False))[0]["worse_if_delta"] == "positive"


def test_card_says_what_was_measured_and_how_it_was_made() -> None:
    card = model_card(manifest())
    for expected in ("# ssd", "Task: detection. Source: `ssd.onnx`", "| FP16-INT8 | 0.4900 | -0.0100 | 1.00 | – | – |",
                     "| tflite int8 | 0.4700 | -0.0300 | 0.90 |", "| FP32 | 0.5000 | 0 | 4.00 | 2.00 | 500.0 |",
                     "42 FakeQuantize nodes", "kept in floating point: conv7", "300 samples from `calib`",
                     "re-evaluates 3 samples per precision", "median of 100 runs after 10 warm-up",
                     "no other entry of the build ran while a model was timed"):
        assert expected in card, expected
    assert "`*-embedded`" not in card  # the note on embedded models only where there are some


def test_index_lists_every_entry_and_marks_the_folder_as_a_zoo(tmp_path: Path) -> None:
    for name in ("a", "b"):
        entry = tmp_path / "detection" / name
        entry.mkdir(parents=True)
        (entry / "manifest.json").write_text(json.dumps(manifest(name)))
    rows = write_index(tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["schema"] == ZOO_SCHEMA and index["rows"] == rows and len(rows) == 6
    assert {r["path"] for r in rows} == {"detection/a", "detection/b"}
    assert "[a](detection/a/README.md)" in (tmp_path / "index.md").read_text()
    assert is_zoo(tmp_path)
