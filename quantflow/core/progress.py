"""What a person watches while quantflow works: progress bars, step spinners and log lines, all on stderr, so
stdout carries only a command's result (`quantflow quantize ... > result.txt`)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
TO_PARENT = "QUANTFLOW_PROGRESS_TO_PARENT"  # set in a worker process whose parent shows its progress
PROGRESS_LINE = "quantflow-progress: "


def tell_parent(text: str) -> None:
    """In a worker process started with TO_PARENT set: one stderr line the parent shows as this worker's state."""
    if os.environ.get(TO_PARENT):
        print(PROGRESS_LINE + text, file=sys.stderr, flush=True)


class _Count(ProgressColumn):
    """`done/total` for a pass over data; nothing for a step, whose size is unknown."""

    def render(self, task: Task) -> Text:
        if task.fields.get("step"):
            return Text("")
        count = f"{int(task.completed)}/{int(task.total)}" if task.total is not None else ""
        return Text(count, style="progress.download")


class _Rows:
    """The rows one pass or step adds to the live view; what they say is also told to a parent process."""

    def __init__(self, view: Progress) -> None:
        self.view, self.tasks = view, []

    def add_task(self, description: str, **fields):
        task = self.view.add_task(description, **fields)
        self.tasks.append(task)
        tell_parent(description)
        return task

    def update(self, task, **fields) -> None:
        self.view.update(task, **fields)
        if "description" in fields:
            tell_parent(fields["description"])

    def __getattr__(self, name: str):
        return getattr(self.view, name)


_live: list[Progress] = []  # the display that is up, if any: one at a time on a terminal


@contextlib.contextmanager
def progress_bar() -> Iterator[_Rows]:
    """One view per pass over data or step. A pass that runs inside another display (an accuracy-aware search's,
    a step's) gets a row of that display instead, gone when the pass ends, so a search of fifty passes stays one
    view. Library output is not redirected into the view: quantflow silences it (`quiet_stdout`), and swapping
    sys.stdout from two places at once loses one of them."""
    if _live:
        rows = _Rows(_live[0])
        try:
            yield rows
        finally:
            for task in rows.tasks:
                rows.view.remove_task(task)
        return
    with Progress(SpinnerColumn(finished_text="[green]✓[/green]"), TextColumn("{task.description}"), BarColumn(24),
                  _Count(), TimeElapsedColumn(), console=console, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        _live.append(bar)
        try:
            yield _Rows(bar)
        finally:
            _live.clear()


@contextlib.contextmanager
def step(description: str) -> Iterator[Callable[[str], None]]:
    """A step of unknown size (a conversion, a quantization, a speed measurement): a spinner and the elapsed time
    while it runs, a tick when it is done. Yields a function that rewrites the line while it runs (`converting
    int8, 3 of 4`); the done line says `description` again."""
    with progress_bar() as view:
        task = view.add_task(description, total=None, step=True)
        yield lambda text: view.update(task, description=text)
        view.update(task, description=description, total=1, completed=1)


_STDOUT = threading.Lock()


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow what a library prints (pycocotools). sys.stdout is one for the whole process, so threads that
    silence it take turns."""
    with _STDOUT, contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Swallow what native code writes to the process's stdout and stderr (LiteRT's "Created TensorFlow Lite
    XNNPACK delegate" banner), unless debug logging (`-v`) asks for everything. The console's lock is held
    meanwhile, so a live view never draws into the void (it would then redraw over the lines above it)."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    with console._lock:  # rich writes under this lock; holding it pauses the live view's refresh thread
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (null, *saved):
                os.close(fd)
