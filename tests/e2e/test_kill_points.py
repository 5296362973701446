"""A run SIGKILLed at any point leaves nothing that looks finished and no earlier run damaged; the next run
cleans up what the killed one left (and only that) and finishes. The kills are real: `tests/e2e/kill_at.py` runs the
CLI and SIGKILLs its own process at one point."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from quantflow.core.output_safety import RUN_SCHEMA
from quantflow.core.rundir import MARKER
from quantflow.pipeline.cache import PredictionCache
from quantflow.pipeline.evaluate import Predictions
from tests.conftest import ROOT, run_cli

QUICK = ["--set", "evaluation.max_images=20", "--set", "calibration.subset_size=20",
         "--set", "evaluation.speed.enabled=false"]
KEY = "ab" * 32


def sample_config(folder: Path) -> Path:
    """configs/ssd.yml with absolute paths into the shipped sample, writing its run folder and cache in `folder`."""
    raw = yaml.safe_load((ROOT / "configs" / "ssd.yml").read_text())
    shapes = ROOT / "datasets" / "shapes"
    raw["model"]["source"] = str(shapes / "model" / "saved_model")
    raw["dataset"]["annotations"] = str(shapes / "val.json")
    raw["dataset"]["images"] = str(shapes / "val")
    raw["decoder"]["anchors"] = str(shapes / "model" / "anchors.npy")
    raw["calibration"]["images"] = str(shapes / "calib")
    raw["evaluation"] = {"cache_dir": str(folder / "cache")}  # its own cache: the FP32 pass really runs
    raw["output"] = str(folder / "runs" / "ssd-shapes")
    path = folder / "ssd.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def snapshot(folder: Path) -> dict[str, str] | None:
    """sha256 of every file under `folder` by relative name (None when it does not exist)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden_siblings(output: Path) -> list[str]:
    return sorted(p.name for p in output.parent.iterdir()
                  if p.name.startswith((f".{output.name}.partial-", f".{output.name}.old-")))


def kill_at(point: str, config: Path) -> subprocess.CompletedProcess:
    launcher = ROOT / "tests" / "e2e" / "kill_at.py"
    return subprocess.run([sys.executable, str(launcher), point, "--", "quantize", "--config",
                           str(config), *QUICK], cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory) -> Path:
    """A finished run folder, made once and copied into the tests that replace one."""
    folder = tmp_path_factory.mktemp("earlier")
    config = sample_config(folder)
    result = run_cli("quantize", "--config", str(config), *QUICK)
    assert result.returncode == 0, result.stderr
    return folder / "runs" / "ssd-shapes"


