"""Decoded and preprocessed inputs kept on disk across the passes of one run.

An accuracy-aware search evaluates the same search split dozens of times; reading and decoding each JPEG and
preprocessing it again costs as much CPU as a small model's inference on the two cores. The first pass writes each
sample's model input into memory-mapped files shared by the samples of one shape; later passes read slices of
them (the page cache keeps them warm, the process's memory stays flat). The cache is bounded in bytes (samples
beyond the bound are prepared as before), lives in a folder named by the same kind of key as the FP32 cache plus
a unique suffix, and is removed when the run ends.
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


SLAB_ROWS = 64  # samples per memory-mapped file


class InputCache:
    def __init__(self, prepare: Callable[[int], Prepared], parent: Path | None, key: str, limit_bytes: int) -> None:
        self.prepare = prepare
        self.limit_bytes = limit_bytes
        self.used_bytes = 0
        self.hits = 0
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"inputs-{key[:12]}-", dir=parent))
        # samples of one shape and dtype share slabs: memory-mapped files of SLAB_ROWS rows, opened once, so a
        # cached read is a slice (a file per sample costs an open and a header parse per read)
        self._slabs: dict[tuple, list[np.memmap]] = {}
        self._filled: dict[tuple, int] = {}
        self._entries: dict[int, tuple[list[tuple[tuple, int]], bool, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, sample_id: int) -> Prepared:
        entry = self._entries.get(sample_id)
        if entry is not None:
            places, several, geometry = entry
            arrays = [self._slabs[kind][row // SLAB_ROWS][row % SLAB_ROWS] for kind, row in places]
            self.hits += 1
            return (tuple(arrays) if several else arrays[0]), geometry
        tensor, geometry = self.prepare(sample_id)
        arrays = [np.ascontiguousarray(a) for a in (tensor if isinstance(tensor, tuple) else [tensor])]
        size = sum(a.nbytes for a in arrays)
        with self._lock:
            if sample_id in self._entries or self.used_bytes + size > self.limit_bytes:
                return tensor, geometry
            self.used_bytes += size
            places = [self._place(array) for array in arrays]
        for (kind, row), array in zip(places, arrays):
            self._slabs[kind][row // SLAB_ROWS][row % SLAB_ROWS] = array
        self._entries[sample_id] = (places, isinstance(tensor, tuple), geometry)
        return tensor, geometry

    def _place(self, array: np.ndarray) -> tuple[tuple, int]:
        """A free row for an array of this shape and dtype, opening a new slab when the last one is full."""
        kind = (array.shape, array.dtype.str)
        row = self._filled.get(kind, 0)
        slabs = self._slabs.setdefault(kind, [])
        if row // SLAB_ROWS == len(slabs):
            path = self.folder / f"slab-{len(self._filled)}-{len(slabs)}.bin"
            slabs.append(np.memmap(path, dtype=array.dtype, mode="w+", shape=(SLAB_ROWS, *array.shape)))
        self._filled[kind] = row + 1
        return kind, row

    @property
    def samples(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> InputCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
