"""Seeded subsets, so calibration and evaluation pick the same images on every run and every machine."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def seeded_subset(ids: list[int], size: int | None, seed: int, what: str) -> list[int]:
    """`size` ids drawn without replacement by numpy's PCG64 from `seed`, in dataset order; all when size is None."""
    if size is None or size >= len(ids):
        if size is not None and size > len(ids):
            log.warning("%s: asked for %d samples, the source has %d; using all", what, size, len(ids))
        return list(ids)
    chosen = np.random.default_rng(seed).choice(len(ids), size=size, replace=False)
    return [ids[i] for i in sorted(chosen)]
