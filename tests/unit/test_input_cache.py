"""The on-disk input cache of a search: what it serves equals preparing again, it holds to its byte bound, keeps
pairs as pairs, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from quantflow.pipeline.input_cache import InputCache
from quantflow.preprocessing import Pipeline
from quantflow.preprocessing.steps import Color, Layout, Normalize, Resize
from tests.conftest import ROOT

IMAGES = sorted((ROOT / "datasets" / "shapes" / "val").glob("*.jpg"))[:4]
PIPELINE = Pipeline([Resize.Config(type="resize", size=(160, 160)), Color.Config(type="color", order="rgb"),
                     Normalize.Config(type="normalize", mean=127.5, std=127.5),
                     Layout.Config(type="layout", order="nchw")])


def prepare(i: int):
    return PIPELINE(cv2.imread(str(IMAGES[i])))


def test_served_inputs_equal_fresh_ones_and_the_folder_goes(tmp_path: Path) -> None:
    calls = []
    with InputCache(lambda i: calls.append(i) or prepare(i), tmp_path, "abc" * 10, 2**30) as cache:
        first = [cache(i) for i in range(4)]
        again = [cache(i) for i in range(4)]
        folder = cache.folder
        assert calls == [0, 1, 2, 3] and cache.hits == 4 and cache.samples == 4
        for (tensor, geometry), (cached, cached_geometry) in zip(first, again):
            assert isinstance(cached, np.memmap) and np.array_equal(cached, tensor)
            assert cached_geometry == geometry
        assert folder.parent == tmp_path and len(list(folder.iterdir())) == 1  # one slab holds the four
    assert not folder.exists() and list(tmp_path.iterdir()) == []


def test_the_byte_bound_holds(tmp_path: Path) -> None:
    size = prepare(0)[0].nbytes
    with InputCache(prepare, tmp_path, "k", int(size * 2.5)) as cache:
        for _ in range(2):
            for i in range(4):
                np.testing.assert_array_equal(cache(i)[0], prepare(i)[0])
        assert cache.samples == 2 and cache.used_bytes == 2 * size and cache.hits == 2


def test_pairs_stay_pairs(tmp_path: Path) -> None:
    def pair(i: int):
        left, geometry = prepare(i)
        return (left, left[:, :1] * 2), geometry

    with InputCache(pair, tmp_path, "k", 2**30) as cache:
        fresh, _ = cache(1)
        cached, _ = cache(1)
        assert isinstance(cached, tuple) and len(cached) == 2
        assert all(np.array_equal(a, b) for a, b in zip(fresh, cached))
