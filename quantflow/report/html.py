"""report.html: one self-contained page a person can judge INT8 by.

This module gathers the view data and fills the Jinja2 template `templates/report.html.j2` (autoescaped). The
page carries every section of report.md, with its text and tables from the same helpers in `markdown`, plus
charts (inline SVG from `charts`) and the task's pictures as data URIs, so the file opens anywhere, offline, and
can be mailed alone.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from quantflow.report import charts
from quantflow.report import markdown as md
from quantflow.report.model import Picture, Report

Cells = list[list[tuple[str, str]]]  # rows of (text, CSS class)


@cache
def _template():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(loader=PackageLoader("quantflow.report", "templates"), autoescape=True,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["inline"] = inline
    return environment.get_template("report.html.j2")


def inline(text: str) -> Markup:
    """report.md's inline marks in HTML: `code` and **bold**; everything else escaped."""
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text)))
    return Markup(re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", html))


NUMBER = re.compile(r"^([+−-]?\d[\d.]*(e[+-]\d+)?|–|)$")  # a figure (4 decimals or 1e-5 style), a dash, nothing


def _cells(rows: list[list[str]], marks: dict[tuple[int, int], str] | None = None) -> Cells:
    """A text table (header first) with CSS classes: `num` for columns of figures (aligned right), and the
    (row, column) classes `marks` gives."""
    marks = marks or {}
    figures = [all(NUMBER.match(row[j]) for row in rows[1:]) for j in range(len(rows[0]))]
    return [[(text, " ".join(filter(None, ("num" if figures[j] else "", marks.get((i, j), "")))))
             for j, text in enumerate(row)] for i, row in enumerate(rows)]


def _mark(delta: float | None, higher_is_better: bool) -> str:
    """loss or gain for a change the tables show (4 decimals), nothing for one they show as zero."""
    if delta is None or round(delta, 4) == 0:
        return ""
    return "loss" if charts.is_loss(delta, higher_is_better) else "gain"


def _accuracy(report: Report) -> dict[str, Cells]:
    """The accuracy table with the main metric's change coloured, and every summary figure's INT8 − FP32."""
    main, better = report.metric.main, report.metric.higher_is_better
    reference, column = report.results["FP32"].metrics[main], 1 + len(report.metric.summary_keys)
    changes = [None if r.metrics[main] is None or reference is None else r.metrics[main] - reference
               for r in report.results.values()]
    marks = {(i, column): _mark(change, better) for i, change in enumerate(changes, 1)}
    keys = list(report.delta)
    deltas = [["", *keys], ["INT8 − FP32", *(md.fmt_value(report.delta[k], True) for k in keys)]]
    main_mark = {(1, keys.index(main) + 1): _mark(report.delta[main], better)} if main in keys else {}
    return {"table": _cells(md.accuracy_rows(report), marks), "deltas": _cells(deltas, main_mark)}


def _breakdown(report: Report) -> dict[str, Any] | None:
    """Per class: INT8 − FP32 in loss and gain colours; other parts (pose keypoints) as FP32 and INT8 side by
    side. The table marks each change a loss or a gain the way the breakdown values go (keypoint errors: lower is
    better, under a higher-is-better AP)."""
    table = md.breakdown_table(report)
    if not table:
        return None
    part, value_name = report.results["FP32"].breakdown_label
    direction = report.results["FP32"].breakdown_higher_is_better
    names, better = [name for name, *_ in table], report.metric.higher_is_better if direction is None else direction
    if part == "class" and not any(deltas := [d for *_, d in table]):
        chart, caption = None, f"INT8 − FP32 is 0 for every {part}."
    elif part == "class":
        axis = f"{value_name} change, INT8 − FP32 ({'higher' if better else 'lower'} is better)"
        chart = charts.delta_bars(names, deltas, axis, better, "breakdown")
        caption = f"{value_name} change per class (INT8 − FP32)"
    else:
        series = {"FP32": [fp32 for _, fp32, _, _ in table], "INT8": [int8 for _, _, int8, _ in table]}
        chart, caption = charts.grouped_bars(names, series, value_name, "breakdown"), f"{value_name} per {part}"
    marks = {(i, 3): _mark(delta, better) for i, (*_, delta) in enumerate(table, 1)}
    return {"title": md.breakdown_title(report), "chart": Markup(chart) if chart else None, "caption": caption,
            "table": _cells(md.breakdown_rows(report), marks)}


def _curves(report: Report) -> Markup | None:
    lines = {f"{precision} {name}": (curve.recall, curve.precision)
             for precision in ("FP32", "INT8") for name, curve in report.results[precision].curves.items()
             if curve.recall}
    return Markup(charts.pr_curves(lines, "pr")) if lines else None


def kind_text(kind: str) -> str:
    """A picture's kind as a caption: int8_minus_fp32 → INT8 − FP32."""
    words = {"fp32": "FP32", "int8": "INT8", "minus": "−"}
    return " ".join(words.get(word, word) for word in kind.split("_"))


def _picture(entry: Picture, number: int, folder: Path) -> dict[str, Any]:
    images = []
    for kind, path in entry.images.items():
        scale = entry.scales.get(kind)
        images.append({
            "caption": kind_text(kind),
            "src": "data:image/png;base64," + base64.b64encode((folder / path).read_bytes()).decode(),
            "scale": Markup(charts.color_bar(scale.colormap, scale.low, scale.high, scale.label,
                                             f"scale-{number}-{kind}")) if scale else None})
    return {"sample": entry.sample, "caption": entry.caption, "images": images}


def _speed(report: Report) -> dict[str, Any] | None:
    timed = {name: r.speed for name, r in report.results.items() if r.speed}
    if not timed:
        return None
    names = list(timed)
    return {"latency": Markup(charts.speed_bars(names, [timed[n].latency_ms_median for n in names],
                                                "latency, ms (median) — lower is better", "latency")),
            "throughput": Markup(charts.speed_bars(names, [timed[n].throughput_fps for n in names],
                                                   "throughput, inferences/s — higher is better", "throughput"))}


def ids_text(ids: list[int], shown: int = 8) -> str:
    """The calibration ids as runs ('1–300', '3, 7–9, 12, …'), cut after `shown` runs."""
    runs: list[list[int]] = []
    for sample_id in sorted(ids):
        if runs and sample_id == runs[-1][1] + 1:
            runs[-1][1] = sample_id
        else:
            runs.append([sample_id, sample_id])
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs[:shown])
    return f"{text}, … ({len(ids)} ids)" if len(runs) > shown else text


