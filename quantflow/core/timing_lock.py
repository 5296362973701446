"""Speed is timed with the CPU to itself: the entry processes of one zoo build share a lock file (its path in
QUANTFLOW_TIMING_LOCK). Each holds the lock shared while it works and exclusively while it times a model, so no
timing overlaps another entry's work, whatever `--jobs` is; everything else still runs in parallel.

Outside a zoo build the variable is unset and timing takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from quantflow.core.progress import tell_parent

ENV = "QUANTFLOW_TIMING_LOCK"
_held: list[int] = []  # the lock file's descriptor, once this process works under the lock


def work_under_lock() -> bool:
    """Called when a worker process starts: hold the build's lock shared until the process ends. Whether there
    is such a lock (the card then says the figures were timed alone)."""
    path = os.environ.get(ENV)
    if not path or _held:
        return bool(_held)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held.append(fd)
    return True


@contextlib.contextmanager
def timing_alone() -> Iterator[None]:
    """Wait until every other worker of the build is waiting too (or done), time, then go back to sharing."""
    if not _held:
        yield
        return
    fd = _held[0]
    fcntl.flock(fd, fcntl.LOCK_UN)  # a shared holder asking for the exclusive lock would wait for itself
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        tell_parent("waiting for the other entries to pause, to time alone")
        fcntl.flock(fd, fcntl.LOCK_EX)
        tell_parent("timing, the CPU to itself")
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_SH)
