"""COCO box AP through pycocotools' COCOeval: the numbers a COCO paper would print."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pydantic import Field

from quantflow.config_base import ProviderConfig
from quantflow.errors import UserInputError
from quantflow.metrics.base import METRICS, Metric, MetricResult
from quantflow.metrics.per_image_ap import per_image_ap

CHUNK_IMAGES = 200
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def defined(value: float) -> float | None:
    """COCOeval writes -1 where a value is undefined (no ground truth in that area range)."""
    return None if value < 0 else float(value)


def _load_results(ground_truth, predictions: np.ndarray):
    """`COCO.loadRes`, which cannot take an empty result set; an empty index stands in for it then."""
    from pycocotools.coco import COCO

    if len(predictions):
        return ground_truth.loadRes(predictions)
    empty = COCO()
    empty.dataset = {"images": ground_truth.dataset["images"], "categories": ground_truth.dataset["categories"],
                     "annotations": []}
    empty.createIndex()
    return empty


def _compact(entry: dict | None) -> dict | None:
    """An `evalImgs` entry with just what `accumulate` and per-image AP read, matches as booleans."""
    if entry is None:
        return None
    return {"dtScores": np.asarray(entry["dtScores"], dtype=np.float64), "dtMatches": entry["dtMatches"] > 0,
            "dtIgnore": entry["dtIgnore"].astype(bool), "gtIgnore": np.asarray(entry["gtIgnore"], dtype=bool)}


def _precision_recall(evaluator) -> dict[str, dict[str, list[float]]]:
    """Class-averaged precision at COCO's 101 recall points, area `all`, largest max-detections, at IoU 0.50
    and 0.75 (recall points where no class is defined are left out)."""
    curves = {}
    for name, threshold in (("IoU 0.50", 0), ("IoU 0.75", 5)):
        precision = evaluator.eval["precision"][threshold, :, :, 0, -1]  # [R, K]
        defined = (precision > -1).any(axis=1)
        masked = np.where(precision > -1, precision, np.nan)[defined]
        curves[name] = {"recall": evaluator.params.recThrs[defined].tolist(),
                        "precision": np.nanmean(masked, axis=1).tolist() if masked.size else []}
    return curves


def evaluate_in_chunks(evaluator, ground_truth, predictions: np.ndarray) -> None:
    """`evaluator.evaluate()` run on chunks of CHUNK_IMAGES images, keeping only `evalImgs` (all `accumulate`
    reads): pycocotools' per-detection dicts and IoU tables then exist for one chunk at a time, so memory does
    not grow with the dataset. The merged `evalImgs` keep COCOeval's [category, area, image] layout."""
    from pycocotools.cocoeval import COCOeval

    params = evaluator.params
    image_ids = list(params.imgIds)
    entries: dict[tuple[int, int, int], dict | None] = {}
    for start in range(0, len(image_ids), CHUNK_IMAGES):
        chunk = image_ids[start : start + CHUNK_IMAGES]
        part = COCOeval(ground_truth, _load_results(ground_truth, predictions[np.isin(predictions[:, 0], chunk)]),
                        "bbox")
        part.params = copy.deepcopy(params)
        part.params.imgIds = chunk
        part.evaluate()
        for index, entry in enumerate(part.evalImgs):
            category, rest = divmod(index, len(params.areaRng) * len(chunk))
            area, image = divmod(rest, len(chunk))
            entries[category, area, chunk[image]] = _compact(entry)
    evaluator.evalImgs = [entries[k, a, i] for k in range(len(params.catIds)) for a in range(len(params.areaRng))
                          for i in image_ids]
    evaluator._paramsEval = copy.deepcopy(params)


@METRICS.register("coco_ap")
class CocoAP(Metric):
    """AP@[.5:.95], AP50, AP75, AP by object size, AR at 1/10/100 detections, per-class AP, and per-image
    AP (see `per_image_ap`) for accuracy-aware ranking.

    Per-class AP is read from COCOeval's accumulated `precision[T, R, K, A, M]` (IoU thresholds, recall
    points, classes, area ranges, max detections) at area `all` and the largest max-detections setting.
    """

    class Config(ProviderConfig):
        max_detections: int = Field(default=100, gt=0, description="Detections per image COCOeval considers.")
        categories: list[str] | None = Field(
            default=None, description="Category names to evaluate (e.g. [person] for a person-only model); all if unset."
        )

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        from pycocotools.cocoeval import COCOeval

        predictions = np.asarray(predictions, dtype=np.float64).reshape(-1, 7)
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = COCOeval(ground_truth, iouType="bbox")
            evaluator.params.imgIds = sorted(image_ids)
            evaluator.params.maxDets = [1, 10, self.config.max_detections]
            if self.config.categories is not None:
                evaluator.params.catIds = self._category_ids(ground_truth)
            evaluate_in_chunks(evaluator, ground_truth, predictions)
            evaluator.accumulate()
            evaluator.summarize()
        stats = list(evaluator.stats)
        # summarize() reads AP@[.5:.95] at maxDets == 100 only (-1 otherwise): take it at the configured setting.
        precision = evaluator.eval["precision"][:, :, :, 0, -1]
        stats[0] = float(precision[precision > -1].mean()) if (precision > -1).any() else -1.0
        summary = {name: defined(v) for name, v in zip(STAT_NAMES, stats)}
        per_image = per_image_ap(evaluator) if per_item else {}
        return MetricResult(summary, "AP", self._per_class(ground_truth, evaluator), per_image,
                            curves=_precision_recall(evaluator))

    def _category_ids(self, ground_truth) -> list[int]:
        by_name = {category["name"]: category_id for category_id, category in ground_truth.cats.items()}
        unknown = [name for name in self.config.categories if name not in by_name]
        if unknown:
            raise UserInputError(f"metric.categories: {unknown} not in the annotations ({', '.join(sorted(by_name))})")
        return sorted(by_name[name] for name in self.config.categories)

    @staticmethod
    def _per_class(ground_truth, evaluator) -> dict[str, float | None]:
        precision = evaluator.eval["precision"][:, :, :, 0, -1]  # [T, R, K] at area=all, max detections
        per_class = {}
        for k, category_id in enumerate(evaluator.params.catIds):
            values = precision[:, :, k]
            values = values[values > -1]
            per_class[ground_truth.cats[category_id]["name"]] = float(values.mean()) if values.size else None
        return per_class
