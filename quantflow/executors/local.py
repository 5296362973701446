"""Module runs on this machine: `python -m MODULE ... --target FOLDER`, each in its own process (zoo entries).

An interrupted build kills them instead of waiting for them. They share the build's timing lock
(`core/timing_lock.py`) and tell the build what they are doing (`core/progress.tell_parent`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantflow.core.provenance import host_name
from quantflow.core.timing_lock import ENV as TIMING_LOCK_ENV
from quantflow.core.worker import read_stderr, worker_environment


@dataclass(frozen=True)
class Finished:
    """How a module run ended: its exit code (negative: killed by that signal), the rest of its stderr, the host
    it ran on and the attempts it took."""

    returncode: int
    stderr: str
    host: str
    attempts: int = 1


class LocalWorkers:
    """Runs module commands as child processes of this one."""

    def __init__(self, timing_lock: Path) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopped = False
        self.env = worker_environment(**{TIMING_LOCK_ENV: str(timing_lock)})

    def run(self, command: list[str], target: Path, timeout: float, on_progress: Callable[[str], None]) -> Finished:
        """Run `python -m *command --target target` to its end, its progress lines to `on_progress`; killed
        (TimeoutExpired) after `timeout` seconds or when `stop` is called."""
        argv = [sys.executable, "-m", *command, "--target", str(target)]
        with self._lock:
            if self._stopped:
                return Finished(-signal.SIGKILL, "interrupted", host_name())
            process = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True)
            self._running.add(process)
        expired = threading.Event()
        timer = threading.Timer(timeout, lambda: (expired.set(), process.kill()))
        timer.start()
        try:
            stderr = read_stderr(process, on_progress)
            process.wait()
            if expired.is_set():
                raise subprocess.TimeoutExpired(argv, timeout)
            return Finished(process.returncode, stderr, host_name())
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            with self._lock:
                self._running.discard(process)

    def stop(self) -> None:
        """Kill every running process, wait for each, and start no new one."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for process in running:
            process.kill()
        for process in running:
            process.wait()
