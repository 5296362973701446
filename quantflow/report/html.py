"""report.html: one self-contained page a person can judge INT8 by.

Charts are inline SVG and images are data URIs, so the file opens anywhere, offline, and can be mailed alone.
It shows the accuracy table, per-class AP change and precision-recall curves (detection), per-keypoint error
(pose), the task's pictures (stereo: disparity and error maps), speed, the layers kept in floating point, and
provenance.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from quantflow.core.provenance import versions_text
from quantflow.report.markdown import accuracy_rows, breakdown_table, evaluated_text
from quantflow.report.model import Report

COLORS = {"FP32": "#4c72b0", "INT8": "#dd8452"}
OTHER_COLORS = ("#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.maps img{width:24%;margin:2px}.note{color:#555;font-size:13px}
svg text{font-size:11px;font-family:system-ui,sans-serif}
"""


def _color(name: str, index: int) -> str:
    return COLORS.get(name, OTHER_COLORS[index % len(OTHER_COLORS)])


def _table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def bar_chart(labels: list[str], series: dict[str, list[float | None]], unit: str, width: int = 720) -> str:
    """Horizontal grouped bars: one group per label, one bar per series; values may be negative (deltas)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not values:
        return ""
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0
    left, plot = 170, width - 260
    bar, gap = 12, 8
    group = bar * len(series) + gap
    height = group * len(labels) + 40
    zero = left + plot * (0 - low) / span
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
             f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height - 30}" stroke="#999"/>']
    for i, label in enumerate(labels):
        top = i * group
        parts.append(f'<text x="{left - 6}" y="{top + group / 2 + 3:.1f}" text-anchor="end">{escape(label)}</text>')
        for j, (name, vs) in enumerate(series.items()):
            value = vs[i]
            if value is None:
                continue
            x = left + plot * (min(value, 0) - low) / span
            w = plot * abs(value) / span
            y = top + j * bar
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{bar - 2}" '
                         f'fill="{_color(name, j)}"><title>{escape(name)}: {value:.4g} {escape(unit)}</title></rect>')
            parts.append(f'<text x="{x + max(w, 0.5) + 4:.1f}" y="{y + bar - 3}">{value:.4g}</text>')
    legend = "".join(f'<rect x="{left + 140 * j}" y="{height - 18}" width="10" height="10" fill="{_color(n, j)}"/>'
                     f'<text x="{left + 140 * j + 14}" y="{height - 9}">{escape(n)}</text>'
                     for j, n in enumerate(series))
    return "".join(parts) + legend + f'<text x="{width - 80}" y="{height - 9}">{escape(unit)}</text></svg>'


def line_chart(lines: dict[str, tuple[list[float], list[float]]], x_label: str, y_label: str,
               size: tuple[int, int] = (460, 340)) -> str:
    """Lines on a 0..1 × 0..1 plot (precision-recall curves)."""
    width, height = size
    left, bottom, plot_w, plot_h = 50, height - 40, width - 70, height - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
             f'<rect x="{left}" y="{bottom - plot_h}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{left + tick * plot_w:.1f}" y="{bottom + 14}" text-anchor="middle">{tick:g}</text>')
        parts.append(f'<text x="{left - 6}" y="{bottom - tick * plot_h + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for j, (name, (xs, ys)) in enumerate(lines.items()):
        points = " ".join(f"{left + x * plot_w:.1f},{bottom - y * plot_h:.1f}" for x, y in zip(xs, ys))
        dash = ' stroke-dasharray="5,3"' if "0.75" in name else ""
        color = _color(name.split()[0], j)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        row = bottom - 14 * (len(lines) - j)  # legend in the bottom-left corner, where PR curves never go
        parts.append(f'<line x1="{left + 10}" y1="{row}" x2="{left + 34}" y2="{row}" stroke="{color}" '
                     f'stroke-width="2"{dash}/><text x="{left + 40}" y="{row + 4}">{escape(name)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="12" y="{bottom - plot_h / 2:.1f}" transform="rotate(-90 12 {bottom - plot_h / 2:.1f})" '
                 f'text-anchor="middle">{escape(y_label)}</text></svg>')
    return "".join(parts)


def _breakdown(report: Report) -> list[str]:
    table = breakdown_table(report)
    if not table:
        return []
    part, value_name = report.results["FP32"].breakdown_label
    names = [name for name, *_ in table]
    if part == "class":
        return [f"<h2>{escape(value_name)} change per class (INT8 − FP32)</h2>",
                bar_chart(names, {"INT8 − FP32": [delta for *_, delta in table]}, value_name)]
    series = {"FP32": [fp32 for _, fp32, _, _ in table], "INT8": [int8 for _, _, int8, _ in table]}
    return [f"<h2>{escape(value_name)} per {escape(part)}</h2>", bar_chart(names, series, value_name)]


def _curves(report: Report) -> list[str]:
    lines = {f"{precision} {name}": (curve.recall, curve.precision)
             for precision in ("FP32", "INT8") for name, curve in report.results[precision].curves.items()
             if curve.recall}
    if not lines:
        return []
    return ["<h2>Precision-recall (class mean, all areas)</h2>", line_chart(lines, "recall", "precision")]


def _pictures(report: Report, folder: Path) -> list[str]:
    pictures = report.pictures
    if not pictures.entries:
        return []
    parts = [f"<h2>{escape(pictures.title)}</h2>", f"<p class='note'>{escape(pictures.note)}</p>"]
    for entry in pictures.entries:
        images = "".join(f'<img alt="{escape(kind)}" title="{escape(kind)}" src="data:image/png;base64,'
                         f'{base64.b64encode((folder / path).read_bytes()).decode()}">'
                         for kind, path in entry.images.items())
        parts.append(f"<p><b>{escape(entry.sample)}</b>: {escape(entry.caption)}</p><div class='maps'>{images}</div>")
    return parts


def _changes(report: Report) -> list[str]:
    changes = report.changes
    if not changes.total:
        return []
    rows = [["sample", "label", "FP32", "INT8"]] + [[c.sample, c.reference, c.FP32, c.INT8] for c in changes.entries]
    return [f"<h2>{escape(changes.title)}</h2>", f"<p class='note'>{escape(changes.note)}</p>", _table(rows)]


def _speed(report: Report) -> list[str]:
    timed = {name: r.speed for name, r in report.results.items() if r.speed}
    if not timed:
        return []
    names = list(timed)
    return ["<h2>Speed</h2>",
            bar_chart(names, {"latency (median)": [timed[n].latency_ms_median for n in names]}, "ms"),
            bar_chart(names, {"throughput": [timed[n].throughput_fps for n in names]}, "inferences/s")]


def _kept_in_float(report: Report) -> list[str]:
    quantization = report.quantization
    kept = [(op.name, op.type, "accuracy-aware search") for op in quantization.reverted]
    kept += [(op.name, op.type, "ignored_scope.auto") for op in quantization.auto_ignored]
    rows = [["operation", "type", "why"], *map(list, kept)] if kept else [["operation"], ["none"]]
    return ["<h2>Layers kept in floating point</h2>", _table(rows)]


def _provenance(report: Report) -> list[str]:
    versions = versions_text(report.versions)
    isa = ", ".join(k for k, v in report.cpu.isa.items() if v)
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings_s.items())
    items = [f"config sha256 {report.config_hash}", f"dataset fingerprint {report.dataset.fingerprint}",
             f"versions: {versions}", f"CPU: {report.cpu.model} ({isa})", f"timings: {timings}",
             f"created {report.created}"]
    return ["<h2>Provenance</h2><ul>", *(f"<li>{escape(i)}</li>" for i in items), "</ul>"]


def html_report(report: Report, folder: Path) -> str:
    """The page; `folder` is the run folder the pictures' paths are relative to."""
    title = f"{report.model.name}: FP32 vs INT8"
    dataset = report.dataset
    return "\n".join([
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='note'>Dataset {escape(dataset.type)}: {escape(evaluated_text(dataset))}; "
        f"reference: {escape(dataset.reference)}. Metric "
        f"{escape(report.metric.name)}, main {escape(report.metric.main)}.</p>",
        _table(accuracy_rows(report)),
        *_breakdown(report), *_curves(report), *_pictures(report, folder), *_changes(report),
        *_speed(report), *_kept_in_float(report),
        *_provenance(report),
        "</body></html>",
    ])
