"""The COCO detection and image-folder adapters on small files written to a tmp folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from quantflow.core.adapter import ADAPTERS
from quantflow.core.errors import UserInputError
from quantflow.tasks.coco_format import load_coco
from quantflow.tasks.detection.coco_detection import CocoDetection
from quantflow.tasks.detection.image_folder import ImageFolder

CATEGORIES = [{"id": 7, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}]  # sparse, unsorted
COLOR = (40, 120, 200)  # BGR
GRAY = 90


def annotation(ann_id: int, image_id: int, category_id: int, bbox: list[float]) -> dict[str, Any]:
    """A COCO box annotation."""
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": bbox,
            "area": bbox[2] * bbox[3], "iscrowd": 0}


def coco_json() -> dict[str, Any]:
    """Four images listed out of order (id 4 has no annotations) and three sparse categories."""
    images = [{"id": 4, "file_name": "empty.jpg", "width": 32, "height": 24},
              {"id": 2, "file_name": "gray.jpg", "width": 50, "height": 30},
              {"id": 1, "file_name": "color.jpg", "width": 60, "height": 40},
              {"id": 3, "file_name": "sub/exact.png", "width": 20, "height": 16}]
    annotations = [annotation(1, 1, 1, [5, 5, 20, 10]), annotation(2, 1, 7, [30, 10, 20, 20]),
                   annotation(3, 2, 3, [0, 0, 10, 10]), annotation(4, 3, 1, [2, 2, 8, 8])]
    return {"images": images, "annotations": annotations, "categories": copy.deepcopy(CATEGORIES)}


def png_pixels() -> np.ndarray:
    """A 16x20 BGR gradient, stored losslessly."""
    y, x = np.mgrid[0:16, 0:20]
    return np.stack([x * 10, y * 15, x + y], axis=2).astype(np.uint8)


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    """instances.json and images/ (a color JPEG, a single-channel JPEG, a PNG in a subfolder, an unannotated JPEG)."""
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    cv2.imwrite(str(images / "color.jpg"), np.full((40, 60, 3), COLOR, np.uint8))
    cv2.imwrite(str(images / "gray.jpg"), np.full((30, 50), GRAY, np.uint8))
    cv2.imwrite(str(images / "sub" / "exact.png"), png_pixels())
    cv2.imwrite(str(images / "empty.jpg"), np.zeros((24, 32, 3), np.uint8))
    assert cv2.imread(str(images / "gray.jpg"), cv2.IMREAD_UNCHANGED).ndim == 2  # really single-channel on disk
    write_json(tmp_path / "instances.json", coco_json())
    return tmp_path


def write_json(path: Path, data: Any) -> Path:
    """Write data as JSON."""
    path.write_text(json.dumps(data))
    return path


def open_coco(base: Path, annotations: str = "instances.json", images: str = "images",
              **options: Any) -> CocoDetection:
    """A CocoDetection built from a raw config dict with paths relative to `base`."""
    config = CocoDetection.Config.model_validate(
        {"type": "coco_detection", "annotations": annotations, "images": images, **options},
        context={"base_dir": base})
    return CocoDetection(config)


# --- listing and loading -----------------------------------------------------------------------------------


def test_registered() -> None:
    assert ADAPTERS.get("coco_detection", "dataset") is CocoDetection
    assert ADAPTERS.get("image_folder", "dataset") is ImageFolder


def test_ids_sorted_and_include_images_without_annotations(coco_dir: Path) -> None:
    dataset = open_coco(coco_dir)
    assert dataset.ids() == [1, 2, 3, 4]
    assert dataset.coco.getAnnIds(imgIds=[4]) == []
    assert dataset.category_ids == [1, 3, 7]
    assert dataset.has_labels
    assert dataset.file_of(3) == (coco_dir / "images" / "sub" / "exact.png").resolve()


def test_paths_resolve_against_base_dir(coco_dir: Path) -> None:
    dataset = open_coco(coco_dir)
    assert dataset.config.annotations == (coco_dir / "instances.json").resolve()
    assert dataset.config.images.is_absolute()


def test_load_color_jpeg(coco_dir: Path) -> None:
    image = open_coco(coco_dir).load_image(1)
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - COLOR).max() <= 3  # JPEG is lossy, a solid color nearly survives


def test_grayscale_jpeg_loads_as_three_channels(coco_dir: Path) -> None:
    image = open_coco(coco_dir).load_image(2)
    assert image.shape == (30, 50, 3) and image.dtype == np.uint8
    assert (image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all()
    assert np.abs(image.astype(int) - GRAY).max() <= 2


def test_png_loads_exactly(coco_dir: Path) -> None:
    np.testing.assert_array_equal(open_coco(coco_dir).load_image(3), png_pixels())


def test_ground_truth_kept_as_is(coco_dir: Path) -> None:
    coco = open_coco(coco_dir).coco
    assert sorted(coco.cats) == [1, 3, 7]
    assert coco.anns[2]["bbox"] == [30, 10, 20, 20] and coco.anns[2]["category_id"] == 7
    assert sorted(a["id"] for a in coco.imgToAnns[1]) == [1, 2]


def test_load_coco_refuses_a_file_without_annotations(tmp_path: Path) -> None:
    data = coco_json()
    del data["annotations"]
    with pytest.raises(UserInputError, match=r"where: a.json: not a COCO .* \(expected a list 'annotations'\)"):
        load_coco(write_json(tmp_path / "a.json", data), "where")


# --- label maps --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label_map", "labels", "expected"), [
    ("contiguous_from_0", [0, 1, 2, 3, -1], [1, 3, 7, -1, -1]),
    ("contiguous_from_1", [0, 1, 2, 3, 4], [-1, 1, 3, 7, -1]),
    ("category_id", [1, 3, 7, 2, 0, 8], [1, 3, 7, -1, -1, -1]),
    ({0: 7, 5: 1}, [0, 5, 1, 7], [7, 1, -1, -1]),
    ({"2": 3}, [2, 3], [3, -1]),  # keys as YAML/JSON give them
])
def test_label_map(coco_dir: Path, label_map: Any, labels: list[int], expected: list[int]) -> None:
    result = open_coco(coco_dir, label_map=label_map).category_of(np.array(labels))
    assert result.dtype == np.int64
    assert result.tolist() == expected


def test_label_map_default_is_category_id(coco_dir: Path) -> None:
    assert open_coco(coco_dir).category_of(np.array([1, 2, 3])).tolist() == [1, -1, 3]


def test_category_of_empty(coco_dir: Path) -> None:
    result = open_coco(coco_dir, label_map="contiguous_from_0").category_of(np.zeros(0, np.int64))
    assert result.shape == (0,) and result.dtype == np.int64


def test_label_map_naming_unknown_category(coco_dir: Path) -> None:
    with pytest.raises(UserInputError, match=r"^dataset\.label_map: category ids \[2, 90\] are not in the annotation"):
        open_coco(coco_dir, label_map={0: 1, 1: 90, 2: 2})


def test_label_map_unknown_scheme(coco_dir: Path) -> None:
    with pytest.raises(ValidationError):
        open_coco(coco_dir, label_map="contiguous_from_2")


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "message"), [
    ([{"images": [], "categories": []}], "not a COCO annotation file \\(expected a mapping"),
    ({"images": [], "annotations": []}, "'images' is empty"),
    ({"images": {}, "categories": []}, "not a COCO annotation file \\(expected a list 'images'\\)"),
    ("instances", "not a COCO annotation file \\(expected a mapping"),
])
def test_not_a_coco_file(coco_dir: Path, data: Any, message: str) -> None:
    write_json(coco_dir / "instances.json", data)
    with pytest.raises(UserInputError, match=rf"^dataset\.annotations: instances\.json: {message}"):
        open_coco(coco_dir)


def _broken(path: str, value: Any) -> dict:
    """The test json with one value replaced (`annotations.1.bbox`) or removed (value `DELETE`)."""
    data = coco_json()
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return data


DELETE = object()


@pytest.mark.parametrize(("path", "value", "message"), [
    ("annotations.1.bbox", DELETE, r"annotations\[1\] \(id 2\): lacks bbox"),
    ("annotations.2.id", DELETE, r"annotations\[2\]: lacks id"),
    ("annotations.2.area", DELETE, r"annotations\[2\] \(id 3\): lacks area"),
    ("annotations.2.iscrowd", DELETE, r"annotations\[2\] \(id 3\): lacks iscrowd"),
    ("categories.0.name", DELETE, r"categories\[0\] \(id 7\): lacks name"),
    ("images", [], "'images' is empty: nothing to evaluate"),
    ("categories", [], "'categories' is empty"),
    ("annotations", [], "'annotations' is empty: no ground truth"),
    ("images.1.id", 1, r"images\[2\] \(id 1\): id is also images\[1\]"),
    ("annotations.1.id", 1, r"annotations\[1\] \(id 1\): id is also annotations\[0\]"),
    ("annotations.0.image_id", 99, r"annotations\[0\] \(id 1\): image_id 99 is not an id in 'images'"),
    ("annotations.0.category_id", 2, r"annotations\[0\] \(id 1\): category_id 2 is not an id in 'categories'"),
    ("annotations.0.bbox", [1, 2, 3], r"bbox must be four finite numbers \[x, y, width, height\], got \[1, 2, 3\]"),
    ("annotations.0.bbox", ["1", 2, 3, 4], "bbox must be four finite numbers"),
    ("annotations.0.bbox", [1, 2, float("nan"), 4], "bbox must be four finite numbers"),
    ("annotations.0.bbox", [1, 2, -5, 4], r"annotations\[0\] \(id 1\): bbox \[1, 2, -5, 4\] has no area"),
    ("annotations.0.bbox", [1, 2, 0, 4], "has no area"),
    ("annotations.0.bbox", [500, 500, 4, 4], r"lies outside its 60×40 image"),
    ("annotations.0.iscrowd", "yes", r"iscrowd must be 0 or 1, got 'yes'"),
    ("annotations.0.area", -1, "area must be a finite number >= 0"),
    ("images.0.id", "1", r"images\[0\] \(id 1\): id must be an integer"),
    ("images.0.width", "wide", r"images\[0\] \(id 4\): width must be a positive integer, got 'wide'"),
    ("images.0", [1, 2, 3], r"images\[0\] is list \[1, 2, 3\], expected a mapping"),
    ("images.1.file_name", "empty.jpg", r"images\[1\] \(id 2\): file_name empty.jpg is also images\[0\]"),
    ("categories.1.id", "3", r"categories\[1\] \(id 3\): id must be an integer"),
])
def test_coco_rules(coco_dir: Path, path: str, value: Any, message: str) -> None:
    write_json(coco_dir / "instances.json", _broken(path, value))
    with pytest.raises(UserInputError, match=rf"^dataset\.annotations: instances\.json: .*{message}"):
        open_coco(coco_dir)


def test_box_past_the_border_is_clipped_with_a_warning(coco_dir: Path, caplog) -> None:
    data = coco_json()
    width = data["images"][2]["width"]  # annotation 1 is on image 1, images[2]
    data["annotations"][0]["bbox"] = [2, 3, 1e308, 5]
    write_json(coco_dir / "instances.json", data)
    coco = open_coco(coco_dir).coco
    assert coco.anns[1]["bbox"] == [2, 3, width - 2, 5]
    assert "1 boxes reach more than 1 px past their image and were clipped" in caplog.text


def test_invalid_json(coco_dir: Path) -> None:
    (coco_dir / "instances.json").write_text('{"images": [')
    with pytest.raises(UserInputError, match=r"^dataset\.annotations: instances\.json is not a JSON file"):
        open_coco(coco_dir)


def test_binary_annotation_file(coco_dir: Path) -> None:
    (coco_dir / "instances.json").write_bytes(b"\xff\xfe\x00garbage\x9c")
    with pytest.raises(UserInputError, match=r"^dataset\.annotations: instances\.json is not a JSON file \(not UTF-8"):
        open_coco(coco_dir)


def test_image_missing_on_disk(coco_dir: Path) -> None:
    (coco_dir / "images" / "gray.jpg").unlink()
    with pytest.raises(UserInputError, match=r"^dataset\.images: file not found: gray\.jpg$"):
        open_coco(coco_dir)


def test_several_images_missing_on_disk(coco_dir: Path) -> None:
    (coco_dir / "images" / "gray.jpg").unlink()
    (coco_dir / "images" / "empty.jpg").unlink()
    with pytest.raises(UserInputError, match=r"file not found: gray\.jpg \(and 1 more\)"):
        open_coco(coco_dir)


def test_annotation_file_missing(coco_dir: Path) -> None:
    with pytest.raises(ValidationError, match="file not found: nope.json"):
        open_coco(coco_dir, annotations="nope.json")


def test_undecodable_image(coco_dir: Path) -> None:
    (coco_dir / "images" / "color.jpg").write_bytes(b"this is not a jpeg" * 10)
    dataset = open_coco(coco_dir)  # listing only checks the files exist
    with pytest.raises(UserInputError, match=r"^dataset\.images: cannot decode image .*color\.jpg"):
        dataset.load_image(1)
    assert dataset.load_image(2).shape == (30, 50, 3)  # the others still load


# --- fingerprint -------------------------------------------------------------------------------------------


def test_fingerprint_stable_and_sensitive(coco_dir: Path) -> None:
    first = open_coco(coco_dir).fingerprint()
    assert open_coco(coco_dir).fingerprint() == first
    image = coco_dir / "images" / "color.jpg"
    size = image.stat().st_size
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    assert image.stat().st_size != size
    second = open_coco(coco_dir).fingerprint()
    assert second != first
    data = coco_json()
    data["annotations"][0]["bbox"] = [6, 5, 20, 10]
    write_json(coco_dir / "instances.json", data)
    assert open_coco(coco_dir).fingerprint() != second


# --- ImageFolder -------------------------------------------------------------------------------------------


def open_folder(base: Path, images: str = "folder") -> ImageFolder:
    """An ImageFolder on base/images."""
    config = ImageFolder.Config.model_validate({"type": "image_folder", "images": images}, context={"base_dir": base})
    return ImageFolder(config)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Images of different formats, named out of write order, plus files that are not images."""
    root = tmp_path / "folder"
    root.mkdir()
    cv2.imwrite(str(root / "b.png"), np.full((10, 12, 3), 1, np.uint8))
    cv2.imwrite(str(root / "d.BMP"), np.full((11, 13, 3), 3, np.uint8))
    cv2.imwrite(str(root / "a.jpg"), np.full((8, 9), 200, np.uint8))
    cv2.imwrite(str(root / "c.jpeg"), np.full((7, 6, 3), 2, np.uint8))
    (root / "notes.txt").write_text("not an image")
    (root / "labels.json").write_text("{}")
    (root / "sub.jpg").mkdir()  # a folder named like an image is not an image
    return tmp_path


