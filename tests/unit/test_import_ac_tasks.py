"""`import-pot` for Accuracy Checker's classification, segmentation and salient-object entries: the converter
becomes the quantflow dataset, the adapter the decoder, AC's metrics the task's metric, `resize greater` +
`crop` the shorter-side resize and centre crop; what does not map is listed. The imported classification entry
checks on the shipped sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from quantflow.config.schema import PreprocessingConfig
from quantflow.importers import Where
from quantflow.importers.accuracy_checker import import_model
from tests.conftest import ROOT, run_cli

AT = Where("ac.yml", "models[0]")


def mobilenet(data_source: str = "ILSVRC2012_img_val") -> dict:
    """Open Model Zoo's mobilenet-v2-1.0-224 accuracy-check entry, its imagenet dataset definition inline."""
    return {"name": "mobilenet-v2-1.0-224",
            "launchers": [{"framework": "openvino", "adapter": "classification"}],
            "datasets": [{"name": "imagenet_1001_classes", "data_source": data_source,
                          "annotation_conversion": {"converter": "imagenet", "annotation_file": "val.txt",
                                                    "labels_file": "synset_words.txt", "has_background": True},
                          "preprocessing": [{"type": "resize", "size": 256, "aspect_ratio_scale": "greater"},
                                            {"type": "crop", "size": 224},
                                            {"type": "normalization", "mean": "127.5", "std": "127.5"}],
                          "metrics": [{"name": "accuracy@top1", "type": "accuracy", "top_k": 1},
                                      {"name": "accuracy@top5", "type": "accuracy", "top_k": 5}]}]}


def notes_about(notes: list[str], fragment: str) -> list[str]:
    return [note for note in notes if fragment in note]


def test_imagenet_classification_entry() -> None:
    sections, notes = import_model(mobilenet(), AT, "/data/imagenet")
    assert sections["dataset"] == {"type": "image_labels", "images": "/data/imagenet/ILSVRC2012_img_val",
                                   "labels": "/data/imagenet/val.txt", "classes": "/data/imagenet/synset_words.txt"}
    assert sections["decoder"] == {"type": "class_scores", "background_offset": 1}
    assert sections["metric"] == {"type": "accuracy"}
    assert sections["preprocessing"][:2] == [{"resize": {"shorter_side": 256}}, {"center_crop": {"size": [224, 224]}}]
    PreprocessingConfig.model_validate({"steps": sections["preprocessing"]})
    assert "reports top-1 and top-5" in notes_about(notes, "top_k")[0]
    assert "one metric" in notes_about(notes, "accuracy@top5")[0]


def test_voc_cityscapes_and_common_segmentation_entries() -> None:
    voc = {"name": "deeplabv3", "launchers": [{"framework": "openvino",
                                                "adapter": {"type": "segmentation", "make_argmax": True}}],
           "datasets": [{"name": "VOC2012_Segmentation", "data_source": "VOCdevkit/VOC2012/JPEGImages",
                         "segmentation_masks_source": "VOCdevkit/VOC2012/SegmentationClass",
                         "annotation_conversion": {"converter": "voc_segmentation",
                                                   "imageset_file": "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt",
                                                   "dataset_meta_file": "voc.json"},
                         "preprocessing": [{"type": "resize", "size": 513}],
                         "postprocessing": [{"type": "encode_segmentation_mask", "apply_to": "annotation"},
                                            {"type": "resize_segmentation_mask", "apply_to": "prediction"}],
                         "metrics": [{"type": "segmentation_accuracy"}, {"type": "mean_iou"}]}]}
    sections, notes = import_model(voc, AT, "/data")
    assert sections["dataset"] == {"type": "index_masks", "images": "/data/VOCdevkit/VOC2012/JPEGImages",
                                   "masks": "/data/VOCdevkit/VOC2012/SegmentationClass",
                                   "split": "/data/VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt"}
    assert sections["decoder"] == {"type": "class_map"} and sections["metric"] == {"type": "mean_iou"}
    assert "argmax" in notes_about(notes, "make_argmax")[0]
    assert "resizes predicted maps back" in notes_about(notes, "resize_segmentation_mask")[0]
    assert "dataset.classes" in notes_about(notes, "dataset_meta_file")[0]
    city = {**voc, "datasets": [{"name": "cityscapes", "annotation_conversion": {
        "converter": "cityscapes", "dataset_root_dir": "Cityscapes"}, "metrics": [{"type": "mean_iou"}]}]}
    sections, _ = import_model(city, AT, None)
    assert sections["dataset"] == {"type": "index_masks", "images": "Cityscapes/imgsFine/leftImg8bit/val",
                                   "masks": "Cityscapes/gtFine/val", "mask_suffix": "_gtFine_labelTrainIds.png",
                                   "image_suffix": "_leftImg8bit"}
    common = {**voc, "datasets": [{"name": "ade", "annotation_conversion": {
        "converter": "common_semantic_segmentation", "images_dir": "images", "masks_dir": "masks"}}]}
    sections, notes = import_model(common, AT, None)
    assert sections["dataset"] == {"type": "index_masks", "images": "images", "masks": "masks"}
    assert sections["metric"] == {"type": "mean_iou"}