@pytest.mark.slow
@pytest.mark.parametrize("point, with_earlier_run", [
    ("fp32", False), ("quantize", True), ("report", True), ("rename", False), ("swap", True),
])
def test_killed_run_leaves_nothing_finished_and_the_next_run_completes(
        point: str, with_earlier_run: bool, earlier_run: Path, tmp_path: Path) -> None:
    config = sample_config(tmp_path)
    output = tmp_path / "runs" / "ssd-shapes"
    if with_earlier_run:
        shutil.copytree(earlier_run, output)
    before = snapshot(output)

    killed = kill_at(point, config)
    assert killed.returncode == -9, killed.stderr[-2000:]
    if point == "swap":  # killed between the renames: the earlier run is aside, whole, for the next run to restore
        assert not output.exists()
        retired = [output.parent / name / output.name for name in hidden_siblings(output) if ".old-" in name]
        assert [snapshot(folder) for folder in retired] == [before]
    else:
        assert snapshot(output) == before, "the killed run must not leave or change a run folder"
    assert hidden_siblings(output), "the kill must leave its partial work behind for the next run to remove"
    foreign = output.parent / f".{output.name}.partial-x"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("someone else's")

    result = run_cli("quantize", "--config", str(config), *QUICK)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((output / "report.json").read_text())
    assert report["schema"] == RUN_SCHEMA and {"FP32", "INT8"} <= set(report["results"])
    assert {"report.md", "report.html", "FP32/ssd-shapes.xml", "INT8/ssd-shapes.bin"} <= set(snapshot(output))
    assert MARKER not in snapshot(output)
    assert hidden_siblings(output) == [foreign.name], "the killed run's leftovers go, a folder without the marker stays"
    assert (foreign / "notes.txt").read_text() == "someone else's"
    if point == "swap":
        assert "restored" in result.stderr


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_zoo_build_kills_its_worker_and_leaves_no_zoo(tmp_path: Path, signum: int) -> None:
    """SIGINT or SIGTERM to the build alone (not its process group): it kills and reaps its entry worker rather
    than waiting for it, and the zoo it had created is gone again (.building, .lock and all)."""
    zoo = tmp_path / "zoo"
    build = subprocess.Popen([sys.executable, "-m", "quantflow", "zoo", "build", str(sample_config(tmp_path)),
                              "--zoo", str(zoo), *QUICK], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (workers := children(build.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers, "the build started no entry worker"
    time.sleep(1)
    build.send_signal(signum)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr
    assert not [pid for pid in workers if running(pid)], "the entry worker was left running"
    assert not zoo.exists()


def test_cache_removes_leftovers_of_killed_writers_only(tmp_path: Path) -> None:
    """A cache write killed midway leaves `fp32/.KEY.PID.npz`; the next store removes it when PID is dead, and
    leaves a live writer's file and every other file alone."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    folder = tmp_path / "fp32"
    folder.mkdir()
    leftovers = {name: folder / name for name in (f".{KEY}.{dead_pid}.npz", f".{KEY}.{os.getppid()}.npz",
                                                  f".{KEY}.{dead_pid}.txt", "notes.npz")}
    for path in leftovers.values():
        path.write_text("x")
    cache = PredictionCache(tmp_path)
    predictions = Predictions(np.zeros((2, 7), np.float32), [1, 2], 0.5, {1: (4, 5), 2: (6, 7)})
    cache.store(KEY, predictions)
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted([f"{KEY}.npz", *list(leftovers)[1:]])
    assert cache.load(KEY).image_ids == [1, 2]


def test_cache_that_cannot_be_written_is_a_warning(tmp_path: Path, caplog) -> None:
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    cache = PredictionCache(tmp_path / "cache")
    cache.store(KEY, Predictions(np.zeros((1, 7), np.float32), [1], 0.1, {}))
    assert cache.load(KEY) is None
    assert "could not store predictions" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                       (signal.SIGTERM, 143, "terminated")])
def test_signalled_run_cleans_up_itself(tmp_path: Path, signum: int, code: int, word: str) -> None:
    """SIGINT and SIGTERM while the run folder is being built: one line, the signal's exit code, and the process
    itself removes its partial folder (no rerun needed), leaving only what was there before."""
    config = sample_config(tmp_path)
    output = tmp_path / "runs" / "ssd-shapes"
    process = subprocess.Popen([sys.executable, "-m", "quantflow", "quantize", "--config", str(config), *QUICK],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (output.parent.is_dir() and hidden_siblings(output)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hidden_siblings(output), "the run never started building its folder"
    time.sleep(0.5)
    process.send_signal(signum)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == code, stderr[-2000:]
    assert f"quantflow: {word}" in stderr and "Traceback" not in stderr
    assert not output.parent.exists() or (not output.exists() and not hidden_siblings(output))


@pytest.mark.slow
def test_earlier_run_folder_is_replaced_and_the_log_says_so(tmp_path: Path) -> None:
    """A run folder of an earlier quantflow version (report.json with config_hash and versions.quantflow, no
    schema) is recognised, replaced, and the new one carries the run schema."""
    config = sample_config(tmp_path)
    earlier = tmp_path / "runs" / "ssd-shapes"
    earlier.mkdir(parents=True)
    (earlier / "report.json").write_text(json.dumps({"config_hash": "0" * 64, "versions": {"quantflow": "0.0.9"}}))
    (earlier / "stale.md").write_text("from the earlier run\n")
    result = run_cli("quantize", "--config", str(config), *QUICK)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"replacingtheearlierrunfolder{earlier}" in "".join(result.stderr.split())
    assert not (earlier / "stale.md").exists()
    assert json.loads((earlier / "report.json").read_text())["schema"] == RUN_SCHEMA
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["ssd-shapes"]
