"""`compare`: run folders side by side. Rows and deltas are checked against figures computed here from the
report.json dicts written; the best INT8 row follows the metric's direction; a folder that is not a finished run
and runs of different metrics are refused with one line naming the folder; different data is a warning."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from quantflow.core.errors import UserInputError
from quantflow.core.output_safety import RUN_SCHEMA
from quantflow.report.compare import compare_reports
from quantflow.report.compare_views import as_json, comparison_title, text_rows
from quantflow.report.model import Report
from quantflow.report.terminal import show_table
from tests.conftest import ROOT
from tests.unit.reports import SPEED, make_report, variant
from tests.unit.test_report_model import full_report

OTHER_DATA = {"type": "coco_detection", "task": "detection", "fingerprint": "e" * 64, "images_evaluated": 5,
              "samples_evaluated": 5, "sample": "images", "reference": "dataset annotations"}
REAL_RUNS = sorted(p.parent for p in (ROOT / "runs").glob("*/report.json")
                   if json.loads(p.read_text()).get("schema") == RUN_SCHEMA)


def write_run(folder: Path, report: Report | dict) -> Path:
    """A run folder as quantflow leaves it, as far as compare reads it: its report.json."""
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report if isinstance(report, dict) else report.to_json()))
    return folder


def ap_run(folder: Path, fp32: float, int8: float, higher_is_better: bool = True, **sections) -> Path:
    return write_run(folder, make_report(["AP"], "AP", {"AP": fp32}, {"AP": int8}, higher_is_better, **sections))


def test_rows_and_deltas_are_each_runs_own(tmp_path: Path) -> None:
    """Every variant of every run is a row; Δ is against that run's FP32; speed, size, FakeQuantize, recipe."""
    folders = [write_run(tmp_path / "default", make_report(["AP", "AP50"], "AP", {"AP": 0.5, "AP50": 0.8},
                                                           {"AP": 0.47, "AP50": 0.79})),
               write_run(tmp_path / "aware", full_report(tmp_path))]
    comparison = compare_reports(folders)
    assert comparison.columns == ["run", "variant", "AP", "AP50", "Δ AP", "latency ms", "FPS", "size MB",
                                  "FakeQuantize", "recipe", "target met", "quantflow", "best"]
    expected = []
    for folder in folders:
        written = json.loads((folder / "report.json").read_text())
        reference, target = written["results"]["FP32"]["metrics"]["AP"], written["quantization"].get("target")
        recipe = {"default": "default, performance, 2 samples",
                  "aware": "accuracy_aware, 2 samples, max drop 0.01 absolute"}[folder.name]
        for name, result in written["results"].items():
            speed = result["speed"]
            expected.append({
                "run": folder.name, "variant": name, "AP": result["metrics"]["AP"],
                "AP50": result["metrics"].get("AP50"),
                "Δ AP": None if name == "FP32" else result["metrics"]["AP"] - reference,
                "latency ms": speed and speed["latency_ms_median"], "FPS": speed and speed["throughput_fps"],
                "size MB": result["artifact"]["bytes"] / 1e6,
                "FakeQuantize": 7 if name in ("INT8", "INT8 embedded") else None, "recipe": recipe,
                "target met": target and target["reached"], "quantflow": "0",
                "best": name in ("INT8", "INT8 embedded") and folder.name == "aware"})
    assert comparison.rows == expected
    assert comparison.notes == []


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_the_best_int8_row_follows_the_metrics_direction(tmp_path: Path, higher_is_better: bool) -> None:
    """Only INT8 rows compete (not FP32, not TFLite's int8-weights-only dynamic variant), across all runs."""
    dynamic = {"TFLite dynamic": variant("tflite", "dynamic", {"AP": 0.9}, SPEED, 1)}
    folders = [ap_run(tmp_path / "a", 0.9, 0.40, higher_is_better, extra_results=dynamic),
               ap_run(tmp_path / "b", 0.9, 0.60, higher_is_better),
               ap_run(tmp_path / "c", 0.1, 0.50, higher_is_better)]
    rows = compare_reports(folders).rows
    best = [(row["run"], row["variant"]) for row in rows if row["best"]]
    assert best == [("b", "INT8")] if higher_is_better else [("a", "INT8")]


def test_one_run_is_a_comparison_too(tmp_path: Path) -> None:
    rows = compare_reports([ap_run(tmp_path / "only", 0.5, 0.49)]).rows
    assert [(row["variant"], row["best"]) for row in rows] == [("FP32", False), ("INT8", True)]


@pytest.mark.parametrize("content, fragment", [
    (None, "no report.json"),
    ("{not json", "not a quantflow run report"),
    ({"images": [], "annotations": []}, "not a quantflow run report"),
    ({"schema": "quantflow.run/1", "config_hash": "c"}, f"is not a {RUN_SCHEMA} report"),
])
def test_a_folder_that_is_not_a_finished_run_is_refused(tmp_path: Path, content, fragment: str) -> None:
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    if content is not None:
        (folder / "report.json").write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(UserInputError) as refused:
        compare_reports([ap_run(tmp_path / "run", 0.5, 0.49), folder])
    message = str(refused.value)
    assert message.startswith(f"{folder}: ") and fragment in message and "\n" not in message
    assert "expected a finished quantflow run folder" in message or "run it again" in message


