"""A command's result on stdout: tables that fit the terminal, or plain Markdown when stdout is a file or a pipe.

On a terminal a table wider than the screen is cut into several tables, each repeating the first column (the
variant), so no number is ever shortened to `0.…`. Piped output is the full table as Markdown, the same text
report.md holds, ready for a release note or `grep`.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from quantflow.report.markdown import markdown_table

BORDER = 3  # a column's padding and its border on the right, in the default box style


def results_console() -> Console:
    return Console(file=sys.stdout, highlight=False)


def _pack(widths: list[int], limit: int) -> list[list[int]]:
    """Columns 0.. in order into groups of total width <= `limit` (a wider column gets a group of its own)."""
    groups: list[list[int]] = [[]]
    used = 0
    for index, width in enumerate(widths):
        if groups[-1] and used + width > limit:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += width
    return groups


def column_groups(rows: list[list[str]], width: int, keys: int = 1) -> list[list[int]]:
    """Indices of the columns after the `keys` first ones, cut in order into as few groups as fit `width` beside
    the key columns, as evenly wide as can be (no table of one lone column at the end); a column is never split."""
    widths = [max(len(str(row[i])) for row in rows) + BORDER for i in range(len(rows[0]))]
    room = width - sum(widths[:keys]) - 1
    values = widths[keys:]
    count = len(_pack(values, room))
    low = max(values, default=0)
    while low < room and len(_pack(values, low)) > count:  # the narrowest limit that needs no more groups
        low += 1
    return [[keys + i for i in group] for group in _pack(values, low)]


def fitted_tables(rows: list[list[str]], width: int, keys: int = 1) -> list[Table]:
    """The table as one or more rich tables no wider than `width`, each repeating the `keys` first columns."""
    tables = []
    for group in column_groups(rows, width, keys):
        table = Table()
        for index in (*range(keys), *group):
            table.add_column(rows[0][index], justify="left" if index < keys else "right", no_wrap=True)
        for row in rows[1:]:
            table.add_row(*(row[i] for i in (*range(keys), *group)))
        tables.append(table)
    return tables


def show_table(rows: list[list[str]], title: str, console: Console | None = None, warnings: list[str] = (),
               keys: int = 1) -> None:
    """Rows (the first is the header; the `keys` first columns name a row) under `title`: fitted tables on a
    terminal, else one Markdown table; `warnings` below (as a Markdown list when piped)."""
    console = console or results_console()
    if console.is_terminal:
        console.print(title, style="bold", markup=False, highlight=False)
        for table in fitted_tables(rows, console.width, keys):
            console.print(table)
        for warning in warnings:
            console.print(f"warning: {warning}", markup=False, highlight=False)
    else:
        below = "".join(f"\n- warning: {warning}" for warning in warnings)
        console.print(f"{title}\n\n{markdown_table(rows)}\n{below}", markup=False, soft_wrap=True)


def show_line(text: str, console: Console | None = None) -> None:
    """One line of result (`ok ...`, `run folder: ...`), never wrapped or marked up."""
    (console or results_console()).print(text, markup=False, highlight=False, soft_wrap=True)
