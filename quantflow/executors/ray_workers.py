"""Module runs as Ray tasks (zoo entries with `--executor ray`): the same `python -m MODULE ... --target FOLDER`
as on this machine, but in a folder on the worker; the folder comes back to the driver as one archive through
Ray's object store and is unpacked into the driver's `target`, so the result lands exactly where a local run
puts it.

Each task declares its CPUs and memory. A run that crashed (killed by a signal, or an internal error) or whose
Ray worker died is retried once; a run that failed on its input (exit code 2 or 3) is not, it would fail again.
The entries that run on one node share a timing lock there, as the entries of a local build do.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from quantflow.core.provenance import host_name
from quantflow.core.timing_lock import ENV as TIMING_LOCK_ENV
from quantflow.core.worker import read_stderr, worker_environment
from quantflow.executors.local import Finished
from quantflow.executors.ray_cluster import POLL_S, check_resources, connect, progress_board, ray_module, task_resources
from quantflow.executors.settings import ExecutorConfig

STARTED = "\0started on "  # the first progress message of every attempt: the driver counts attempts by it
RETRIED_CODES = {1}  # an internal error may be the node's (memory, a flaky disk); negative codes are signals


class RunCrashed(Exception):
    """A module run that ended by a signal or an internal error: Ray runs the task once more."""

    def __init__(self, host: str, returncode: int, stderr: str) -> None:
        super().__init__(host, returncode, stderr)
        self.host, self.returncode, self.stderr = host, returncode, stderr


def _die_with_parent() -> None:
    """In the child, before exec: die when the Ray worker that started it dies (Linux), so a killed worker leaves
    no run behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _archive(folder: Path) -> bytes:
    """The folder's contents (not the folder itself, whose mode the driver's own folder keeps) as a tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=child.name)
    return buffer.getvalue()


def run_module(command: list[str], key: str, board, cwd: str) -> tuple[str, int, str, bytes]:
    """On a worker: run the module into a fresh folder, from the driver's working directory where the node has it
    (relative `--set` paths mean there what they mean to the driver); (host, exit code, stderr, archive)."""
    host = host_name()
    board.post.remote(key, STARTED + host)
    work = Path(tempfile.mkdtemp(prefix="quantflow-run-"))
    lock = Path(tempfile.gettempdir()) / f"quantflow-{os.getuid()}-timing.lock"
    try:
        with subprocess.Popen([sys.executable, "-m", *command, "--target", str(work)],
                              env=worker_environment(**{TIMING_LOCK_ENV: str(lock)}), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent,
                              cwd=cwd if os.path.isdir(cwd) else None) as process:
            stderr = read_stderr(process, lambda text: board.post.remote(key, text))
        code = process.returncode
        if code < 0 or code in RETRIED_CODES:
            raise RunCrashed(host, code, stderr)
        return host, code, stderr, _archive(work) if code == 0 else b""
    finally:
        shutil.rmtree(work, ignore_errors=True)


class RayWorkers:
    """The driver's side: submits module runs with their declared resources and relays their progress."""

    def __init__(self, settings: ExecutorConfig, cpus: int, memory_gb: float | None) -> None:
        connect(settings)
        check_resources(cpus, memory_gb, "--cpus-per-entry/--memory-per-entry")
        ray = ray_module()
        self._task = ray.remote(run_module).options(**task_resources(cpus, memory_gb), max_retries=1,
                                                    retry_exceptions=[RunCrashed])
        self._board = progress_board()
        self._lock = threading.Lock()
        self._listeners: dict[str, Callable[[str], None]] = {}
        self._hosts: dict[str, list[str]] = {}
        self._running: set = set()
        self._stopped = threading.Event()
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        ray = ray_module()
        while not self._stopped.is_set():  # until the build stops its workers
            try:
                items = ray.get(self._board.take.remote())
            except Exception:  # the cluster went away (the build is ending): progress is no longer shown
                return
            for key, text in items:
                with self._lock:
                    listener = self._listeners.get(key)
                    if text.startswith(STARTED):
                        self._hosts.setdefault(key, []).append(text[len(STARTED):])
                        text = f"started on {text[len(STARTED):]}" + (
                            f" (attempt {len(self._hosts[key])})" if len(self._hosts[key]) > 1 else "")
                if listener:
                    listener(text)
            time.sleep(POLL_S)

    def run(self, command: list[str], target: Path, timeout: float, on_progress: Callable[[str], None]) -> Finished:
        """Run the module on the cluster and unpack what it wrote into `target`; TimeoutExpired after `timeout`
        seconds (the task is cancelled)."""
        ray = ray_module()
        key = uuid.uuid4().hex
        with self._lock:
            if self._stopped.is_set():
                return Finished(-signal.SIGKILL, "interrupted", "")
            self._listeners[key] = on_progress
            ref = self._task.remote(command, key, self._board, os.getcwd())
            self._running.add(ref)
        try:
            host, code, stderr, archive = ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            raise subprocess.TimeoutExpired(command, timeout) from None
        except ray.exceptions.TaskCancelledError:
            return Finished(-signal.SIGKILL, "interrupted", "", self._attempts(key))
        except ray.exceptions.RayTaskError as exc:
            crash = exc.cause if isinstance(exc.cause, RunCrashed) else None
            if crash is None:
                return Finished(1, f"Ray task failed: {str(exc).splitlines()[0]}", "", self._attempts(key))
            return Finished(crash.returncode, crash.stderr, crash.host, self._attempts(key))
        except ray.exceptions.RayError as exc:  # the worker or its node died on every attempt
            return Finished(-signal.SIGKILL, f"the Ray worker died: {str(exc).splitlines()[0]}",
                            ", ".join(self._hosts.get(key, [])), self._attempts(key))
        finally:
            with self._lock:
                self._running.discard(ref)
                self._listeners.pop(key, None)
        if code == 0:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(target, filter="data")
        return Finished(code, stderr, host, self._attempts(key))

    def _attempts(self, key: str) -> int:
        with self._lock:
            return max(1, len(self._hosts.get(key, [])))

    def stop(self) -> None:
        """Cancel every outstanding run (their worker processes are killed), start no new one and stop relaying
        progress (a build calls it when it ends, whether interrupted or not)."""
        ray = ray_module()
        with self._lock:
            self._stopped.set()
            running = list(self._running)
        for ref in running:
            ray.cancel(ref, force=True)
