"""The accuracy table every report shows (report.md, report.html, the terminal): columns come from the metric's
own `summary_keys`, deltas from the main value, speed and size per row."""

from __future__ import annotations

import pytest

from quantflow.core.metric import METRICS
from quantflow.report.markdown import accuracy_rows, fmt_value, markdown_table
from tests.unit.reports import make_report


def test_columns_are_the_metrics_summary_keys_and_the_delta_is_int8_minus_fp32() -> None:
    report = make_report(["EPE", "D1-all"], "EPE", {"EPE": 0.9, "D1-all": 4.8, "extra": 1.0},
                         {"EPE": 0.95, "D1-all": 5.5, "extra": 2.0})
    header, fp32, int8 = accuracy_rows(report)
    assert header == ["model", "EPE", "D1-all", "Δ EPE", "latency ms", "FPS", "eval img/s", "size MB"]
    assert fp32 == ["FP32", "0.9000", "4.8000", "", "2.35", "612.3", "300.0", "1.49"]
    assert int8 == ["INT8", "0.9500", "5.5000", "+0.0500", "–", "–", "320.6", "0.75"]
    assert markdown_table([header, fp32]).splitlines()[1] == "|" + "---|" * len(header)


def test_an_undefined_value_is_a_dash() -> None:
    report = make_report(["AP"], "AP", {"AP": 0.5}, {"AP": None})
    assert accuracy_rows(report)[2][1:3] == ["–", "–"]
    assert fmt_value(0.12345) == "0.1235" and fmt_value(-0.0021, signed=True) == "-0.0021"


def test_a_change_too_small_for_four_decimals_is_not_shown_as_a_signed_zero() -> None:
    assert fmt_value(-0.00004, signed=True) == "-4.0e-05" and fmt_value(0.0, signed=True) == "0"
    assert fmt_value(0.00003, signed=True) == "+3.0e-05" and fmt_value(0.00006, signed=True) == "+0.0001"


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_declares_the_summary_keys_tables_show(name: str) -> None:
    metric = METRICS.get(name, "test")
    keys = metric.summary_keys
    assert keys and len(set(keys)) == len(keys) and metric.main in keys
