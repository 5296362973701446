"""Segmentation pieces: mIoU / pixel accuracy / per-class IoU against scikit-learn, the confusion matrix fed
image by image, class maps mapped back through a letterbox, the decoder's layouts, VOC palette and Cityscapes
mask layouts with their refusals, and COCO polygons turned into class maps."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix, jaccard_score

from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Geometry
from quantflow.tasks.segmentation.class_map import ClassMap, ClassMapDecoder
from quantflow.tasks.segmentation.coco_masks import CocoMasks
from quantflow.tasks.segmentation.index_masks import IndexMasks
from quantflow.tasks.segmentation.mask_dataset import SegmentationTruth
from quantflow.tasks.segmentation.mean_iou import MeanIoU, confusion_rows


def metric() -> MeanIoU:
    return MeanIoU(MeanIoU.Config(type="mean_iou"))


def test_mean_iou_equals_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    classes, images = 5, 6
    truths = [rng.integers(0, classes, (20, 30)) for _ in range(images)]
    truths[2][truths[2] == 4] = 255  # ignored pixels
    predictions = [np.where(rng.uniform(size=t.shape) < 0.7, np.minimum(t, classes - 1),
                            rng.integers(0, classes, t.shape)) for t in truths]
    predictions[0][predictions[0] == 3] = 1  # class 3 never predicted in image 0
    rows = np.concatenate([confusion_rows(i + 1, t, p, t != 255, classes)
                           for i, (t, p) in enumerate(zip(truths, predictions))])
    names = [f"c{k}" for k in range(classes)]
    result = metric().evaluate(SegmentationTruth(names), rows, list(range(1, images + 1)), per_item=True)
    valid = np.concatenate([(t != 255).ravel() for t in truths])
    y_true = np.concatenate([t.ravel() for t in truths])[valid]
    y_pred = np.concatenate([p.ravel() for p in predictions])[valid]
    per_class = jaccard_score(y_true, y_pred, average=None, labels=list(range(classes)))
    assert result.summary["mIoU"] == pytest.approx(per_class.mean(), rel=1e-12)
    assert [result.breakdown[n] for n in names] == pytest.approx(per_class.tolist(), rel=1e-12)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(classes)))
    assert result.summary["pixel accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum(), rel=1e-12)
    assert result.summary["mean class accuracy"] == pytest.approx(np.mean(np.diag(matrix) / matrix.sum(1)))
    for index, (t, p) in enumerate(zip(truths, predictions)):
        keep = t != 255
        present = sorted(set(t[keep].ravel()) | set(p[keep].ravel()))
        alone = jaccard_score(t[keep].ravel(), p[keep].ravel(), average="macro", labels=present)
        assert result.per_item[index + 1] == pytest.approx(alone, rel=1e-12)
    session = metric().session(SegmentationTruth(names), [1, 2, 3, 4, 5, 6])
    for image_id in (3, 1, 6, 2, 5, 4):  # images finish in any order
        session.add([image_id], rows[rows[:, 0] == image_id])
    assert session.result().summary == result.summary
    subset = metric().evaluate(SegmentationTruth(names), rows, [2, 5])
    assert subset.summary != result.summary


def test_iou_worked_out_by_hand_and_absent_classes() -> None:
    truth = np.array([[0, 0, 1, 1]])
    predicted = np.array([[0, 1, 1, 1]])
    rows = confusion_rows(1, truth, predicted, np.ones_like(truth, bool), 3)
    np.testing.assert_array_equal(rows, [[1, 0, 0, 1], [1, 0, 1, 1], [1, 1, 1, 2]])
    result = metric().evaluate(SegmentationTruth(["bg", "a", "b"]), rows, [1])
    # class 0: 1 / (2 + 1 - 1) = 0.5; class 1: 2 / (3 + 2 - 2) = 2/3; class 2 in neither: no IoU, not averaged.
    assert result.breakdown == {"bg": pytest.approx(0.5), "a": pytest.approx(2 / 3), "b": None}
    assert result.summary["mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert result.summary["pixel accuracy"] == pytest.approx(0.75)
    empty = metric().evaluate(SegmentationTruth(["bg"]), np.zeros((0, 4)), [1])
    assert empty.summary["mIoU"] is None


def test_class_maps_go_back_through_a_letterbox() -> None:
    # 40 x 80 original letterboxed into 64 x 64: scale 0.8, 16 rows of padding on top; output grid stride 4 (16 x 16).
    geometry = Geometry((40, 80), (64, 64), (0.8, 0.8), (16.0, 0.0))
    scores = np.zeros((16, 16, 3), np.float32)
    scores[:, :8, 1] = 1.0   # left half of the output: class 1
    scores[:, 8:, 2] = 1.0   # right half: class 2
    labels = ClassMap(scores).to_original(geometry)
    assert labels.shape == (40, 80) and labels.dtype == np.uint16
    assert (labels[:, :38] == 1).all() and (labels[:, 42:] == 2).all()
    single = np.where(np.arange(16)[None, :, None] < 8, 3.0, -3.0).repeat(16, 0).astype(np.float32)
    foreground = ClassMap(single, threshold=0.0).to_original(geometry)
    assert (foreground[:, :38] == 1).all() and (foreground[:, 42:] == 0).all()
    indices = ClassMap(np.where(np.arange(16)[None, :] < 8, 4, 0).repeat(16, 0)).to_original(geometry)
    assert set(np.unique(indices)) == {0, 4} and (indices[:, :39] == 4).all()


def bound(shape: tuple[int, ...], **config) -> ClassMapDecoder:
    decoder = ClassMapDecoder(ClassMapDecoder.Config(type="class_map", **config))
    decoder.bind([OutputInfo(0, frozenset({"out"}), shape)])
    return decoder


def test_decoder_layouts_and_single_channel_scores() -> None:
    assert bound((1, 21, 64, 64)).layout == "nchw" and bound((1, 21, 64, 64)).class_labels() == range(21)
    assert bound((1, 64, 64, 6)).layout == "nhwc" and bound((1, -1, -1, 6)).class_labels() == range(6)
    assert bound((1, 1, 160, 160)).class_labels() == range(2)
    assert bound((1, 64, 64)).class_labels() is None
    with pytest.raises(UserInputError, match="cannot tell the class axis of out\\[1, 32, 32, 32\\]"):
        bound((1, 32, 32, 32))
    assert bound((1, 32, 32, 32), layout="nhwc").class_labels() == range(32)
    probabilities = bound((1, 1, 4, 4))
    decoded = probabilities.decode([np.full((1, 1, 4, 4), 0.7, np.float32)])
    assert decoded.threshold == 0.5 and decoded.values.shape == (4, 4, 1)
    again = probabilities.decode([np.full((1, 1, 4, 4), -2.0, np.float32)])  # the first image decided
    assert again.threshold == 0.5
    logits = bound((1, 1, 4, 4), threshold=0.75)
    assert logits.decode([np.full((1, 1, 4, 4), -2.0, np.float32)]).threshold == pytest.approx(np.log(3))


def palette_png(path: Path, indices: np.ndarray) -> None:
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette([v for i in range(256) for v in (i * 3 % 256, i * 7 % 256, i * 11 % 256)])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def image_file(path: Path, height: int, width: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 100, np.uint8))


def test_voc_palette_masks_split_and_refusals(tmp_path: Path) -> None:
    for stem in ("2007_000032", "2007_000039", "2007_000063"):
        image_file(tmp_path / "JPEGImages" / f"{stem}.jpg", 6, 8)
    image_file(tmp_path / "JPEGImages" / "2007_000001.jpg", 6, 8)  # an image without a mask is no sample
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 2:5], mask[5] = 15, 255
    for stem in ("2007_000032", "2007_000039"):
        palette_png(tmp_path / "SegmentationClass" / f"{stem}.png", mask)
    (tmp_path / "names.txt").write_text("\n".join(f"class{i}" for i in range(21)))

    def make(**extra) -> IndexMasks:
        return IndexMasks(IndexMasks.Config(type="index_masks", images=tmp_path / "JPEGImages",
                                            masks=tmp_path / "SegmentationClass", classes=tmp_path / "names.txt",
                                            **extra))

    dataset = make()
    assert [dataset.name_of(i) for i in dataset.ids()] == ["2007_000032", "2007_000039"]
    truth = dataset.truth(1, (6, 8))
    assert truth[1, 2] == 15 and truth[5, 0] == 255 and truth[0, 0] == 0  # indices, not palette colours
    (tmp_path / "val.txt").write_text("2007_000039\n")
    assert len(make(split=tmp_path / "val.txt").ids()) == 1
    (tmp_path / "val.txt").write_text("2007_000063\n")
    with pytest.raises(UserInputError, match="dataset.split: 2007_000063 has no mask"):
        make(split=tmp_path / "val.txt")
    with pytest.raises(UserInputError, match="dataset.masks: 2007_000032.png is 8x6 .* its image is 9x6"):
        dataset.truth(1, (6, 9))
    (tmp_path / "names.txt").write_text("\n".join(f"class{i}" for i in range(10)))
    with pytest.raises(UserInputError, match="2007_000032.png holds class 15, beyond the 10 classes of names.txt"):
        make().check_sample(1)
    cv2.imwrite(str(tmp_path / "SegmentationClass" / "2007_000039.png"), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(UserInputError, match="2007_000039.png is a RGB image; expected class indices"):
        make().check_sample(2)
    palette_png(tmp_path / "SegmentationClass" / "2007_000077.png", mask)
    with pytest.raises(UserInputError, match="dataset.images: mask 2007_000077.png has no image 2007_000077.*"):
        make()


def test_cityscapes_names_and_city_folders(tmp_path: Path) -> None:
    stem = "frankfurt_000000_000294"
    image_file(tmp_path / "leftImg8bit/val/frankfurt" / f"{stem}_leftImg8bit.png", 4, 8)
    (tmp_path / "gtFine/val/frankfurt").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "gtFine/val/frankfurt" / f"{stem}_gtFine_labelTrainIds.png"),
                np.full((4, 8), 18, np.uint8))
    cv2.imwrite(str(tmp_path / "gtFine/val/frankfurt" / f"{stem}_gtFine_color.png"), np.zeros((4, 8, 3), np.uint8))
    dataset = IndexMasks(IndexMasks.Config(
        type="index_masks", images=tmp_path / "leftImg8bit/val", masks=tmp_path / "gtFine/val",
        mask_suffix="_gtFine_labelTrainIds.png", image_suffix="_leftImg8bit"))
    assert dataset.ids() == [1] and dataset.file_of(1).name == f"{stem}_leftImg8bit.png"
    dataset.check_labels(range(19))
    assert (dataset.truth(1, (4, 8)) == 18).all() and len(dataset.names) == 19
    with pytest.raises(UserInputError, match="decoder: the model scores 20 classes, but the model names 19"):
        dataset.check_labels(range(20))


def test_coco_polygons_become_class_maps(tmp_path: Path) -> None:
    from pycocotools import mask as mask_api

    image_file(tmp_path / "images" / "a.jpg", 20, 30)
    square = [[2, 2, 12, 2, 12, 12, 2, 12]]
    overlapping = [[8, 8, 20, 8, 20, 18, 8, 18]]
    crowd = mask_api.encode(np.asfortranarray(np.pad(np.ones((3, 3), np.uint8), ((15, 2), (25, 2)))))
    crowd["counts"] = crowd["counts"].decode()
    coco = {"images": [{"id": 5, "file_name": "a.jpg", "width": 30, "height": 20}],
            "categories": [{"id": 9, "name": "dog"}, {"id": 3, "name": "cat"}],
            "annotations": [
                {"id": 1, "image_id": 5, "category_id": 9, "bbox": [2, 2, 10, 10], "area": 100, "iscrowd": 0,
                 "segmentation": square},
                {"id": 2, "image_id": 5, "category_id": 3, "bbox": [8, 8, 12, 10], "area": 120, "iscrowd": 0,
                 "segmentation": overlapping},
                {"id": 3, "image_id": 5, "category_id": 3, "bbox": [25, 15, 3, 3], "area": 9, "iscrowd": 1,
                 "segmentation": crowd}]}
    (tmp_path / "val.json").write_text(json.dumps(coco))
    dataset = CocoMasks(CocoMasks.Config(type="coco_masks", annotations=tmp_path / "val.json",
                                         images=tmp_path / "images"))
    assert dataset.ground_truth().names == ["background", "cat", "dog"]  # category-id order: 3, then 9
    truth = dataset.truth(1, (20, 30))
    dog = mask_api.decode(mask_api.frPyObjects(square, 20, 30)).max(2).astype(bool)
    cat = mask_api.decode(mask_api.frPyObjects(overlapping, 20, 30)).max(2).astype(bool)
    assert (truth[dog & ~cat] == 2).all() and (truth[cat & ~dog] == 1).all() and (truth[dog & cat] == 255).all()
    assert (truth[15:18, 25:28] == 1).all() and (truth[~(dog | cat)][:5] == 0).all()
    coco["annotations"][0]["segmentation"] = []
    (tmp_path / "val.json").write_text(json.dumps(coco))
    with pytest.raises(UserInputError, match="annotation 1 has no segmentation"):
        CocoMasks(CocoMasks.Config(type="coco_masks", annotations=tmp_path / "val.json", images=tmp_path / "images"))
