"""configs/segmentation.yml end to end: mIoU, pixel accuracy and per-class IoU for OpenVINO FP32 / INT8 and the
TFLite variants, FP32 / INT8 masks a person can look at, and the same figures from VOC-style index masks written
here from the COCO polygons with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from tests.browser import check_page
from tests.conftest import ROOT, assert_pinned, html_parts, quantize_sample

pytestmark = pytest.mark.slow
SHAPES = ROOT / "datasets" / "shapes"



@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("segmentation") / "run"
    return out, quantize_sample("segmentation.yml", out)


def test_every_variant_is_scored_with_miou(segmentation_run) -> None:
    out, report = segmentation_run
    assert set(report["results"]) == {"FP32", "INT8", "TFLite fp32", "TFLite dynamic", "TFLite float16",
                                      "TFLite int8"}
    fp32 = report["results"]["FP32"]
    assert set(fp32["metrics"]) == {"mIoU", "pixel accuracy", "mean class accuracy"}
    assert fp32["metrics"]["mIoU"] > 0.6 and fp32["metrics"]["pixel accuracy"] > 0.9
    assert list(fp32["breakdown"]) == ["background", "circle", "square", "triangle", "star", "cross"]
    assert report["results"]["TFLite fp32"]["metrics"] == pytest.approx(fp32["metrics"], abs=1e-4)
    entries = report["pictures"]["entries"]
    assert len(entries) == 3 and set(entries[0]["images"]) == {"fp32_mask", "int8_mask", "disagreement"}
    first = cv2.imread(str(out / entries[0]["images"]["fp32_mask"]))
    info = json.loads((SHAPES / "val.json").read_text())["images"][0]
    assert first.shape[:2] == (info["height"], info["width"])
    assert html_parts(out / "report.html")[0]["img"] == 9
    assert_pinned(report, "segmentation")


def test_index_masks_written_from_the_polygons_give_the_same_figures(segmentation_run, tmp_path: Path) -> None:
    _, report = segmentation_run
    coco = COCO(str(SHAPES / "val.json"))
    index = {c: i + 1 for i, c in enumerate(sorted(coco.cats))}
    (tmp_path / "masks").mkdir()
    for image_id, info in coco.imgs.items():
        claimed = np.zeros((info["height"], info["width"]), np.uint8)
        conflict = np.zeros(claimed.shape, bool)
        for annotation in coco.imgToAnns.get(image_id, []):
            mask = coco.annToMask(annotation).astype(bool)
            label = index[annotation["category_id"]]
            conflict |= mask & (claimed > 0) & (claimed != label)
            claimed[mask & (claimed == 0)] = label
        claimed[conflict] = 255
        cv2.imwrite(str(tmp_path / "masks" / f"{Path(info['file_name']).stem}.png"), claimed)
    names = ["background"] + [coco.cats[c]["name"] for c in sorted(coco.cats)]
    (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    masks = quantize_sample("segmentation.yml", tmp_path / "run",
                            f"dataset={{type: index_masks, images: {SHAPES / 'val'}, masks: {tmp_path / 'masks'}, "
                            f"classes: {tmp_path / 'classes.txt'}}}",
                            "quantization.tflite=null", "evaluation.speed.enabled=false", "evaluation.maps=0")
    for precision in ("FP32", "INT8"):
        assert masks["results"][precision]["metrics"] == pytest.approx(report["results"][precision]["metrics"],
                                                                       rel=1e-12)
        assert masks["results"][precision]["breakdown"] == pytest.approx(report["results"][precision]["breakdown"])


def test_report_page_renders_in_a_browser(segmentation_run, tmp_path: Path) -> None:
    check_page(segmentation_run[0] / "report.html", tmp_path)
