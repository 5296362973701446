"""Progress bars and the terminal console, shared so every pass over data looks the same."""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


class _Rows:
    """A pass inside a live view: its bars are rows of that view, removed when the pass ends."""

    def __init__(self, view: Progress) -> None:
        self.view, self.tasks = view, []

    def add_task(self, description: str, **fields):
        task = self.view.add_task(description, **fields)
        self.tasks.append(task)
        return task

    def __getattr__(self, name: str):
        return getattr(self.view, name)


_live: list[Progress] = []  # the display that is up, if any: one at a time on a terminal


@contextlib.contextmanager
def progress_bar() -> Iterator[Progress]:
    """One bar per pass over data, on stderr so stdout stays clean for results. A pass that runs inside another
    display (an accuracy-aware search's) gets a row of that display instead, gone when the pass ends, so a search
    of fifty passes stays one view."""
    if _live:
        rows = _Rows(_live[0])
        try:
            yield rows
        finally:
            for task in rows.tasks:
                rows.view.remove_task(task)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        _live.append(bar)
        try:
            yield bar
        finally:
            _live.clear()


_STDOUT = threading.Lock()


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow what a library prints (pycocotools). sys.stdout is one for the whole process, so threads that
    silence it take turns."""
    with _STDOUT, contextlib.redirect_stdout(io.StringIO()):
        yield
