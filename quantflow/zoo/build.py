"""`quantflow zoo build`: one entry per config, each in its own process, skipped when nothing changed.

An entry is built in `ZOO/.building/` and renamed into `ZOO/<task>/<name>/` only when complete, so a killed
build leaves no half entry, and the next build redoes only what is missing or changed. One build per zoo at a
time (`ZOO/.lock`). Before anything is created, `--set` and the zoo folder are checked: the zoo is never one of
the configs' inputs, never inside one, never a folder quantflow did not build; a place `ZOO/<task>/<name>` that
holds something else than a zoo entry fails that entry and is left as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from quantflow.config import load_config
from quantflow.config.loader import apply_override
from quantflow.core.errors import QuantflowError, UserInputError, shown
from quantflow.core.output_safety import check_zoo_output
from quantflow.core.progress import progress_bar
from quantflow.core.rundir import missing_folders, remove_empty_folders, remove_stale, replace_folder, temporary_folder
from quantflow.executors.local import LocalWorkers
from quantflow.executors.ray_cluster import probe_paths
from quantflow.executors.ray_workers import RayWorkers
from quantflow.executors.settings import ExecutorConfig
from quantflow.pipeline.cache import files_digest
from quantflow.pipeline.workflow import build_stages
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
    host: str = ""


@dataclass(frozen=True)
class Plan:
    config: Path
    name: str
    key: str
    target: Path
    inputs: dict[str, Path]


def check_overrides(overrides: list[str]) -> None:
    """A malformed `--set` (not key=value, or not YAML) would fail every entry: refuse it before the zoo folder
    is touched."""
    for assignment in overrides:
        apply_override({}, assignment)


def plan_entry(config_path: Path, overrides: list[str], zoo: Path) -> Plan:
    """Validate a config and compute its entry's place and key (config, model files, data, calibration data)."""
    config = load_config(config_path, overrides)
    stages = build_stages(config)
    fingerprint = stages.dataset.fingerprint() + stages.calibration_source.fingerprint()
    key = entry_key(config, fingerprint, files_digest(config.model.source))
    return Plan(config_path, config.model.name, key, zoo / stages.task.name / config.model.name,
                config.inputs())


def plan_entries(configs: list[Path], overrides: list[str], zoo: Path) -> tuple[list[Plan], list[Outcome]]:
    """Plan every config; one that does not validate is a failed outcome, not the end of the build."""
    plans, failed = [], []
    for config in configs:
        try:
            plans.append(plan_entry(config, overrides, zoo))
        except QuantflowError as exc:
            failed.append(Outcome(config, config.stem, "failed", str(exc)))
    return plans, failed


def zoo_inputs(configs: list[Path], plans: list[Plan]) -> list[tuple[str, Path]]:
    """What the zoo folder must keep clear of: every config file and every path the valid ones read."""
    inputs = [("CONFIG", config.resolve()) for config in configs]
    for plan in plans:
        inputs += [(f"{key} of {shown(plan.config)}", path) for key, path in plan.inputs.items() if key != "--config"]
    return inputs


def is_current(plan: Plan) -> bool:
    manifest = plan.target / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("key") == plan.key
    except ValueError:
        return False


def foreign_entry(plan: Plan, zoo: Path) -> str | None:
    """Why the entry's place holds something that is not a zoo entry (so it must not be replaced), or None."""
    if os.path.lexists(plan.target.parent) and not plan.target.parent.is_dir():
        return f"{plan.target.parent.relative_to(zoo)} is a file, not a task folder; nothing replaced"
    if os.path.lexists(plan.target) and not (plan.target / "manifest.json").is_file():
        return f"{plan.target.relative_to(zoo)} exists and is not a zoo entry (no manifest.json); nothing replaced"
    return None


