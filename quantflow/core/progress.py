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


def progress_bar() -> Progress:
    """One bar per pass over data, on stderr so stdout stays clean for results."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)


_STDOUT = threading.Lock()


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow what a library prints (pycocotools). sys.stdout is one for the whole process, so threads that
    silence it take turns."""
    with _STDOUT, contextlib.redirect_stdout(io.StringIO()):
        yield
