"""Work done in a child process (`python -m MODULE job.json`): libraries that must not share quantflow's process
(TensorFlow's converter leaks memory per call; torch and TensorFlow crash each other in one process) run there.

The child reads the job, leaves its answer in `result.json` beside it, and on failure prints the reason as its
last stderr line: exit code 2 for input the user must fix (the line is shown as is), anything else for a
failure of the work itself (shown after `what`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import quantflow
from quantflow.core.errors import UserInputError, one_line
from quantflow.core.progress import PROGRESS_LINE, TO_PARENT

USER_ERROR_EXIT = 2


def read_stderr(process: subprocess.Popen, on_progress: Callable[[str], None]) -> str:
    """The child's stderr as it comes: its progress lines (`tell_parent`) go to `on_progress`, the rest is
    returned once the child closes it."""
    kept = []
    for line in process.stderr:
        if line.startswith(PROGRESS_LINE):
            on_progress(line[len(PROGRESS_LINE):].rstrip("\n"))
        else:
            kept.append(line)
    return "".join(kept)


def worker_environment(**extra: str) -> dict[str, str]:
    """A child's environment: quantflow importable, TensorFlow's C++ logging quiet, progress told to the parent."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), TO_PARENT: "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(quantflow.__file__).parents[1]), env.get("PYTHONPATH")]))
    return env


def run_worker(module: str, job: dict[str, Any], folder: Path, what: str,
               on_progress: Callable[[str], None] = lambda text: None) -> Any:
    """Run `python -m module` on `job` (written to `folder`); return the JSON it leaves in `result.json`."""
    (folder / "job.json").write_text(json.dumps(job))
    with subprocess.Popen([sys.executable, "-m", module, str(folder / "job.json")], env=worker_environment(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        stderr = read_stderr(process, on_progress)
    lines = [line for line in stderr.splitlines() if line.strip()]
    code = process.returncode
    if code < 0:
        raise UserInputError(f"{what}: worker killed by signal {-code} (out of memory?)")
    if code == USER_ERROR_EXIT and lines:
        raise UserInputError(lines[-1])
    if code:
        raise UserInputError(f"{what}: {lines[-1] if lines else f'worker exited with {code}'}")
    return json.loads((folder / "result.json").read_text())


def serve(work: Callable[[dict[str, Any]], Any], describe: Callable[[BaseException], str] | None = None) -> None:
    """The child's main: run `work` on the job named by argv[1] and report as `run_worker` expects."""
    job_path = Path(sys.argv[1])
    try:
        result = work(json.loads(job_path.read_text()))
    except UserInputError as exc:
        print(one_line(exc), file=sys.stderr, flush=True)
        sys.exit(USER_ERROR_EXIT)
    except Exception as exc:  # the parent shows the last stderr line; the traceback above it is for debugging
        traceback.print_exc()
        print(describe(exc) if describe else f"{type(exc).__name__}: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(1)
    job_path.with_name("result.json").write_text(json.dumps(result))
