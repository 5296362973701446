"""CocoAP against pycocotools' COCOeval run directly on the same ground truth and detections."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from quantflow.core.errors import UserInputError
from quantflow.tasks.coco_format import load_coco
from quantflow.tasks.detection.coco_ap import CocoAP

NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
CATEGORIES = [{"id": 7, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"},
              {"id": 9, "name": "unused"}]  # sparse ids, listed out of order; 9 has no ground truth
ANNOTATED = (1, 3, 7)
IMAGE_IDS = [1, 2, 3, 4, 5, 6, 7]
EMPTY_IMAGE = 6  # no annotations
SIZES = {"small": (8, 28), "medium": (40, 85), "large": (110, 300)}  # side lengths → area < 32², < 96², ≥ 96²


def make_ground_truth(rng: np.random.Generator) -> dict:
    """Images of 640x480 with objects of every size and category, one crowd box and one empty image."""
    images = [{"id": i, "file_name": f"{i:06d}.jpg", "width": 640, "height": 480} for i in IMAGE_IDS]
    annotations = []
    for image_id in IMAGE_IDS:
        if image_id == EMPTY_IMAGE:
            continue
        for size in SIZES.values():
            for _ in range(int(rng.integers(1, 4))):
                w, h = rng.uniform(*size, 2)
                x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": int(rng.choice(ANNOTATED)), "bbox": [x, y, w, h],
                                    "area": w * h, "iscrowd": 0})
    annotations.append({"id": len(annotations) + 1, "image_id": 2, "category_id": 1,
                        "bbox": [300.0, 200.0, 200.0, 150.0], "area": 30000.0, "iscrowd": 1})
    return {"images": images, "annotations": annotations, "categories": CATEGORIES}


def make_detections(ground_truth: dict, rng: np.random.Generator) -> np.ndarray:
    """[N, 7] rows (image_id, x, y, w, h, score, category_id): jittered hits, misses, duplicates, false positives."""
    rows = []
    for ann in ground_truth["annotations"]:
        if ann["iscrowd"]:
            x, y, w, h = ann["bbox"]  # detections inside a crowd region are ignored, neither TP nor FP
            rows += [[ann["image_id"], x + 10, y + 10, 60, 50, 0.7, 1],
                     [ann["image_id"], x + 90, y + 40, 70, 60, 0.4, 1]]
            continue
        if rng.random() < 0.15:
            continue  # missed
        x, y, w, h = ann["bbox"]
        noise = rng.normal(0, 0.08, 4) * [w, h, w, h]
        category = ann["category_id"] if rng.random() > 0.1 else int(rng.choice(ANNOTATED))
        rows.append([ann["image_id"], x + noise[0], y + noise[1], max(1.0, w + noise[2]), max(1.0, h + noise[3]),
                     rng.uniform(0.3, 1.0), category])
        if rng.random() < 0.2:  # duplicate, lower score
            rows.append([ann["image_id"], x - noise[0], y - noise[1], w, h, rng.uniform(0.05, 0.4), category])
    for image_id in IMAGE_IDS:
        for _ in range(int(rng.integers(1, 5))):
            w, h = rng.uniform(5, 200, 2)
            rows.append([image_id, rng.uniform(0, 600), rng.uniform(0, 440), w, h, rng.uniform(0.01, 0.8),
                         int(rng.choice([1, 3, 7, 9]))])
    # A crowded image: 30 false positives with low scores, so max-detection limits matter.
    for _ in range(30):
        rows.append([4, rng.uniform(0, 600), rng.uniform(0, 440), 20, 20, rng.uniform(0.01, 0.5), 3])
    return np.array(rows, dtype=np.float64)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The ground-truth json path and the detections."""
    rng = np.random.default_rng(20240611)
    ground_truth = make_ground_truth(rng)
    areas = [a["area"] for a in ground_truth["annotations"] if not a["iscrowd"]]
    assert min(areas) < 32**2 and any(32**2 < a < 96**2 for a in areas) and max(areas) > 96**2
    path = tmp_path_factory.mktemp("coco_ap") / "instances.json"
    path.write_text(json.dumps(ground_truth))
    return path, make_detections(ground_truth, rng)


