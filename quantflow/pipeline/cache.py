"""FP32 reference cache: FP32 predictions keyed by everything that could change them.

Accuracy-aware runs are repeated with another `max_drop`, another preset, another ignored scope; the FP32
reference stays the same, so it is evaluated once. The key covers the model files, the dataset fingerprint,
the evaluated ids, preprocessing, decoder, device and the quantflow/OpenVINO versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from quantflow.core.errors import shown
from quantflow.pipeline.evaluate import Predictions

log = logging.getLogger(__name__)

TEMPORARY = re.compile(r"\.([0-9a-f]{64})\.(\d+)\.npz")  # `.KEY.PID.npz`: an entry being written by process PID


def files_digest(path: Path) -> str:
    """sha256 over a model file, or over every file of a model folder (SavedModel) with relative names."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if path.suffix == ".xml":
        files.append(path.with_suffix(".bin"))
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def reference_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (one of another user counts: it may still be writing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _discard(path: Path) -> None:
    """Remove a file if it is there; a cache that cannot be tidied is not worth failing a run for."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


class PredictionCache:
    """Predictions stored as .npz under `folder/fp32/<key>.npz`, written atomically. The cache only saves time:
    a cache that cannot be written is a warning, never a failed run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "fp32"

    def load(self, key: str) -> Predictions | None:
        self.remove_leftovers()
        path = self.folder / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                ids = data["image_ids"].tolist()
                sizes = {i: tuple(size) for i, size in zip(ids, data["sizes"].tolist())} if "sizes" in data else {}
                return Predictions(data["rows"], ids, float(data["seconds"]), sizes)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("FP32 cache entry %s is unreadable (%s); evaluating again", path.name, exc)
            return None

    def store(self, key: str, predictions: Predictions) -> None:
        tmp = self.folder / f".{key}.{os.getpid()}.npz"
        arrays = {"rows": predictions.rows, "image_ids": np.asarray(predictions.image_ids),
                  "seconds": predictions.seconds}
        if all(i in predictions.sizes for i in predictions.image_ids):
            arrays["sizes"] = np.asarray([predictions.sizes[i] for i in predictions.image_ids]).reshape(-1, 2)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.remove_leftovers()
            np.savez(tmp, **arrays)
            os.replace(tmp, self.folder / f"{key}.npz")
        except OSError as exc:
            log.warning("FP32 cache: could not store predictions in %s (%s); the run goes on without it",
                        shown(self.folder), exc.strerror or exc)
            _discard(tmp)
        except BaseException:
            _discard(tmp)
            raise

    def remove_leftovers(self) -> None:
        """Remove `.KEY.PID.npz` files of writers that were killed (PID no longer alive); nothing else."""
        try:
            names = [child.name for child in self.folder.iterdir()]
        except OSError:
            return
        for name in names:
            match = TEMPORARY.fullmatch(name)
            if match and not _alive(int(match[2])):
                _discard(self.folder / name)
