"""Decoded and preprocessed inputs kept on disk across the passes of one run.

An accuracy-aware search evaluates the same search split dozens of times; reading and decoding each JPEG and
preprocessing it again costs as much CPU as a small model's inference on the two cores. The first pass writes each
sample's model input as .npy files; later passes memory-map them (the page cache keeps them warm, the process's
memory stays flat). The cache is bounded in bytes (samples beyond the bound are prepared as before), lives in a
folder named by the same kind of key as the FP32 cache plus the process id, and is removed when the run ends.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Prepared = tuple[Any, Any]  # (model input: an array or a tuple of arrays, geometry)


class InputCache:
    def __init__(self, prepare: Callable[[int], Prepared], parent: Path | None, key: str, limit_bytes: int) -> None:
        self.prepare = prepare
        self.limit_bytes = limit_bytes
        self.used_bytes = 0
        self.hits = 0
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"inputs-{key[:12]}-", dir=parent))
        self._entries: dict[int, tuple[list[Path], bool, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, sample_id: int) -> Prepared:
        entry = self._entries.get(sample_id)
        if entry is not None:
            paths, several, geometry = entry
            arrays = [np.load(path, mmap_mode="r") for path in paths]
            self.hits += 1
            return (tuple(arrays) if several else arrays[0]), geometry
        tensor, geometry = self.prepare(sample_id)
        arrays = list(tensor) if isinstance(tensor, tuple) else [tensor]
        size = sum(a.nbytes for a in arrays)
        with self._lock:
            if sample_id in self._entries or self.used_bytes + size > self.limit_bytes:
                return tensor, geometry
            self.used_bytes += size
        paths = [self.folder / f"{sample_id}-{k}.npy" for k in range(len(arrays))]
        for path, array in zip(paths, arrays):
            np.save(path, np.ascontiguousarray(array))
        self._entries[sample_id] = (paths, isinstance(tensor, tuple), geometry)
        return tensor, geometry

    @property
    def samples(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> InputCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
