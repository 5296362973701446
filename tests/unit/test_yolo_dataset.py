"""YOLO-format datasets: the shipped shapes split in YOLO form yields the boxes of its COCO json (an independent
source), label faults are named with file and line, and polygons count by their box."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from quantflow.core.errors import UserInputError
from quantflow.tasks.detection.yolo_dataset import YoloDataset, label_file, parse_labels
from tests.conftest import ROOT

SHAPES = ROOT / "datasets" / "shapes"


def dataset(data: Path, split: str = "val") -> YoloDataset:
    return YoloDataset(YoloDataset.Config(type="yolo", data=data, split=split))


def test_the_yolo_copy_of_the_shapes_split_has_the_boxes_of_its_coco_json() -> None:
    yolo = dataset(SHAPES / "yolo_format" / "data.yaml")
    truth = yolo.ground_truth()
    coco = json.loads((SHAPES / "val.json").read_text())
    category_name = {c["id"]: c["name"] for c in coco["categories"]}
    file_name = {i["id"]: i["file_name"] for i in coco["images"]}
    expected = sorted((file_name[a["image_id"]], category_name[a["category_id"]], *a["bbox"])
                      for a in coco["annotations"] if not a.get("iscrowd"))
    got = sorted((truth.imgs[a["image_id"]]["file_name"], truth.cats[a["category_id"]]["name"], *a["bbox"])
                 for a in truth.dataset["annotations"])
    assert len(got) == len(expected) > 0
    for g, e in zip(got, expected):
        assert g[:2] == e[:2] and np.allclose(g[2:], e[2:], atol=0.01), (g, e)  # 6 decimals of normalized values
    assert len(yolo.ids()) == len(file_name)
    assert yolo.category_of(np.array([0, 4, 5, -1])).tolist() == [1, 5, -1, -1]


def make(tmp_path: Path, label_text: str | None, names: str = "[a, b]") -> YoloDataset:
    root = tmp_path / "set"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    shutil.copyfile(next((SHAPES / "val").glob("*.jpg")), root / "images" / "val" / "x.jpg")
    if label_text is not None:
        (root / "labels" / "val" / "x.txt").write_text(label_text)
    (root / "data.yaml").write_text(f"path: .\nval: images/val\nnames: {names}\n")
    return dataset(root / "data.yaml")


def test_a_missing_label_file_is_an_image_without_objects(tmp_path: Path) -> None:
    yolo = make(tmp_path, None)
    assert yolo.ground_truth().dataset["annotations"] == [] and len(yolo.ids()) == 1


def test_a_polygon_counts_by_its_box(tmp_path: Path) -> None:
    yolo = make(tmp_path, "1 0.1 0.2 0.5 0.2 0.3 0.6\n")
    np.testing.assert_allclose(parse_labels(label_file(yolo.file_of(1)), 2), [[1, 0.3, 0.4, 0.4, 0.4]])


@pytest.mark.parametrize(("text", "message"), [
    ("2 0.5 0.5 0.1 0.1\n", "line 1: class 2 is not one of the 2 names"),
    ("0 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n", "line 2: coordinates must lie in 0..1"),
    ("0 0.5 0.5 0.1\n", "line 1: expected 'class cx cy w h'"),
    ("0 0.5 zero 0.1 0.1\n", "line 1: expected numbers"),
    ("0.5 0.5 0.5 0.1 0.1\n", "line 1: class 0.5 is not one of"),
])
def test_label_faults_are_named_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    yolo = make(tmp_path, text)
    with pytest.raises(UserInputError, match=f"x.txt {message}"):
        yolo.check_sample(1)


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("path: .\nval: images/val\nnames: 3\n", "names must be a list or a mapping"),
    ("path: .\ntrain: images/val\nnames: [a]\n", "has no 'val' split"),
    ("path: .\nval: images/nothing\nnames: [a]\n", "neither an image folder nor a .txt list"),
])
def test_dataset_yaml_faults_are_named(tmp_path: Path, yaml_text: str, message: str) -> None:
    make(tmp_path, None)
    (tmp_path / "set" / "data.yaml").write_text(yaml_text)
    with pytest.raises(UserInputError, match=message):
        dataset(tmp_path / "set" / "data.yaml")


def test_the_model_must_have_one_class_per_name(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="names lists 2 classes"):
        make(tmp_path, None).check_labels(range(0, 80))
