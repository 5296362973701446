"""A run folder that appears only when finished: work happens in a hidden sibling that is renamed at the end."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


class RunFolder:
    """`with RunFolder(out) as run:` writes into `run.path`; on success it replaces `out` atomically, on any
    error it removes the partial work, so an interrupted run never leaves something that looks complete."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path: Path | None = None

    def __enter__(self) -> "RunFolder":
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.partial-", dir=self.output.parent))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        self.path.chmod(0o755)
        replace_folder(self.path, self.output)


def replace_folder(finished: Path, target: Path) -> None:
    """Put a finished folder at `target` by renames only, so `target` is always either the old or the new one."""
    if target.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, retired / target.name)
        os.replace(finished, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(finished, target)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
