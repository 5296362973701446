"""`quantflow zoo build`: one entry per config, each in its own process, skipped when nothing changed.

An entry is built in `ZOO/.building/` and renamed into `ZOO/<task>/<name>/` only when complete, so a killed
build leaves no half entry, and the next build redoes only what is missing or changed. One build per zoo at a
time (`ZOO/.lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from quantflow.cache import files_digest
from quantflow.config import load_config
from quantflow.errors import QuantflowError, UserInputError
from quantflow.rundir import replace_folder
from quantflow.workflow import build_stages
from quantflow.zoo.card import write_index
from quantflow.zoo.entry import entry_key

ENTRY_TIMEOUT_S = 3 * 3600


@dataclass
class Outcome:
    config: Path
    name: str
    status: str  # built | skipped | failed
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Plan:
    config: Path
    name: str
    key: str
    target: Path


def plan_entry(config_path: Path, overrides: list[str], zoo: Path) -> Plan:
    """Validate a config and compute its entry's place and key (config, model files, data, calibration data)."""
    config = load_config(config_path, overrides)
    stages = build_stages(config)
    fingerprint = stages.dataset.fingerprint() + stages.calibration_source.fingerprint()
    key = entry_key(config, fingerprint, files_digest(config.model.source))
    return Plan(config_path, config.model.name, key, zoo / stages.dataset.task / config.model.name)


def is_current(plan: Plan) -> bool:
    manifest = plan.target / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("key") == plan.key
    except ValueError:
        return False


def build_one(plan: Plan, overrides: list[str], zoo: Path) -> Outcome:
    """Run the entry worker in its own process; rename its folder into place on success."""
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f"{plan.name}-", dir=zoo / ".building"))
    command = [sys.executable, "-m", "quantflow.zoo.entry", "--config", str(plan.config), "--target", str(work),
               "--key", plan.key, *(arg for o in overrides for arg in ("--set", o))]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=ENTRY_TIMEOUT_S)
        if result.returncode != 0:
            lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("quantflow: error:")]
            reason = (errors or lines or [f"exit code {result.returncode}"])[-1].removeprefix("quantflow: error: ")
            return Outcome(plan.config, plan.name, "failed", reason, time.perf_counter() - start)
        plan.target.parent.mkdir(parents=True, exist_ok=True)
        replace_folder(work, plan.target)
        return Outcome(plan.config, plan.name, "built", seconds=time.perf_counter() - start)
    except subprocess.TimeoutExpired:
        return Outcome(plan.config, plan.name, "failed", f"no result after {ENTRY_TIMEOUT_S} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def build_lock(zoo: Path) -> Iterator[None]:
    """One build per zoo at a time: a second one would clear the first's work and both would rewrite the
    index. The lock is the OS's (flock), so a killed build does not leave it held."""
    zoo.mkdir(parents=True, exist_ok=True)
    with open(zoo / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise UserInputError(f"--zoo {zoo}: another zoo build is running on it ({handle.read().strip()}); "
                                 f"wait for it to finish") from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield


def build_zoo(configs: list[Path], zoo: Path, jobs: int = 1, force: bool = False, overrides: list[str] = (),
              report=print) -> list[Outcome]:
    """Plan every config, skip current entries, build the rest `jobs` at a time, then rewrite the index."""
    with build_lock(zoo):
        return _build(configs, zoo, jobs, force, list(overrides), report)


def _build(configs: list[Path], zoo: Path, jobs: int, force: bool, overrides: list[str], report) -> list[Outcome]:
    shutil.rmtree(zoo / ".building", ignore_errors=True)  # leftovers of a killed build (no build holds the lock)
    (zoo / ".building").mkdir(parents=True)
    outcomes, plans, seen = [], [], {}
    for config in configs:
        try:
            plan = plan_entry(config, overrides, zoo)
        except QuantflowError as exc:
            outcomes.append(Outcome(config, config.stem, "failed", str(exc)))
            continue
        if plan.target in seen:
            outcomes.append(Outcome(config, plan.name, "failed", f"same entry {plan.target.relative_to(zoo)} as "
                                                                 f"{seen[plan.target]}"))
            continue
        seen[plan.target] = config
        if is_current(plan) and not force:
            outcomes.append(Outcome(config, plan.name, "skipped", "unchanged"))
        else:
            plans.append(plan)
    for outcome in outcomes:
        report(outcome)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for outcome in pool.map(lambda p: build_one(p, overrides, zoo), plans):
            report(outcome)
            outcomes.append(outcome)
    shutil.rmtree(zoo / ".building", ignore_errors=True)
    write_index(zoo)
    return outcomes
