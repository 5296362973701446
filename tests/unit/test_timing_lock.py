"""A zoo build's workers time models with the CPU to themselves: timing waits while another worker works, and
work goes on in parallel otherwise. flock locks belong to open files, so a second open of the same file stands
for a second worker process here."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from quantflow.core import timing_lock


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / ".timing.lock"
    monkeypatch.setenv(timing_lock.ENV, str(path))
    monkeypatch.setattr(timing_lock, "_held", [])
    assert timing_lock.work_under_lock() is True
    yield path
    os.close(timing_lock._held[0])


def test_timing_waits_for_the_other_workers_work_to_end(worker: Path) -> None:
    other = os.open(worker, os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_SH)  # another worker, busy quantizing
    events: list[str] = []

    def time_a_model() -> None:
        with timing_lock.timing_alone():
            events.append("timed")

    thread = threading.Thread(target=time_a_model)
    thread.start()
    time.sleep(0.3)
    assert events == [] and thread.is_alive()  # still waiting: the other worker works
    events.append("other done")
    fcntl.flock(other, fcntl.LOCK_UN)
    thread.join(5)
    assert events == ["other done", "timed"]
    os.close(other)


def test_after_timing_the_worker_shares_again(worker: Path) -> None:
    with timing_lock.timing_alone():
        probe = os.open(worker, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # timing excludes everyone's work
            fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # work of others runs beside this worker's work again
    with pytest.raises(BlockingIOError):
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # which still holds its share
    os.close(probe)


def test_outside_a_build_timing_takes_no_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(timing_lock.ENV, raising=False)
    monkeypatch.setattr(timing_lock, "_held", [])
    assert timing_lock.work_under_lock() is False
    with timing_lock.timing_alone():
        pass
