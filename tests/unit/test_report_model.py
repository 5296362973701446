"""The typed run report: its published JSON Schema stays in step with the model, a report validates against it
(checked by the independent `jsonschema` validator), and every section the views show renders from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from pydantic import ValidationError

from quantflow.report.html import html_report
from quantflow.report.markdown import markdown
from quantflow.report.model import Report, report_schema
from tests.conftest import ROOT, run_cli
from tests.unit.reports import SPEED, make_report, variant


def full_report(folder: Path) -> Report:
    """A report with every optional section: embedded and TFLite variants, a search, splits and pictures."""
    cv2.imwrite(str(folder / "p.png"), np.zeros((4, 4, 3), np.uint8))
    tflite = variant("tflite", "int8", {"AP": 0.48}, SPEED, 300_000,
                     contents={"kind": "int8", "weights": {"int8": 3}, "activations": {"int8": 5}})
    tflite["artifact"]["path"] = "tflite/m_int8.tflite"
    embedded = variant("embedded", "INT8", {"AP": 0.49}, SPEED, 760_000, external_preprocess_ms=0.4,
                       agreement={"keypoint shift px": 0.125})
    return make_report(
        ["AP"], "AP", {"AP": 0.5}, {"AP": 0.49},
        extra_results={"INT8 embedded": embedded, "TFLite int8": tflite},
        quantization={"algorithm": "accuracy_aware", "fake_quantize_nodes": 7, "settings": {"max_drop": 0.01},
                      "target": {"max_drop": 0.01, "drop_type": "absolute", "reached": True, "search_drop": 0.005,
                                 "stop_reason": "reached"},
                      "steps": [{"step": 0, "metric": 0.49, "drop": 0.01, "reverted_group": [], "elapsed_s": 1.0},
                                {"step": 1, "metric": 0.495, "drop": 0.005, "reverted_group": ["conv1"],
                                 "elapsed_s": 2.0}],
                      "reverted": [{"name": "conv1", "type": "Convolution"}],
                      "quantized_operations": {"before_search": 9, "after_search": 8}},
        splits={"search": {"images": 3, "FP32": 0.5, "INT8": 0.495, "delta": -0.005},
                "test": {"images": 1, "FP32": 0.6, "INT8": 0.58, "delta": -0.02}},
        tflite={"kept_in_float": {"conv9": 1.25}, "mixed_range_outputs": ["boxes"]},
        pictures={"title": "Disparity maps", "note": "what they show",
                  "entries": [{"sample": "pair0", "images": {"int8_error": "p.png"}, "caption": "mean 0.1 px"}]},
    )


def test_the_published_schema_is_the_models() -> None:
    """docs/report.schema.json is what `quantflow schema` prints: regenerate it when the model changes."""
    published = json.loads((ROOT / "docs" / "report.schema.json").read_text())
    assert published == report_schema()
    printed = run_cli("schema")
    assert printed.returncode == 0 and json.loads(printed.stdout) == published


def test_a_report_validates_against_its_schema_and_round_trips(tmp_path: Path) -> None:
    report = full_report(tmp_path)
    written = report.to_json()
    assert written["schema"] == "quantflow.run/2"
    jsonschema.validate(written, report_schema())
    (tmp_path / "report.json").write_text(json.dumps(written))
    assert Report.read(tmp_path / "report.json") == report
    assert set(report.of_kind("tflite")) == {"TFLite int8"} and set(report.of_kind("embedded")) == {"INT8 embedded"}


def test_unknown_keys_and_other_versions_are_refused(tmp_path: Path) -> None:
    written = full_report(tmp_path).to_json()
    with pytest.raises(ValidationError):
        Report.model_validate({**written, "surprise": 1})
    with pytest.raises(ValidationError):
        Report.model_validate({**written, "schema": "quantflow.run/1"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**written, "results": {"FP32": {"kind": "openvino"}}}, report_schema())


def test_markdown_shows_every_section(tmp_path: Path) -> None:
    text = markdown(full_report(tmp_path))
    for expected in ("| model | AP | Δ AP |", "| INT8 embedded |", "| TFLite int8 |", "## Embedded vs external",
                     "| keypoint shift px |", "0.125", "## Accuracy-aware search", "| test | 1 | 0.6000 | 0.5800 |",
                     "Kept in floating point: 1 of 9", "`conv1` (Convolution)", "## TFLite variants",
                     "| TFLite int8 | m_int8.tflite | int8 | int8 3 | int8 5 |", "`conv9` (1.25 steps)",
                     "mixing value ranges in one tensor: boxes", "## Disparity maps", "**pair0** (mean 0.1 px)",
                     "![int8_error](p.png)", "FakeQuantize nodes in the INT8 model: 7"):
        assert expected in text, expected


def test_html_embeds_pictures_and_draws_every_timed_variant(tmp_path: Path) -> None:
    page = html_report(full_report(tmp_path), tmp_path)
    assert page.count("data:image/png;base64,") == 1 and "<h3>pair0</h3>" in page and "mean 0.1 px" in page
    assert re.search(r'<figure><img src="data:image/png;base64,[^"]+" alt="pair0: INT8 error">'
                     r'<figcaption>INT8 error</figcaption></figure>', page)
    speed = page[page.index('<section id="speed">'):page.index("</section>", page.index('<section id="speed">'))]
    for name in ("FP32", "INT8 embedded", "TFLite int8"):  # the timed variants, in both charts; INT8 is untimed
        assert speed.count(f">{name}</text>") == 2, name
    assert ">INT8</text>" not in speed and "<td>conv1</td>" in page
    assert "src=\"p.png\"" not in page  # nothing is linked, so the page stands alone
