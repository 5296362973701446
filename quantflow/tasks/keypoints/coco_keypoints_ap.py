"""COCO keypoint AP (OKS) through pycocotools' COCOeval, plus per-keypoint pixel error and per-sample OKS."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.errors import UserInputError
from quantflow.core.metric import METRICS, Metric, MetricResult
from quantflow.core.progress import quiet_stdout
from quantflow.tasks.detection.coco_ap import defined

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
               0.087, 0.087, 0.089, 0.089)  # nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles


def result_entries(rows: np.ndarray) -> list[dict]:
    """Rows (sample, image, category, score, x, y, c, ...) as COCO keypoint results, keeping the sample id."""
    return [{"sample_id": int(row[0]), "image_id": int(row[1]), "category_id": int(row[2]), "score": float(row[3]),
             "keypoints": row[4:].tolist()} for row in rows]


@METRICS.register("coco_keypoints_ap")
class CocoKeypointsAP(Metric):
    """OKS AP@[.5:.95], AP50, AP75, APm, APl and AR as COCO prints them. The breakdown is the mean pixel
    error per keypoint of the best prediction (highest OKS) for each labelled person, over visible and
    occluded labelled keypoints; per item is the OKS of each sample's prediction with its best match."""

    task = "keypoints"
    summary_keys = ("AP", "AP50", "AP75", "APm", "APl", "AR")
    main = "AP"

    class Config(ProviderConfig):
        sigmas: list[float] | None = Field(
            default=None, description="Per-keypoint OKS sigmas; default: COCO's 17 (needed for other skeletons)."
        )
        max_detections: int = Field(default=20, gt=0, description="People per image COCOeval considers.")

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        from pycocotools.cocoeval import COCOeval

        sigmas = self._sigmas(len(ground_truth.names))
        rows = np.asarray(predictions, dtype=np.float64).reshape(-1, 4 + 3 * len(ground_truth.names))
        coco = ground_truth.coco
        with quiet_stdout():
            results = coco.loadRes(result_entries(rows)) if len(rows) else None
            evaluator = COCOeval(coco, results, "keypoints") if results else None
            if evaluator is None:
                return MetricResult(dict.fromkeys(STAT_NAMES, 0.0), self.main, {}, {})
            evaluator.params.imgIds = sorted({ground_truth.image_of[i] for i in image_ids})
            evaluator.params.kpt_oks_sigmas = sigmas
            evaluator.params.maxDets = [self.config.max_detections]
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        summary = {name: defined(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
        best = _best_matches(evaluator)
        errors = _keypoint_errors(evaluator, best, ground_truth.names)
        oks = _per_sample_oks(evaluator, best) if per_item else {}
        return MetricResult(summary, self.main, errors, oks, ("keypoint", "mean error px"),
                            breakdown_higher_is_better=False)

    def _sigmas(self, count: int) -> np.ndarray:
        sigmas = self.config.sigmas if self.config.sigmas is not None else COCO_SIGMAS
        if len(sigmas) != count:
            source = "metric.sigmas has" if self.config.sigmas is not None else "COCO sigmas are for"
            raise UserInputError(f"metric.sigmas: the annotations have {count} keypoints, {source} {len(sigmas)}; "
                                 f"set metric.sigmas")
        return np.asarray(sigmas, dtype=np.float64)


def _best_matches(evaluator) -> dict:
    """(image, category) → (results sorted as COCOeval scored them, ground truths, OKS matrix [D, G])."""
    matches = {}
    for (image_id, category_id), oks in evaluator.ious.items():
        results = evaluator._dts[image_id, category_id]
        order = np.argsort([-d["score"] for d in results], kind="mergesort")[: evaluator.params.maxDets[-1]]
        truths = evaluator._gts[image_id, category_id]
        oks = np.asarray(oks, dtype=np.float64)  # COCOeval gives [] when either side is empty
        matches[image_id, category_id] = ([results[i] for i in order], truths,
                                          oks if oks.size else np.zeros((len(order), len(truths))))
    return matches


def _keypoint_errors(evaluator, matches: dict, names: list[str]) -> dict[str, float | None]:
    sums, counts = np.zeros(len(names)), np.zeros(len(names))
    for results, truths, oks in matches.values():
        for g, truth in enumerate(truths):
            if truth["ignore"] or not len(results):
                continue
            found = np.asarray(results[int(oks[:, g].argmax())]["keypoints"]).reshape(-1, 3)[:, :2]
            labelled = np.asarray(truth["keypoints"]).reshape(-1, 3)
            seen = labelled[:, 2] > 0
            sums[seen] += np.linalg.norm(found[seen] - labelled[seen, :2], axis=1)
            counts[seen] += 1
    return {name: (float(s / c) if c else None) for name, s, c in zip(names, sums, counts)}


def _per_sample_oks(evaluator, matches: dict) -> dict[int, float]:
    scores = {}
    for results, truths, oks in matches.values():
        counted = [g for g, truth in enumerate(truths) if not truth["ignore"]]
        for d, result in enumerate(results):
            scores[result["sample_id"]] = float(oks[d, counted].max()) if counted else 0.0
    return scores
