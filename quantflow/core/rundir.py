"""A run folder that appears only when finished: work happens in a hidden sibling that is renamed at the end.

Hidden siblings are `.NAME.partial-XXXX` (a run being built) and `.NAME.old-XXXX` (the previous run, retired
for the instant of the swap). Each holds a marker file its process keeps locked (flock), so a later run can tell
a live one (lock held: leave it) from one a killed process left (lock free: remove it), and never touches a
folder without the marker.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from quantflow.core.errors import UserInputError, shown

log = logging.getLogger(__name__)

MARKER = ".quantflow-partial"
KINDS = ("old", "partial")  # old first: a retired run is restored before anything else is looked at


def _read_umask() -> int:
    """The process umask (read once at import, in the main thread: setting it to read it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def temporary_folder(prefix: str, parent: Path) -> Path:
    """A fresh folder in `parent` with the mode `mkdir` gives under the user's umask: `mkdtemp` makes it 0700,
    which a folder renamed into place (a zoo entry) would keep, unreadable to everyone else."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~UMASK)
    return path


class Claim:
    """A hidden folder `.NAME.KIND-XXXX` beside `target`, marked as this process's: the marker is created under
    a temporary name, locked, then renamed, so no one ever sees the marker unlocked while its owner lives."""

    def __init__(self, target: Path, kind: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-", dir=target.parent))
        try:
            self._fd, name = tempfile.mkstemp(prefix=f"{MARKER}.", dir=self.path)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            os.rename(name, self.path / MARKER)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    def remove(self) -> None:
        """Delete the folder, marker included, while still holding the lock; then let the lock go."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Let the lock go and keep the folder: a later run sees it as left behind and deals with it."""
        os.close(self._fd)


def remove_stale(target: Path) -> None:
    """Remove the hidden siblings of `target` that killed processes left; when `target` is missing, first put
    back the run a killed swap had retired. Folders without the marker, or whose owner lives, stay."""
    if not target.parent.is_dir():
        return
    for kind in KINDS:
        prefix = f".{target.name}.{kind}-"
        for folder in sorted(target.parent.iterdir()):
            if folder.name.startswith(prefix) and not folder.is_symlink() and folder.is_dir():
                _remove_if_dead(folder, target, kind)


def _remove_if_dead(folder: Path, target: Path, kind: str) -> None:
    """Remove a hidden sibling when its marker exists and its lock is free (its owner is dead)."""
    try:
        fd = os.open(folder / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return  # no marker: not quantflow's
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a run in progress
        retired = folder / target.name
        if kind == "old" and not os.path.lexists(target) and retired.is_dir():
            os.replace(retired, target)
            log.info("restored %s, which an interrupted run had moved aside", shown(target))
        log.info("removing %s, left by an interrupted run", shown(folder))
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)


class RunFolder:
    """`with RunFolder(out) as run:` writes into `run.path`; on success it replaces `out` by renames, on any
    error or interrupt it removes the partial work, so an interrupted run never leaves something that looks
    complete. `key` names the output in messages."""

    def __init__(self, output: Path, key: str = "output") -> None:
        self.output = output
        self.key = key
        self.path: Path | None = None
        self._claim: Claim | None = None

    def __enter__(self) -> "RunFolder":
        self._created = missing_folders(self.output.parent)
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(self.output)
            self._claim = Claim(self.output, "partial")
        except OSError as exc:
            raise UserInputError(f"{self.key} {shown(self.output)}: cannot be created: "
                                 f"{exc.strerror or exc}") from None
        self.path = self._claim.path / self.output.name  # only the run's files: the marker stays outside
        try:
            self.path.mkdir()
        except BaseException:
            self._claim.remove()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                replace_folder(self.path, self.output)
        finally:
            self._claim.remove()
            if not os.path.lexists(self.output):
                remove_empty_folders(self._created)


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first: what `mkdir(parents=True)` is about
    to create, so that a run that ends with nothing to show can take them away again."""
    return list(itertools.takewhile(lambda p: not os.path.lexists(p), (folder, *folder.parents)))


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove folders a run created (deepest first) as long as they are empty, so never anyone else's."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def replace_folder(finished: Path, target: Path) -> None:
    """Put a finished folder at `target` by renames only. An existing `target` is first retired into a marked
    `.NAME.old-XXXX` and put back if the second rename fails, so `target` is the old or the new folder; only if
    even that fails does the retired run stay, for the next run to restore."""
    if not os.path.lexists(target):
        os.replace(finished, target)
        return
    retired = Claim(target, "old")
    try:
        os.replace(target, retired.path / target.name)
        try:
            os.replace(finished, target)
        except BaseException:
            os.replace(retired.path / target.name, target)
            raise
    finally:
        if os.path.lexists(target):
            retired.remove()
        else:
            retired.release()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and rename, so readers never see half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a uniquely named temporary file beside `path` and rename; the temporary file is removed
    when anything fails, so a failed write leaves the old file (or nothing), never a leftover."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~UMASK)
            stream.write(text)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