def test_image_folder_ids_and_order(folder: Path) -> None:
    dataset = open_folder(folder)
    names = [dataset.file_of(i).name for i in dataset.ids()]
    assert dataset.ids() == list(range(1, len(names) + 1))
    assert names == ["a.jpg", "b.png", "c.jpeg", "d.BMP"]
    assert not dataset.has_labels


def test_image_folder_loads_images(folder: Path) -> None:
    dataset = open_folder(folder)
    by_name = {dataset.file_of(i).name: i for i in dataset.ids()}
    assert dataset.load_image(by_name["a.jpg"]).shape == (8, 9, 3)
    assert (dataset.load_image(by_name["b.png"]) == 1).all()
    assert dataset.load_image(by_name["d.BMP"]).shape == (11, 13, 3)


def test_image_folder_labels_pass_through(folder: Path) -> None:
    result = open_folder(folder).category_of(np.array([1, 0, 5]))
    assert result.tolist() == [1, 0, 5] and result.dtype == np.int64


def test_image_folder_empty(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "readme.txt").write_text("nothing here")
    with pytest.raises(UserInputError, match=r"^dataset\.images: no images \(.*\.jpg.*\) in "):
        open_folder(tmp_path)


def test_image_folder_where_in_messages(tmp_path: Path) -> None:
    (tmp_path / "calib").mkdir()
    with pytest.raises(UserInputError, match=r"^calibration\.images: no images"):
        ImageFolder.from_folder(tmp_path / "calib", "calibration.images")


def test_image_folder_not_a_folder(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValidationError, match=r"expected a folder, got a file: one.png"):
        open_folder(tmp_path, "one.png")


def test_image_folder_fingerprint_follows_file_size(folder: Path) -> None:
    first = open_folder(folder).fingerprint()
    assert open_folder(folder).fingerprint() == first
    cv2.imwrite(str(folder / "folder" / "b.png"), np.random.default_rng(1).integers(0, 255, (10, 12, 3), np.uint8))
    assert open_folder(folder).fingerprint() != first
