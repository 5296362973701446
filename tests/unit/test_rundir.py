"""The run folder appears only when complete; an interrupted run leaves nothing that looks finished; what a
killed run leaves is recognised (marker, lock free) and removed by the next one, and nothing else is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantflow.core.rundir import MARKER, RunFolder, replace_folder, write_json_atomic, write_text_atomic
from tests.conftest import ROOT


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def start_run(out: Path, then: str) -> tuple[subprocess.Popen, str]:
    """Another process inside `with RunFolder(out)`: it writes a file, reports the name of its hidden folder,
    then runs `then`."""
    code = (f"import os, signal, sys\nfrom pathlib import Path\nfrom quantflow.core.rundir import RunFolder\n"
            f"with RunFolder(Path({str(out)!r})) as run:\n"
            f"    (run.path / 'report.json').write_text('half')\n    print(run.path.parent.name, flush=True)\n"
            f"    {then}\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def test_success_renames_into_place_and_replaces_old_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with RunFolder(out) as run:
        (run.path / "report.json").write_text("{}")
        assert not (out / "report.json").exists()
        assert run.path.name == "run" and run.path.parent.name.startswith(".run.partial-")
        assert MARKER in names(run.path.parent) and MARKER not in names(run.path)
    assert names(out) == ["report.json"]
    assert names(tmp_path) == ["run"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~current_umask())


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_removes_partial_work_and_keeps_previous_run(tmp_path: Path, error: type[BaseException]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("previous")
    with pytest.raises(error):
        with RunFolder(out) as run:
            (run.path / "report.json").write_text("half")
            raise error("killed midway")
    assert (out / "report.json").read_text() == "previous"
    assert names(tmp_path) == ["run"]


def test_leftovers_of_a_killed_run_go_foreign_and_live_ones_stay(tmp_path: Path) -> None:
    out = tmp_path / "run"
    live, live_folder = start_run(out, "sys.stdin.read()")
    killed, killed_folder = start_run(out, "os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.wait() == -9
    foreign = tmp_path / ".run.partial-mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not quantflow's")
    assert names(tmp_path) == sorted([live_folder, killed_folder, foreign.name])
    try:
        with RunFolder(out) as run:
            (run.path / "report.json").write_text("{}")
        assert names(tmp_path) == sorted([live_folder, foreign.name, "run"]), "only the killed run's folder goes"
    finally:
        live.communicate("")
    assert live.returncode == 0
    assert names(tmp_path) == [foreign.name, "run"] and (out / "report.json").read_text() == "half"
    assert (foreign / "notes.txt").read_text() == "not quantflow's"


def test_a_run_killed_between_the_two_renames_is_put_back(tmp_path: Path) -> None:
    """Killed after the earlier run was moved aside (tests/e2e/kill_at.py's `swap` point): the next run puts it back
    before it does anything."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("previous")
    code = ("from pathlib import Path\nfrom quantflow.core.rundir import RunFolder\n"
            "from tests.e2e.kill_at import POINTS\n"
            f"POINTS['swap']()\n"
            f"with RunFolder(Path({str(out)!r})) as run:\n    (run.path / 'report.json').write_text('new')\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == -9
    assert not out.exists()
    with pytest.raises(RuntimeError):
        with RunFolder(out):
            assert (out / "report.json").read_text() == "previous"
            raise RuntimeError("stop here")
    assert names(tmp_path) == ["run"] and (out / "report.json").read_text() == "previous"


def test_replace_folder_puts_the_old_target_back_when_the_new_one_cannot_go_in(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "report.json").write_text("previous")
    with pytest.raises(FileNotFoundError):
        replace_folder(tmp_path / "missing", target)
    assert names(tmp_path) == ["run"] and (target / "report.json").read_text() == "previous"


def test_atomic_writes_leave_no_temporary_file_when_they_fail(tmp_path: Path) -> None:
    (tmp_path / "report.md").mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(IsADirectoryError):
        write_text_atomic(tmp_path / "report.md", "text")
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "report.json", {"value": float("nan")})
    assert names(tmp_path) == ["report.md"]
    write_json_atomic(tmp_path / "report.json", {"value": 1})
    assert names(tmp_path) == ["report.json", "report.md"]
    assert oct((tmp_path / "report.json").stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