def build_one(plan: Plan, overrides: list[str], zoo: Path, workers: LocalWorkers | RayWorkers,
              on_progress: Callable[[str], None] = lambda text: None) -> Outcome:
    """Run the entry worker in its own process (here or on a Ray node); rename its folder into place on
    success."""
    start = time.perf_counter()
    work = temporary_folder(f"{plan.name}-", zoo / ".building")
    command = ["quantflow.zoo.entry", "--config", str(plan.config.resolve()), "--key", plan.key,
               *(arg for o in overrides for arg in ("--set", o))]
    try:
        result = workers.run(command, work, ENTRY_TIMEOUT_S, on_progress)
        if result.returncode != 0:
            lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("quantflow: error:")]
            reason = (errors or lines or [f"exit code {result.returncode}"])[-1].removeprefix("quantflow: error: ")
            if result.attempts > 1:
                reason += f" (on each of {result.attempts} attempts; last on {result.host or 'an unknown node'})"
        else:
            reason = foreign_entry(plan, zoo) or place(work, plan.target)
        retried = f"retried once, built on {result.host}" if result.attempts > 1 and not reason else ""
        return Outcome(plan.config, plan.name, "failed" if reason else "built", reason or retried,
                       time.perf_counter() - start, result.host)
    except subprocess.TimeoutExpired:
        return Outcome(plan.config, plan.name, "failed", f"no result after {ENTRY_TIMEOUT_S} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def place(work: Path, target: Path) -> str | None:
    """Rename a finished entry into place (after tidying what a killed swap left there); why not, or None."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        replace_folder(work, target)
    except OSError as exc:
        return f"cannot put the entry in place: {exc.strerror or exc}"
    return None


@contextlib.contextmanager
def build_lock(zoo: Path) -> Iterator[None]:
    """One build per zoo at a time: a second one would clear the first's work and both would rewrite the
    index. The lock is the OS's (flock), so a killed build does not leave it held; the file is removed when the
    build ends (before the lock is let go, and a build that locked a file since removed tries again)."""
    path = zoo / ".lock"
    while True:
        try:
            handle = open(path, "a+")
        except OSError as exc:
            raise UserInputError(f"--zoo {shown(zoo)}: cannot be written: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise UserInputError(f"--zoo {shown(zoo)}: another zoo build is running on it ({shown(holder)}); "
                                 f"wait for it to finish") from None
        if _same_file(handle, path):
            break
        handle.close()
    try:
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def _same_file(handle, path: Path) -> bool:
    """Whether `path` still names the file `handle` has open (an ending build removes it after locking)."""
    try:
        here, there = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def make_zoo_folder(zoo: Path) -> list[Path]:
    """Create the zoo folder; return the folders this created (deepest first), so a build that made nothing can
    take them away again."""
    created = missing_folders(zoo)
    try:
        zoo.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"--zoo {shown(zoo)}: cannot be created: {exc.strerror or exc}") from None
    return created


def build_zoo(configs: list[Path], zoo: Path, jobs: int = 1, force: bool = False, overrides: list[str] = (),
              executor: ExecutorConfig = ExecutorConfig()) -> list[Outcome]:
    """Check `--set`, plan every config and check the zoo folder against them before touching it (on Ray: join
    the cluster, check it can hold an entry and that every node reads every input); then skip current entries,
    build the rest (`jobs` at a time here, as many as the cluster holds on Ray) and rewrite the index. A zoo
    folder this build created is removed again when no entry was built."""
    overrides = list(overrides)
    check_overrides(overrides)
    zoo = zoo.resolve()
    plans, outcomes = plan_entries(configs, overrides, zoo)
    inputs = zoo_inputs(configs, plans)
    check_zoo_output(zoo, inputs)
    ray = None
    if executor.type == "ray":
        ray = RayWorkers(executor, executor.cpus_per_task, executor.memory_gb)
        try:
            probe_paths(inputs)
        except BaseException:
            ray.stop()
            raise
    created = make_zoo_folder(zoo)
    try:
        with build_lock(zoo):
            _build(plans, zoo, jobs, force, overrides, outcomes, not created, ray)
    finally:
        if created and not any(o.status == "built" for o in outcomes):
            remove_empty_folders(created)
    return outcomes


def _build(plans: list[Plan], zoo: Path, jobs: int, force: bool, overrides: list[str], outcomes: list[Outcome],
           zoo_existed: bool, ray: RayWorkers | None) -> None:
    """Under the zoo lock: sort plans into skipped, failed and to build, build them in `.building/` with a live
    row per entry, and write the index when the zoo existed before or an entry was built."""
    building = zoo / ".building"
    shutil.rmtree(building, ignore_errors=True)  # leftovers of a killed build (no build holds the lock)
    building.mkdir()
    try:
        todo = _sort(plans, zoo, force, outcomes)
        workers = ray or LocalWorkers(building / ".timing.lock")
        pool = ThreadPoolExecutor(max_workers=max(1, len(todo) if ray else jobs))
        with progress_bar() as view:
            rows = {plan.target: view.add_task(f"{plan.name}: waiting", total=None, step=True) for plan in todo}

            def build(plan: Plan) -> Outcome:
                row = rows[plan.target]
                outcome = build_one(plan, overrides, zoo, workers,
                                    lambda text: view.update(row, description=f"{plan.name}: {text}"))
                view.update(row, description=f"{plan.name}: {outcome.status}", total=1, completed=1)
                return outcome

            try:
                outcomes.extend(pool.map(build, todo))
            finally:
                workers.stop()
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if zoo_existed or any(o.status == "built" for o in outcomes):
        write_index(zoo)


def _sort(plans: list[Plan], zoo: Path, force: bool, outcomes: list[Outcome]) -> list[Plan]:
    """The plans to build; the others (duplicate entries, foreign folders in the way, current entries) become
    outcomes."""
    todo, seen = [], {}
    for plan in plans:
        problem = foreign_entry(plan, zoo)
        if plan.target in seen:
            problem = f"same entry {plan.target.relative_to(zoo)} as {seen[plan.target]}"
        if problem:
            outcomes.append(Outcome(plan.config, plan.name, "failed", problem))
            continue
        seen[plan.target] = plan.config
        if is_current(plan) and not force:
            outcomes.append(Outcome(plan.config, plan.name, "skipped", "unchanged"))
        else:
            todo.append(plan)
    return todo
