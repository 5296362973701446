"""Views of a `compare.Comparison`: its rows as text for `report.terminal.show_table` (formatted as the run
report's own accuracy table is: four decimals, a dash where nothing was measured) and plain JSON."""

from __future__ import annotations

from typing import Any

from quantflow.report.compare import BEST, Comparison
from quantflow.report.markdown import fmt_value

FORMATS = {"latency ms": ".2f", "FPS": ".1f", "size MB": ".2f"}  # as markdown.accuracy_rows shows them


def _text(column: str, value: Any, delta: str) -> str:
    """One cell: booleans as yes / no, speed and size as the report's table, metrics with four decimals."""
    if column == BEST:
        return "best" if value else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column in FORMATS and value is not None:
        return format(value, FORMATS[column])
    if value is None or isinstance(value, float):
        return fmt_value(value, signed=column == delta)
    return str(value)


def text_rows(c: Comparison) -> list[list[str]]:
    """The header and every row as the tables show them (four decimals, a dash where nothing was measured)."""
    return [c.columns] + [[_text(column, row[column], c.delta) for column in c.columns] for row in c.rows]


def comparison_title(c: Comparison) -> str:
    """The shared metric and its direction, which decides the best row."""
    better = "higher" if c.metric.higher_is_better else "lower"
    return f"{c.metric.name}: {c.metric.main} ({better} is better), best INT8 marked"


def as_json(c: Comparison) -> dict:
    """Plain JSON types: the metric, the columns, rows of values (None where nothing was measured), the notes."""
    return {"metric": c.metric.model_dump(mode="json"), "columns": list(c.columns),
            "rows": [dict(row) for row in c.rows], "notes": list(c.notes)}
