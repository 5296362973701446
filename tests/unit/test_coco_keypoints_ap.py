"""coco_keypoints_ap against pycocotools' COCOeval run directly, and per-keypoint error / per-sample OKS by hand."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from quantflow.core.errors import UserInputError
from quantflow.tasks.keypoints.coco_keypoints import KeypointTruth
from quantflow.tasks.keypoints.coco_keypoints_ap import COCO_SIGMAS, CocoKeypointsAP

NAMES = [f"k{i}" for i in range(17)]


def person(ann_id: int, image_id: int, rng, num_visible: int = 17, iscrowd: int = 0) -> dict:
    x0, y0 = rng.uniform(10, 60, 2)
    points = np.column_stack([x0 + rng.uniform(0, 40, 17), y0 + rng.uniform(0, 80, 17), np.full(17, 2)])
    points[num_visible:] = 0
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": iscrowd, "area": 2400.0,
            "bbox": [float(x0), float(y0), 40.0, 80.0], "num_keypoints": num_visible,
            "keypoints": points.reshape(-1).tolist()}


@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> KeypointTruth:
    rng = np.random.default_rng(3)
    annotations = [person(1, 1, rng), person(2, 1, rng, num_visible=9), person(3, 2, rng),
                   person(4, 2, rng, num_visible=0), person(5, 3, rng)]
    data = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 200, "height": 200} for i in (1, 2, 3)],
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": []}]}
    path = tmp_path_factory.mktemp("kp") / "person_keypoints.json"
    path.write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    return KeypointTruth(coco, {1: 1, 2: 1, 3: 2, 5: 3}, NAMES)


def predictions(truth: KeypointTruth, noise: float, seed: int = 0) -> np.ndarray:
    """One row per sample: its ground truth moved by Gaussian noise, with confidences and a score."""
    rng = np.random.default_rng(seed)
    rows = []
    for sample, image in truth.image_of.items():
        labelled = np.asarray(truth.coco.anns[sample]["keypoints"], dtype=np.float64).reshape(17, 3)
        moved = labelled[:, :2] + rng.normal(0, noise, (17, 2))
        keypoints = np.column_stack([moved, rng.uniform(0.3, 1, 17)]).reshape(-1)
        rows.append([sample, image, 1, rng.uniform(0.5, 1), *keypoints])
    return np.array(rows)


def cocoeval_stats(truth: KeypointTruth, rows: np.ndarray) -> np.ndarray:
    results = [{"image_id": int(r[1]), "category_id": 1, "score": float(r[3]), "keypoints": r[4:].tolist()}
               for r in rows]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(truth.coco, truth.coco.loadRes(results), "keypoints")
        evaluator.params.imgIds = sorted(set(truth.image_of.values()))
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def metric(**settings) -> CocoKeypointsAP:
    return CocoKeypointsAP(CocoKeypointsAP.Config(type="coco_keypoints_ap", **settings))


@pytest.mark.parametrize("noise", [1.5, 3.0, 4.5])
def test_summary_equals_cocoeval(truth: KeypointTruth, noise: float) -> None:
    rows = predictions(truth, noise)
    result = metric().evaluate(truth, rows, list(truth.image_of))
    expected = cocoeval_stats(truth, rows)
    assert list(result.summary) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    for value, want in zip(result.summary.values(), expected):
        assert value == pytest.approx(want, abs=1e-12) if want >= 0 else value is None
    assert result.main == "AP" and 0.05 < result.value < 0.95  # a partial score, so a wrong OKS would show


def test_perfect_predictions_score_one(truth: KeypointTruth) -> None:
    assert metric().evaluate(truth, predictions(truth, 0.0), list(truth.image_of)).value == pytest.approx(1.0)


def test_per_keypoint_error_by_hand(truth: KeypointTruth) -> None:
    rows = predictions(truth, 2.0)
    errors = metric().evaluate(truth, rows, list(truth.image_of)).breakdown
    sums, counts = np.zeros(17), np.zeros(17)
    for row in rows:
        labelled = np.asarray(truth.coco.anns[int(row[0])]["keypoints"]).reshape(17, 3)
        seen = labelled[:, 2] > 0
        distance = np.hypot(*(row[4:].reshape(17, 3)[:, :2] - labelled[:, :2]).T)
        sums[seen] += distance[seen]
        counts[seen] += 1
    assert list(errors) == NAMES
    np.testing.assert_allclose([errors[n] for n in NAMES], sums / counts, rtol=1e-12)


def test_per_sample_oks_by_hand(truth: KeypointTruth) -> None:
    rows = predictions(truth, 3.0)
    per_item = metric().evaluate(truth, rows, list(truth.image_of), per_item=True).per_item
    variances = (2 * np.asarray(COCO_SIGMAS)) ** 2
    for row in rows:
        labelled = np.asarray(truth.coco.anns[int(row[0])]["keypoints"]).reshape(17, 3)
        seen = labelled[:, 2] > 0
        d2 = ((row[4:].reshape(17, 3)[:, :2] - labelled[:, :2]) ** 2).sum(axis=1)
        oks = np.exp(-d2 / variances / (2400.0 + np.spacing(1)) / 2)[seen].mean()
        assert per_item[int(row[0])] == pytest.approx(oks, abs=1e-12)


def test_subset_evaluates_only_the_images_of_those_samples(truth: KeypointTruth) -> None:
    rows = predictions(truth, 3.0)
    subset = metric().evaluate(truth, rows[rows[:, 0] == 5], [5]).value
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(truth.coco, truth.coco.loadRes([{"image_id": 3, "category_id": 1, "score": 0.9,
                                                                "keypoints": rows[rows[:, 0] == 5][0, 4:].tolist()}]),
                             "keypoints")
        evaluator.params.imgIds = [3]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert subset == pytest.approx(evaluator.stats[0], abs=1e-12)


def test_no_predictions_score_zero(truth: KeypointTruth) -> None:
    assert metric().evaluate(truth, np.zeros((0, 55)), list(truth.image_of)).value == 0.0


def test_sigmas_must_match_the_skeleton(truth: KeypointTruth) -> None:
    with pytest.raises(UserInputError, match="metric.sigmas: the annotations have 17 keypoints, metric.sigmas has 3"):
        metric(sigmas=[0.1, 0.1, 0.1]).evaluate(truth, predictions(truth, 1.0), list(truth.image_of))


def test_custom_sigmas_change_the_score(truth: KeypointTruth) -> None:
    rows = predictions(truth, 3.0)
    tight = metric(sigmas=[0.02] * 17).evaluate(truth, rows, list(truth.image_of)).value
    loose = metric(sigmas=[0.2] * 17).evaluate(truth, rows, list(truth.image_of)).value
    assert tight < loose