def test_salient_object_entry() -> None:
    entry = {"name": "f3net", "launchers": [{"framework": "openvino", "adapter": {
        "type": "salient_object_detection", "salient_map_output": "saliency_map"}}],
             "datasets": [{"name": "PASCAL-S", "annotation_conversion": {
                 "converter": "salient_object_detection", "images_dir": "PASCAL-S/image",
                 "masks_dir": "PASCAL-S/mask", "annotation_file": "PASCAL-S/val.txt"},
                 "metrics": [{"type": "f-measure"}, {"type": "mae"}]}]}
    sections, notes = import_model(entry, AT, "/data")
    assert sections["dataset"] == {"type": "salient_masks", "images": "/data/PASCAL-S/image",
                                   "masks": "/data/PASCAL-S/mask"}
    assert sections["decoder"] == {"type": "foreground_map", "output": "saliency_map"}
    assert sections["metric"] == {"type": "saliency"}
    assert notes_about(notes, "annotation_file")


@pytest.mark.slow
def test_imported_classification_entry_checks_on_the_sample(tmp_path: Path) -> None:
    """The imported entry, pointed at the sample written in the ILSVRC layout, passes `quantflow check`."""
    names = (ROOT / "datasets/classification/classes.txt").read_text().split()
    lines = [f"{name}/{path.name} {index}" for index, name in enumerate(names)
             for path in sorted((ROOT / "datasets/classification/val" / name).glob("*.jpg"))]
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "synset_words.txt").write_text("\n".join(names) + "\n")
    entry = mobilenet(str(ROOT / "datasets/classification/val"))
    entry["datasets"][0]["annotation_conversion"].update(annotation_file=str(tmp_path / "val.txt"),
                                                         labels_file=str(tmp_path / "synset_words.txt"))
    entry["datasets"][0]["preprocessing"] = [{"type": "resize", "size": 110, "aspect_ratio_scale": "greater"},
                                             {"type": "crop", "size": 96}, {"type": "bgr_to_rgb"},
                                             {"type": "normalization", "mean": 0, "std": 255}]
    (tmp_path / "ac.yml").write_text(yaml.safe_dump({"models": [entry]}))
    pot = {"model": {"model_name": "shapes-classifier",
                     "model": str(ROOT / "datasets/classification/model/saved_model")},
           "engine": {"type": "accuracy_checker", "config": str(tmp_path / "ac.yml")},
           "compression": {"algorithms": [{"name": "DefaultQuantization", "params": {"preset": "performance"}}]}}
    (tmp_path / "pot.json").write_text(json.dumps(pot))
    imported = run_cli("import-pot", str(tmp_path / "pot.json"), "-o", str(tmp_path / "config.yml"))
    assert imported.returncode == 0, imported.stderr
    config = yaml.safe_load((tmp_path / "config.yml").read_text())
    config["preprocessing"] = [s for s in config["preprocessing"] if "layout" not in s and "dtype" not in s] + \
        [{"layout": "nhwc"}]
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    checked = run_cli("check", "--config", str(tmp_path / "config.yml"))
    assert checked.returncode == 0, checked.stderr
