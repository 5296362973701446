"""What a person sees of a command: results on stdout, cut into tables that fit the terminal without shortening a
number, Markdown when piped, JSON with --json; progress and logs on stderr; -v anywhere; command-line paths
relative to the working directory."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from quantflow.report.markdown import accuracy_rows
from quantflow.report.summary import run_summary
from quantflow.report.terminal import column_groups, show_table
from tests.conftest import ROOT, run_cli
from tests.unit.reports import make_report

COCO = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"]


def coco_rows() -> list[list[str]]:
    metrics = dict(zip(COCO, (0.5754, 0.8311, 0.68, 0.3848, 0.6618, 0.6286, 0.688)))
    tflite = {f"TFLite {v}": {"kind": "tflite", "precision": v, "metrics": metrics, "results": 10,
                              "images_per_second": 1234.5, "speed": None, "artifact": None}
              for v in ("fp32", "dynamic", "float16", "int8")}
    report = make_report(COCO, "AP", metrics, {k: v - 0.0048 for k, v in metrics.items()}, extra_results=tflite)
    return accuracy_rows(report)


def printed(rows: list[list[str]], width: int, terminal: bool, keys: int = 1) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    show_table(rows, "ssd — coco_ap", console, keys=keys)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [60, 61, 72, 80, 100, 120, 200])
def test_tables_fit_the_terminal_and_show_every_number_whole(width: int) -> None:
    rows = coco_rows()
    text = printed(rows, width, terminal=True)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    shown = {cell.strip() for line in text.splitlines() for cell in re.split("[│┃]", line)}
    assert {cell for row in rows for cell in row if cell} <= shown  # every header and value, whole


def test_groups_are_few_and_even_and_keep_the_order() -> None:
    rows = coco_rows()
    groups = column_groups(rows, 80)
    assert [i for group in groups for i in group] == list(range(1, len(rows[0])))
    column = [max(len(r[i]) for r in rows) + 3 for i in range(len(rows[0]))]
    room = 80 - column[0] - 1
    assert not any(sum(column[1:k]) <= room and sum(column[k:]) <= room for k in range(2, len(column)))
    widths = [sum(column[i] for i in group) for group in groups]
    assert len(groups) == 3 and max(widths) - min(widths) <= 12  # two tables cannot hold it; no lone last column
    assert column_groups(rows, 400) == [list(range(1, len(rows[0])))]


def test_piped_output_is_one_markdown_table_at_full_width() -> None:
    rows = coco_rows()
    lines = printed(rows, 40, terminal=False).splitlines()
    assert lines[0] == "ssd — coco_ap" and lines[2] == "| " + " | ".join(rows[0]) + " |"
    assert lines[4:4 + len(rows) - 1] == ["| " + " | ".join(row) + " |" for row in rows[1:]]


def test_json_summary_carries_every_variant_and_its_change() -> None:
    fp32, int8 = {"AP": 0.5, "AP50": 0.8}, {"AP": 0.49, "AP50": 0.81}
    summary = run_summary(make_report(["AP", "AP50"], "AP", fp32, int8))
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["results"]["INT8"]["delta"] == pytest.approx({"AP": -0.01, "AP50": 0.01})
    assert summary["results"]["FP32"]["latency_ms_median"] == 2.345 and summary["metric"]["main"] == "AP"


def test_check_prints_its_result_on_stdout_and_json_with_flag(tmp_path: Path) -> None:
    config = str(ROOT / "configs" / "ssd.yml")
    plain = run_cli("check", "--config", config)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith(f"ok {config}: model ssd-shapes") and "ok " not in plain.stderr
    assert "reading every sample" in plain.stderr  # progress
    answer = json.loads(run_cli("check", "--config", config, "--json", "-v").stdout)  # -v after the command
    assert answer["ok"] is True and answer["evaluation_samples"] == 200 and answer["input_dtype"] == "float32"


def test_set_paths_are_relative_to_the_working_directory(tmp_path: Path) -> None:
    """`--set output=runs/x` lands under the working directory; the config's own paths stay relative to it."""
    from quantflow.config import load_config

    before = Path.cwd()
    try:
        import os

        os.chdir(tmp_path)
        (tmp_path / "calib").mkdir()
        config = load_config(ROOT / "configs" / "ssd.yml", ["output=runs/try2", "calibration.images=calib"])
    finally:
        os.chdir(before)
    assert config.output == tmp_path / "runs" / "try2"
    assert config.model.source == ROOT / "datasets" / "shapes" / "model" / "saved_model"
    assert config.calibration.images == tmp_path / "calib"