def reference(gt_path: Path, rows: np.ndarray, img_ids: list[int] | None = None, cat_ids: list[int] | None = None,
              max_dets: int = 100) -> np.ndarray:
    """COCOeval stats with its own fresh COCO index and the rows given as a list of result dicts."""
    results = [{"image_id": int(r[0]), "bbox": [float(v) for v in r[1:5]], "score": float(r[5]),
                "category_id": int(r[6])} for r in rows]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        if img_ids is not None:
            evaluator.params.imgIds = img_ids
        if cat_ids is not None:
            evaluator.params.catIds = cat_ids
        evaluator.params.maxDets = [1, 10, max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def assert_summary_matches(summary: dict[str, float | None], stats: np.ndarray) -> None:
    """All 12 stats equal COCOeval's, None where COCOeval writes -1."""
    assert set(summary) == set(NAMES)
    for name, expected in zip(NAMES, stats):
        if expected == -1:
            assert summary[name] is None, name
        else:
            assert summary[name] == pytest.approx(expected, abs=1e-9), name


def evaluate(gt_path: Path, rows: np.ndarray, image_ids: list[int], max_detections: int = 100,
             per_item: bool = False):
    """CocoAP on the adapter's ground-truth index."""
    metric = CocoAP(CocoAP.Config(type="coco_ap", max_detections=max_detections))
    return metric.evaluate(load_coco(gt_path, "where"), rows, image_ids, per_item=per_item)


def test_summary_equals_cocoeval(dataset, capsys) -> None:
    gt_path, rows = dataset
    result = evaluate(gt_path, rows, IMAGE_IDS)
    stats = reference(gt_path, rows)
    assert_summary_matches(result.summary, stats)
    assert result.main == "AP" and result.value == pytest.approx(stats[0], abs=1e-9)
    assert 0.2 < stats[0] < 0.95 and (stats[:6] > 0).all()  # the data is neither trivial nor hopeless
    assert capsys.readouterr().out == ""  # COCOeval's printing is swallowed


def test_summary_ignores_row_order(dataset) -> None:
    gt_path, rows = dataset
    shuffled = rows[np.random.default_rng(1).permutation(len(rows))]
    assert_summary_matches(evaluate(gt_path, shuffled, IMAGE_IDS[::-1]).summary, reference(gt_path, rows))


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_evaluation_equals_one_cocoeval(dataset, monkeypatch, chunk: int) -> None:
    """Evaluated a few images at a time (memory stays flat), every number is still COCOeval's over the whole set."""
    import quantflow.tasks.detection.coco_ap as coco_ap

    gt_path, rows = dataset
    monkeypatch.setattr(coco_ap, "CHUNK_IMAGES", chunk)
    result = evaluate(gt_path, rows, IMAGE_IDS, per_item=True)
    assert_summary_matches(result.summary, reference(gt_path, rows))
    monkeypatch.setattr(coco_ap, "CHUNK_IMAGES", 200)
    whole = evaluate(gt_path, rows, IMAGE_IDS, per_item=True)
    assert result.breakdown == whole.breakdown and result.per_item == whole.per_item


def test_session_fed_out_of_order_with_tied_scores_equals_one_cocoeval(dataset, monkeypatch) -> None:
    """As during a pass: images finish in any order, one at a time, and are matched two at a time. Scores are
    rounded so that many tie across images: COCOeval breaks those ties by image order, and so must the result."""
    import quantflow.tasks.detection.coco_ap as coco_ap

    gt_path, rows = dataset
    rows = rows.copy()
    rows[:, 5] = np.round(rows[:, 5], 1)
    expected = evaluate(gt_path, rows, IMAGE_IDS, per_item=True)
    assert_summary_matches(expected.summary, reference(gt_path, rows))
    monkeypatch.setattr(coco_ap, "CHUNK_IMAGES", 2)
    metric = CocoAP(CocoAP.Config(type="coco_ap"))
    session = metric.session(load_coco(gt_path, "where"), IMAGE_IDS, per_item=True)
    for image_id in np.random.default_rng(3).permutation(IMAGE_IDS):
        session.add([int(image_id)], rows[rows[:, 0] == image_id])
    result = session.result()
    assert result.summary == expected.summary and result.breakdown == expected.breakdown
    assert result.per_item == expected.per_item and result.curves == expected.curves


def test_a_failing_chunk_is_raised_by_result_not_lost(dataset, monkeypatch) -> None:
    """Matching runs in a background thread; what goes wrong there must surface when the result is asked for.
    Here one finished image is not in the annotations (pycocotools refuses results for unknown images)."""
    import quantflow.tasks.detection.coco_ap as coco_ap

    gt_path, rows = dataset
    monkeypatch.setattr(coco_ap, "CHUNK_IMAGES", 2)
    session = CocoAP(CocoAP.Config(type="coco_ap")).session(load_coco(gt_path, "where"), IMAGE_IDS)
    session.add([1, 999], np.concatenate([rows[rows[:, 0] == 1], [[999, 1, 1, 5, 5, 0.5, 1]]]))
    with pytest.raises(AssertionError, match="Results do not correspond to current coco set"):
        session.result()


def test_per_class_equals_cocoeval_per_category(dataset) -> None:
    gt_path, rows = dataset
    per_class = evaluate(gt_path, rows, IMAGE_IDS).breakdown
    assert set(per_class) == {"dog", "person", "car", "unused"}
    for category in CATEGORIES:
        expected = reference(gt_path, rows, cat_ids=[category["id"]])[0]
        if expected == -1:
            assert per_class[category["name"]] is None
        else:
            assert per_class[category["name"]] == pytest.approx(expected, abs=1e-9), category["name"]
    assert per_class["unused"] is None
    assert len({round(per_class[n], 6) for n in ("dog", "person", "car")}) == 3  # distinct, so a mix-up shows


def top_per_image_and_category(rows: np.ndarray, count: int) -> np.ndarray:
    """The `count` best-scored rows of each (image, category): what COCOeval's max-detections limit keeps."""
    keep = []
    for key in {(r[0], r[6]) for r in rows}:
        group = np.flatnonzero((rows[:, 0] == key[0]) & (rows[:, 6] == key[1]))
        keep += group[np.argsort(-rows[group, 5], kind="stable")][:count].tolist()
    return rows[sorted(keep)]


def test_max_detections_setting(dataset) -> None:
    gt_path, rows = dataset
    result = evaluate(gt_path, rows, IMAGE_IDS, max_detections=12)
    # Independent check: cut the detections to 12 per image and category by hand, then COCOeval with defaults.
    stats = reference(gt_path, top_per_image_and_category(rows, 12))
    assert_summary_matches(result.summary, stats)
    assert result.summary["AP"] is not None and result.value > 0
    assert stats[0] != pytest.approx(reference(gt_path, rows)[0], abs=1e-6)  # the limit really matters here


def test_category_filter(dataset) -> None:
    gt_path, rows = dataset
    metric = CocoAP(CocoAP.Config(type="coco_ap", categories=["car", "person"]))
    result = metric.evaluate(load_coco(gt_path, "where"), rows, IMAGE_IDS)
    assert_summary_matches(result.summary, reference(gt_path, rows, cat_ids=[1, 3]))
    assert set(result.breakdown) == {"person", "car"}


def test_unknown_category_filter(dataset) -> None:
    gt_path, rows = dataset
    metric = CocoAP(CocoAP.Config(type="coco_ap", categories=["zebra"]))
    with pytest.raises(UserInputError, match=r"metric\.categories: \['zebra'\] not in the annotations"):
        metric.evaluate(load_coco(gt_path, "where"), rows, IMAGE_IDS)


def test_empty_predictions(dataset) -> None:
    gt_path, _ = dataset
    result = evaluate(gt_path, np.zeros((0, 7)), IMAGE_IDS)
    assert result.value == 0.0
    assert result.summary == {name: 0.0 for name in NAMES}
    assert result.breakdown == {"dog": 0.0, "person": 0.0, "car": 0.0, "unused": None}


def test_subset_of_images(dataset) -> None:
    gt_path, rows = dataset
    subset = [1, 3, 6]
    result = evaluate(gt_path, rows, subset)
    stats = reference(gt_path, rows, img_ids=subset)
    assert_summary_matches(result.summary, stats)
    assert stats[0] != pytest.approx(reference(gt_path, rows)[0], abs=1e-6)  # the subset really differs
    for category in CATEGORIES:
        expected = reference(gt_path, rows, img_ids=subset, cat_ids=[category["id"]])[0]
        actual = result.breakdown[category["name"]]
        assert actual is None if expected == -1 else actual == pytest.approx(expected, abs=1e-9)


def test_subset_without_ground_truth_is_undefined(dataset) -> None:
    gt_path, rows = dataset
    result = evaluate(gt_path, rows, [EMPTY_IMAGE])
    assert_summary_matches(result.summary, reference(gt_path, rows, img_ids=[EMPTY_IMAGE]))
    assert all(v is None for v in result.summary.values())
    assert result.value == 0.0
    assert all(v is None for v in result.breakdown.values())


def test_perfect_detections_score_one(dataset) -> None:
    gt_path, _ = dataset
    gt = json.loads(gt_path.read_text())
    rows = np.array([[a["image_id"], *a["bbox"], 1.0, a["category_id"]] for a in gt["annotations"]
                     if not a["iscrowd"]])
    result = evaluate(gt_path, rows, IMAGE_IDS)
    assert result.summary["AP"] == pytest.approx(1.0) and result.summary["AR100"] == pytest.approx(1.0)
    assert result.breakdown["person"] == pytest.approx(1.0)


def test_per_image_ap_equals_cocoeval_per_image_and_category(dataset) -> None:
    gt_path, rows = dataset
    assert evaluate(gt_path, rows, IMAGE_IDS).per_item == {}
    result = evaluate(gt_path, rows, IMAGE_IDS, per_item=True)
    assert set(result.per_item) == set(IMAGE_IDS)
    for image_id in IMAGE_IDS:
        per_category = [reference(gt_path, rows, img_ids=[image_id], cat_ids=[c["id"]])[0] for c in CATEGORIES]
        defined = [ap for ap in per_category if ap != -1]
        if defined:
            assert result.per_item[image_id] == pytest.approx(np.mean(defined), abs=1e-9), image_id
        else:  # no ground truth: 1 - the most confident (false positive) detection
            assert image_id == EMPTY_IMAGE
            assert result.per_item[image_id] == pytest.approx(1.0 - rows[rows[:, 0] == image_id, 5].max())


def test_per_image_ap_without_predictions(dataset) -> None:
    gt_path, _ = dataset
    result = evaluate(gt_path, np.zeros((0, 7)), IMAGE_IDS, per_item=True)
    assert result.per_item == {i: (1.0 if i == EMPTY_IMAGE else 0.0) for i in IMAGE_IDS}


def test_precision_recall_curve_is_cocoeval_class_mean(dataset) -> None:
    gt_path, rows = dataset
    curves = evaluate(gt_path, rows, IMAGE_IDS).curves
    results = [{"image_id": int(r[0]), "bbox": [float(v) for v in r[1:5]], "score": float(r[5]),
                "category_id": int(r[6])} for r in rows]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
    for name, t in (("IoU 0.50", 0), ("IoU 0.75", 5)):
        table = evaluator.eval["precision"][t, :, :, 0, 2]  # [101 recall points, classes]
        expected = [row[row > -1].mean() for row in table if (row > -1).any()]
        assert curves[name]["precision"] == pytest.approx(expected, abs=1e-12)
        assert curves[name]["recall"][0] == 0.0 and len(curves[name]["recall"]) == len(expected)
    assert curves["IoU 0.50"]["precision"][50] >= curves["IoU 0.75"]["precision"][50]


@pytest.mark.parametrize("settings", [{}, {"max_detections": 20}, {"categories": ["car", "person"]}])
@pytest.mark.parametrize("subset", ["all", "some", "none"])
def test_both_matchers_give_the_same_figures(dataset, settings: dict, subset: str) -> None:
    """faster-coco-eval's C++ COCOeval (the default) against pycocotools' (the reference): every summary figure,
    per-class AP and precision-recall point equal, with tied scores, a max-detections cut and a category filter."""
    import math

    gt_path, rows = dataset
    rows = rows.copy()
    rows[:, 5] = np.round(rows[:, 5], 1)
    ids = {"all": IMAGE_IDS, "some": [2, 5, EMPTY_IMAGE], "none": IMAGE_IDS}[subset]
    rows = rows[np.isin(rows[:, 0], ids)] if subset == "some" else rows if subset == "all" else rows[:0]
    ground_truth = load_coco(gt_path, "where")
    fast, reference_result = (CocoAP(CocoAP.Config(type="coco_ap", matcher=m, **settings)).evaluate(
        ground_truth, rows, ids) for m in ("faster_coco_eval", "pycocotools"))

    def same(a, b) -> bool:
        return a is b if a is None or b is None else math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)

    assert fast.summary.keys() == reference_result.summary.keys()
    assert all(same(fast.summary[k], reference_result.summary[k]) for k in fast.summary), (fast.summary,
                                                                                          reference_result.summary)
    assert all(same(fast.breakdown[k], reference_result.breakdown[k]) for k in fast.breakdown)
    for name, curve in reference_result.curves.items():
        assert fast.curves[name]["recall"] == curve["recall"]
        assert np.allclose(fast.curves[name]["precision"], curve["precision"], rtol=1e-12, atol=1e-15)


def test_auto_matches_small_passes_at_once_and_streams_large_ones(dataset) -> None:
    from quantflow.tasks.detection.coco_ap import WHOLE_PASS_IMAGES, FasterCocoSession

    ground_truth = load_coco(dataset[0], "where")
    metric = CocoAP(CocoAP.Config(type="coco_ap"))
    assert type(metric.session(ground_truth, IMAGE_IDS)) is FasterCocoSession
    assert type(metric.session(ground_truth, IMAGE_IDS, per_item=True)) is not FasterCocoSession
    many = list(range(1, WHOLE_PASS_IMAGES + 2))
    assert type(metric.session(ground_truth, many)) is not FasterCocoSession
    pinned = CocoAP(CocoAP.Config(type="coco_ap", matcher="faster_coco_eval"))
    assert type(pinned.session(ground_truth, many)) is FasterCocoSession
