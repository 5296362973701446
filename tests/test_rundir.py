"""The run folder appears only when complete; an interrupted run leaves nothing that looks finished."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantflow.rundir import RunFolder


def test_success_renames_into_place_and_replaces_old_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with RunFolder(out) as run:
        (run.path / "report.json").write_text("{}")
        assert not (out / "report.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failure_removes_partial_work_and_keeps_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("previous")
    with pytest.raises(RuntimeError):
        with RunFolder(out) as run:
            (run.path / "report.json").write_text("half")
            raise RuntimeError("killed midway")
    assert (out / "report.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
