"""The task contract: what one kind of vision problem adds to a run beyond its adapters, decoders and metrics.

A task is a folder under `quantflow/tasks/` holding its adapters, decoders, metrics and one `Task` subclass
registered under the name its providers carry in `task`. The workflow calls the hooks below and knows no task
by name; each hook's default is "this task has nothing of the kind", so a new task overrides only what it has.
Result rows (column 0 the sample id) are laid out by the task; only its own code reads their other columns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from quantflow.core.errors import UserInputError
from quantflow.core.registry import Registry

TASKS: Registry = Registry("task", package="quantflow.tasks")

# (precision name, sample id) → (the decoder's output for that sample, the sample's Geometry)
DecodeSample = Callable[[str, int], tuple[Any, Any]]


def fp32_and_int8(decode: DecodeSample, sample_id: int, to_map: Callable[[Any, Any], np.ndarray]):
    """One sample decoded by FP32 and by INT8, each output made a map by `to_map(decoded, geometry)`; and the
    sample's geometry."""
    maps = {}
    for name in ("FP32", "INT8"):
        decoded, geometry = decode(name, sample_id)
        maps[name] = to_map(decoded, geometry)
    return maps, geometry


def write_pictures(folder: Path, stem: str, images: dict[str, np.ndarray]) -> dict[str, str]:
    """PNG files named stem_kind.png; their paths relative to the run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, image in images.items():
        cv2.imwrite(str(folder / f"{stem}_{kind}.png"), image)
        paths[kind] = f"{folder.name}/{stem}_{kind}.png"
    return paths


class Task:
    """Subclasses set `name` (the registry name) and override the hooks their task has."""

    name: str = ""
    pictures_title: str = ""  # the reports' heading over `pictures`
    pictures_note: str = ""  # what the pictures show, under that heading

    def pseudo_ground_truth(self, dataset, rows: np.ndarray, sizes: dict[int, tuple[int, int]], threshold: float):
        """Annotation-free mode: ground truth made of the FP32 result rows of `dataset` (sizes: sample id →
        (height, width))."""
        raise UserInputError(f"dataset: the {self.name} task has no annotation-free mode; give annotations")

    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        """How far two passes over the same samples (rows in the same order) disagree, in the task's own terms
        (named figures for the report's embedded-vs-external table)."""
        return {}

    def changes(self, dataset, ground_truth, reference: np.ndarray, other: np.ndarray) -> dict | None:
        """The samples whose result INT8 (`other`) changes against FP32 (`reference`; rows in the same order), as
        {"title", "note", "total", "entries": [{"sample", "reference", "FP32", "INT8"}]} for the report."""
        return None

    def pictures(self, decode: DecodeSample, dataset, sample_ids: list[int], folder: Path) -> list[dict]:
        """Images that show INT8's effect (written into `folder`), each entry {"sample", "images": {kind: path
        relative to the run folder}, "caption"}; `decode` runs FP32 or INT8 on one sample."""
        return []