def test_a_missing_folder_and_a_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for path, fragment in ((tmp_path / "missing", "no such folder"), (tmp_path / "file", "is a file")):
        with pytest.raises(UserInputError, match=f"^{path}: {fragment}; expected a finished quantflow run folder$"):
            compare_reports([path])


def test_runs_of_different_metrics_are_refused(tmp_path: Path) -> None:
    miou = make_report(["mIoU"], "mIoU", {"mIoU": 0.6}, {"mIoU": 0.59}, metric={
        "name": "mean_iou", "main": "mIoU", "summary_keys": ["mIoU"], "higher_is_better": True})
    other = write_run(tmp_path / "segmentation", miou)
    with pytest.raises(UserInputError, match=f"^{other}: metric mean_iou \\(main mIoU\\) differs from detection's "
                                             "coco_ap \\(main AP\\)"):
        compare_reports([ap_run(tmp_path / "detection", 0.5, 0.49), other])


def test_the_same_folder_twice_is_refused_and_equal_names_are_told_apart(tmp_path: Path) -> None:
    first, second = ap_run(tmp_path / "x" / "run", 0.5, 0.49), ap_run(tmp_path / "y" / "run", 0.5, 0.48)
    assert [row["run"] for row in compare_reports([first, second]).rows] == ["x/run", "x/run", "y/run", "y/run"]
    with pytest.raises(UserInputError, match="the same run folder as"):
        compare_reports([first, tmp_path / "x" / ".." / "x" / "run"])


def test_runs_on_different_data_are_compared_with_a_warning(tmp_path: Path) -> None:
    folders = [ap_run(tmp_path / "old", 0.5, 0.49), ap_run(tmp_path / "new", 0.5, 0.48, dataset=OTHER_DATA)]
    notes = compare_reports(folders).notes
    assert len(notes) == 2
    assert "different data" in notes[0] and f"old {'f' * 12}" in notes[0] and f"new {'e' * 12}" in notes[0]
    assert "old 4 images" in notes[1] and "new 5 images" in notes[1]


def as_markdown(comparison) -> str:
    """What `quantflow compare` prints when stdout is not a terminal."""
    console = Console(file=io.StringIO(), width=80)
    show_table(text_rows(comparison), comparison_title(comparison), console, comparison.notes)
    return console.file.getvalue()


def test_markdown_terminal_and_json_show_every_row(tmp_path: Path) -> None:
    folders = [ap_run(tmp_path / "a", 0.5, 0.49), ap_run(tmp_path / "b", 0.5, 0.48, dataset=OTHER_DATA)]
    comparison = compare_reports(folders)
    text = as_markdown(comparison)
    lines = text.splitlines()
    assert lines[0] == "coco_ap: AP (higher is better), best INT8 marked"
    assert "| run | variant | AP | Δ AP | latency ms | FPS | size MB | FakeQuantize |" in text
    for cells in text_rows(comparison)[1:]:
        assert "| " + " | ".join(cells) + " |" in lines
    assert "| a | INT8 | 0.4900 | -0.0100 | – | – | 0.75 | 7 | default, performance, 2 samples | – | 0 | best |" \
        in lines
    assert "| a | FP32 | 0.5000 | – | 2.35 | 612.3 | 1.49 | – |" in text
    assert [line for line in lines if line.startswith("- warning: ")] == [f"- warning: {note}"
                                                                         for note in comparison.notes]
    terminal = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    show_table(text_rows(comparison), comparison_title(comparison), terminal, comparison.notes)
    shown = terminal.file.getvalue()
    assert max(map(len, shown.splitlines())) <= 80 and "…" not in shown  # cut into tables, never into numbers
    assert "0.4800" in shown and "default, performance, 2 samples" in shown and "warning: " in shown
    written = as_json(comparison)
    assert json.loads(json.dumps(written, allow_nan=False)) == written
    assert written["rows"][1]["Δ AP"] == pytest.approx(-0.01) and written["metric"]["higher_is_better"] is True


@pytest.mark.skipif(not REAL_RUNS, reason="no run folders under runs/ (they are not committed)")
@pytest.mark.parametrize("folder", REAL_RUNS, ids=[p.name for p in REAL_RUNS])
def test_real_run_folders(folder: Path) -> None:
    """A real run alone, and with every other real run of its metric: a row per variant, its own figures."""
    report = Report.read(folder / "report.json")
    same_metric = [p for p in REAL_RUNS if Report.read(p / "report.json").metric == report.metric]
    comparison = compare_reports(same_metric)
    rows = [row for row in comparison.rows if row["run"] == folder.name]
    assert [row["variant"] for row in rows] == list(report.results)
    main, reference = report.metric.main, report.results["FP32"].metrics[report.metric.main]
    for row in rows:
        assert row[main] == report.results[row["variant"]].metrics[main]
        if row["variant"] != "FP32":
            assert row[f"Δ {main}"] == pytest.approx(row[main] - reference, abs=1e-15)
    assert sum(row["best"] for row in comparison.rows) >= 1
    assert len(as_markdown(comparison).splitlines()) >= len(comparison.rows) + 4
    json.dumps(as_json(comparison), allow_nan=False)
