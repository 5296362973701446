"""The charts of report.html, drawn by matplotlib as inline SVG.

matplotlib is the one plotting library already common in this field, and it renders offline to static SVG with no
JavaScript runtime, so the page stays a single offline file (Vega-Lite would need its JS runtime, about 1 MB,
embedded in every page). Each function draws one kind of chart and returns one `<svg>` element. matplotlib is
imported inside them, so `quantflow --help` does not pay for it. Output is deterministic (a fixed hash salt per
chart, no date), so the same report gives the same page.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

LOSS, GAIN = "#c0392b", "#2e8b57"  # INT8 worse / better than FP32
COLORS = {"FP32": "#4c72b0", "INT8": "#dd8452"}
OTHER_COLORS = ("#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")
WIDTH = 7.5  # inches; SVG sizes are in pt, so the browser draws this 720 px wide
STYLE = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
         "axes.unicode_minus": True, "axes.axisbelow": True}


def color(name: str, index: int) -> str:
    """FP32 and INT8 keep their colours on every chart; other variants take the next free one."""
    return COLORS.get(name, OTHER_COLORS[index % len(OTHER_COLORS)])


def is_loss(delta: float | None, higher_is_better: bool) -> bool:
    """Whether INT8 − FP32 = `delta` makes INT8 worse, for a figure going the given way."""
    return delta is not None and (delta < 0 if higher_is_better else delta > 0)


def decimals(values: Sequence[float | None], digits: int) -> int:
    """The decimals that show the largest magnitude with `digits` significant digits: one choice for a whole chart,
    so labels line up (+0.0021, −0.0090) instead of mixing lengths."""
    largest = max((abs(v) for v in values if v), default=0.0)
    return 4 if not largest else max(0, digits - 1 - math.floor(math.log10(largest)))


def number(value: float, places: int, signed: bool = False) -> str:
    """`value` with `places` decimals and a true minus sign, as charts label their bars and ticks."""
    return (f"{value:+.{places}f}" if signed else f"{value:.{places}f}").replace("-", "−")


@contextmanager
def _drawing(name: str) -> Iterator[None]:
    """The page's chart style; `name` salts the SVG's ids so several charts can share one page."""
    import matplotlib

    with matplotlib.rc_context({**STYLE, "svg.hashsalt": name}):
        yield


def _svg(figure) -> str:
    """The figure as one `<svg>` element, without the XML prolog, DOCTYPE or metadata (no date, no URLs)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=dict.fromkeys(("Date", "Creator", "Format", "Type")))
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _bar_axes(rows: int, bars_per_row: int, labels: Sequence[str], axis_label: str, places: int, signed: bool):
    """A figure tall enough for its rows, with one labelled row per label, ticks formatted like the bar labels,
    and a zero line."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(WIDTH, 0.8 + rows * (0.14 + 0.12 * bars_per_row)), layout="constrained")
    axes = figure.add_subplot()
    axes.set_yticks(range(rows), labels)
    axes.set_ylim(rows - 0.5, -0.5)  # first label on top
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value, places, signed and value != 0)))
    axes.set_xlabel(axis_label)
    axes.grid(axis="x", color="#e4e4e4")
    axes.axvline(0, color="#333", linewidth=0.8)
    axes.margins(x=0.18)  # room for the value labels
    return figure, axes


def delta_bars(labels: Sequence[str], deltas: Sequence[float | None], axis_label: str, higher_is_better: bool,
               name: str) -> str:
    """INT8 − FP32 per part, in the loss colour where INT8 is worse and the gain colour where it is better; each
    bar's SVG group is `{name}-loss-{i}` or `{name}-gain-{i}` (`{name}-none-{i}` where a value is missing)."""
    from matplotlib.patches import Patch

    places = decimals(deltas, 2)
    with _drawing(name):
        figure, axes = _bar_axes(len(labels), 1, labels, axis_label, places, signed=True)
        kinds = ["none" if d is None else "loss" if is_loss(d, higher_is_better) else "gain" for d in deltas]
        bars = axes.barh(range(len(labels)), [d or 0.0 for d in deltas], height=0.6,
                         color=[LOSS if kind == "loss" else GAIN for kind in kinds])
        for index, (bar, kind) in enumerate(zip(bars, kinds)):
            bar.set_gid(f"{name}-{kind}-{index}")
        axes.bar_label(bars, [number(d, places, True) if d is not None else "n/a" for d in deltas], padding=3)
        axes.legend(handles=[Patch(color=LOSS, label="INT8 worse"), Patch(color=GAIN, label="INT8 better")],
                    loc="lower right", bbox_to_anchor=(1, 1), ncols=2, frameon=False)
        return _svg(figure)


