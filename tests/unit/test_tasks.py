"""Tasks as the unit of extension: every provider names a registered task, and each task's hooks (annotation-free
ground truth, agreement between passes, pictures) do what the workflow relies on, checked by hand."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from quantflow.core.adapter import ADAPTERS
from quantflow.core.decoder import DECODERS
from quantflow.core.errors import UserInputError
from quantflow.core.geometry import Geometry
from quantflow.core.metric import METRICS
from quantflow.core.task import TASKS
from quantflow.tasks.detection.coco_ap import CocoAP
from quantflow.tasks.stereo.disparity import Disparity
from tests.unit.test_stereo import kitti_folder, stereo


def test_every_provider_belongs_to_a_registered_task() -> None:
    """The workflow looks the dataset's task up by name, so no adapter, decoder or metric may name a task
    that does not exist."""
    assert {"detection", "keypoints", "stereo"} <= set(TASKS.names())
    for registry in (ADAPTERS, DECODERS, METRICS):
        for name in registry.names():
            task = registry.get(name, "test").task
            assert task in TASKS, f"{name} names task {task!r}"
            assert TASKS.get(task, "test").name == task


def test_pseudo_ground_truth_keeps_the_confident_fp32_boxes_and_scores_them_perfectly() -> None:
    rows = np.array([[1, 10, 20, 30, 40, 0.9, 3], [1, 50, 50, 10, 10, 0.2, 3], [2, 0, 0, 5, 8, 0.6, 7]], float)
    truth = TASKS.get("detection", "test")().pseudo_ground_truth(None, rows, {1: (100, 120), 2: (60, 80)}, 0.5)
    annotations = sorted((a["image_id"], a["category_id"], a["bbox"], a["area"]) for a in truth.dataset["annotations"])
    assert annotations == [(1, 3, [10.0, 20.0, 30.0, 40.0], 1200.0), (2, 7, [0.0, 0.0, 5.0, 8.0], 40.0)]
    assert {i["id"]: (i["height"], i["width"]) for i in truth.dataset["images"]} == {1: (100, 120), 2: (60, 80)}
    assert sorted(truth.getCatIds()) == [3, 7]
    confident = rows[rows[:, 5] >= 0.5]
    result = CocoAP(CocoAP.Config(type="coco_ap")).evaluate(truth, confident, [1, 2])
    assert result.value == pytest.approx(1.0)  # the reference boxes themselves match exactly


def test_tasks_without_annotation_free_mode_say_so() -> None:
    with pytest.raises(UserInputError, match="keypoints task has no annotation-free mode"):
        TASKS.get("keypoints", "test")().pseudo_ground_truth(None, np.zeros((0, 7)), {}, 0.5)


def test_keypoint_agreement_is_the_mean_distance_between_keypoints() -> None:
    reference = np.array([[0, 1, 1, 0.9, 10, 10, 1, 20, 20, 1]], float)  # two keypoints
    moved = reference.copy()
    moved[0, [4, 5]] += (3, 4)  # first keypoint moves 5 px, second stays
    agreement = TASKS.get("keypoints", "test")().agreement(reference, moved)
    assert agreement == {"keypoint shift px": pytest.approx(2.5)}
    assert TASKS.get("detection", "test")().agreement(reference, moved) == {}


def test_stereo_pictures_show_the_int8_change_on_one_colour_scale(tmp_path: Path) -> None:
    dataset = stereo("kitti", kitti_folder(tmp_path / "data"))
    offsets = {"FP32": 0.0, "INT8": 0.5}

    def decode(name: str, sample_id: int):
        return Disparity(dataset.truth(sample_id, (16, 24)) + offsets[name]), Geometry.identity(16, 24)

    task = TASKS.get("stereo", "test")()
    entries = task.pictures(decode, dataset, [1, 2], tmp_path / "run" / "maps")
    assert [e["sample"] for e in entries] == [dataset.name_of(1), dataset.name_of(2)]
    for entry in entries:
        assert entry["figures"] == {"mean_abs_difference": pytest.approx(0.5), "max_abs_difference": pytest.approx(0.5)}
        for path in entry["images"].values():
            assert cv2.imread(str(tmp_path / "run" / path)).shape == (16, 24, 3)
    assert task.pictures_title and TASKS.get("detection", "test")().pictures(decode, dataset, [1], tmp_path) == []