def _kept_in_float(report: Report) -> Cells:
    quantization = report.quantization
    kept = [[op.name, op.type, "accuracy-aware search"] for op in quantization.reverted]
    kept += [[op.name, op.type, "ignored_scope.auto"] for op in quantization.auto_ignored]
    return _cells([["operation", "type", "why"], *kept] if kept else [["operation"], ["none"]])


def _search(report: Report) -> dict[str, Any] | None:
    quantization = report.quantization
    if not quantization.target:
        return None
    return {"target": md.target_text(report), "splits": _cells(md.split_rows(report)) if report.splits else None,
            "summary": md.search_text(report) if quantization.search else None,
            "steps": _cells(md.step_rows(quantization.steps, report.metric.main)),
            "reverted": md.reverted_text(report), "operations": md.reverted_items(report)}


def html_report(report: Report, folder: Path) -> str:
    """The page; `folder` is the run folder the pictures' paths are relative to."""
    embedded, tflite = report.of_kind("embedded"), report.of_kind("tflite")
    return _template().render(
        report=report, title=f"{report.model.name}: FP32 vs INT8", evaluated=md.evaluated_text(report.dataset),
        colors={"loss": charts.LOSS, "gain": charts.GAIN},
        accuracy=_accuracy(report), breakdown=_breakdown(report), curves=_curves(report),
        pictures=[_picture(entry, i, folder) for i, entry in enumerate(report.pictures.entries)],
        changes=_cells(md.change_rows(report)), speed=_speed(report), speed_note=md.speed_note(report),
        quantization=[*md.quantization_items(report), f"calibration ids: {ids_text(report.calibration.ids)}"],
        kept_in_float=_kept_in_float(report), search=_search(report),
        embedded=_cells(md.embedded_rows(report)) if embedded else None, embedded_note=md.EMBEDDED_NOTE,
        tflite=_cells(md.tflite_rows(report)) if tflite else None, tflite_notes=md.tflite_notes(report),
        provenance=md.provenance_items(report))