def grouped_bars(labels: Sequence[str], series: dict[str, Sequence[float | None]], axis_label: str,
                 name: str) -> str:
    """One bar per series in each row (FP32 and INT8 side by side), with its value at the end; each bar's SVG
    group is `{name}-{series}-{row}`."""
    places = decimals([v for values in series.values() for v in values], 3)
    height = 0.8 / len(series)
    with _drawing(name):
        figure, axes = _bar_axes(len(labels), len(series), labels, axis_label, places, signed=False)
        for index, (series_name, values) in enumerate(series.items()):
            rows = [row - 0.4 + height * (index + 0.5) for row in range(len(labels))]
            bars = axes.barh(rows, [v or 0.0 for v in values], height=height * 0.9, label=series_name,
                             color=color(series_name, index))
            for row, bar in enumerate(bars):
                bar.set_gid(f"{name}-{series_name.replace(' ', '_')}-{row}")
            axes.bar_label(bars, [number(v, places) if v is not None else "n/a" for v in values], padding=3)
        axes.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=len(series), frameon=False)
        return _svg(figure)


def speed_bars(names: Sequence[str], values: Sequence[float], axis_label: str, name: str) -> str:
    """One bar per timed variant in that variant's colour; `axis_label` says which way is better."""
    places = decimals(values, 3)
    with _drawing(name):
        figure, axes = _bar_axes(len(names), 1, names, axis_label, places, signed=False)
        bars = axes.barh(range(len(names)), values, height=0.6, color=[color(n, i) for i, n in enumerate(names)])
        axes.bar_label(bars, [number(v, places) for v in values], padding=3)
        return _svg(figure)


def pr_curves(lines: dict[str, tuple[Sequence[float], Sequence[float]]], name: str) -> str:
    """Precision against recall on 0..1 axes: colour tells FP32 from INT8, the line style tells the IoUs apart;
    each line's SVG group is `{name}-curve-{i}`."""
    from matplotlib.figure import Figure

    styles: dict[str, str] = {}
    with _drawing(name):
        figure = Figure(figsize=(5.2, 4.0), layout="constrained")
        axes = figure.add_subplot()
        for index, (label, (recall, precision)) in enumerate(lines.items()):
            variant, _, curve = label.partition(" ")
            style = styles.setdefault(curve, ("-", "--", ":", "-.")[len(styles) % 4])
            (line,) = axes.plot(recall, precision, style, color=color(variant, index), linewidth=1.6, label=label)
            line.set_gid(f"{name}-curve-{index}")
        axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        axes.grid(color="#e4e4e4")
        axes.legend(loc="lower left")
        return _svg(figure)


def color_bar(colormap: str, low: float, high: float, label: str, name: str) -> str:
    """The colour scale of a colour-mapped picture, as a thin strip to put under it; the arrow at the top end says
    that larger values take the last colour."""
    import matplotlib
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    with _drawing(name):
        figure = Figure(figsize=(3.0, 0.62), layout="constrained")
        bar = ColorbarBase(figure.add_subplot(), cmap=matplotlib.colormaps[colormap], norm=Normalize(low, high),
                           orientation="horizontal", extend="max")
        bar.set_label(label)
        return _svg(figure)
