"""COCO box AP through COCOeval: the numbers a COCO paper would print.

Two matchers give the same figures (tested to the last float bits): faster-coco-eval's C++ COCOeval matches a
whole pass at once, 5-8x faster than pycocotools; pycocotools' COCOeval, the reference, runs on chunks of finished
images during the pass, so memory stays flat however many images, and is what per-image AP (accuracy-aware
ranking) is computed from. `auto` takes the first for passes of up to WHOLE_PASS_IMAGES images (a search split)
and the second beyond.
"""

from __future__ import annotations

import copy
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

import numpy as np
from pydantic import Field

from quantflow.core.config_base import ProviderConfig
from quantflow.core.errors import UserInputError
from quantflow.core.metric import METRICS, Metric, MetricResult, MetricSession
from quantflow.core.progress import quiet_stdout
from quantflow.tasks.detection.coco_matches import MatchTable

CHUNK_IMAGES = 50
WHOLE_PASS_IMAGES = 500  # faster-coco-eval's tables grow ~30 KB per image while a pass is matched at once
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


class CocoSession(MetricSession):
    """COCOeval on every CHUNK_IMAGES finished images, in a background thread while the pass goes on, each
    chunk folded into a MatchTable: pycocotools' per-detection dicts and IoU tables exist for one chunk at a
    time and what stays is arrays, so memory does not grow with the dataset; the figures are those of one
    COCOeval over all images (tested)."""

    def __init__(self, metric: CocoAP, ground_truth, image_ids: list[int], per_item: bool) -> None:
        super().__init__(metric, ground_truth, image_ids, per_item)
        self.params = metric.params(ground_truth, image_ids)
        self.table = MatchTable(self.params)
        self.waiting_ids: list[int] = []
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coco-eval")
        self.chunks: list[Future] = []

    def add(self, image_ids: list[int], rows: np.ndarray) -> None:
        self.waiting_ids += image_ids
        self.rows.append(np.asarray(rows, dtype=np.float64).reshape(-1, 7))
        if len(self.waiting_ids) >= CHUNK_IMAGES:
            self._submit()

    def accumulated(self) -> dict:
        return self.table.accumulate()

    def _submit(self, everything: bool = False) -> None:
        """Hand waiting images to the worker in chunks of CHUNK_IMAGES (and the short rest if `everything`)."""
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, 7))
        while len(self.waiting_ids) >= CHUNK_IMAGES or (everything and self.waiting_ids):
            chunk, self.waiting_ids = self.waiting_ids[:CHUNK_IMAGES], self.waiting_ids[CHUNK_IMAGES:]
            in_chunk = np.isin(rows[:, 0], chunk)
            self.chunks.append(self.worker.submit(self._evaluate_chunk, chunk, rows[in_chunk]))
            rows = rows[~in_chunk]
        self.rows = [rows]

    def _evaluate_chunk(self, image_ids: list[int], rows: np.ndarray) -> None:
        from pycocotools.cocoeval import COCOeval

        with quiet_stdout():
            part = COCOeval(self.ground_truth, _load_results(self.ground_truth, rows), "bbox")
            part.params = copy.deepcopy(self.params)
            part.params.imgIds = image_ids
            part.evaluate()
        self.table.add(part)

    def result(self) -> MetricResult:
        from pycocotools.cocoeval import COCOeval

        self._submit(everything=True)
        self.worker.shutdown(wait=True)
        for chunk in self.chunks:
            chunk.result()  # raises what a chunk raised
        evaluator = COCOeval(self.ground_truth, iouType="bbox")
        evaluator.params = self.params
        evaluator.eval = self.accumulated()
        with quiet_stdout():
            evaluator.summarize()
        stats = list(evaluator.stats)
        # summarize() reads AP@[.5:.95] at maxDets == 100 only (-1 otherwise): take it at the configured setting.
        precision = evaluator.eval["precision"][:, :, :, 0, -1]
        stats[0] = float(precision[precision > -1].mean()) if (precision > -1).any() else -1.0
        summary = {name: defined(v) for name, v in zip(STAT_NAMES, stats)}
        per_image = self.table.per_image_ap() if self.per_item else {}
        return MetricResult(summary, self.metric.main, _per_class(self.ground_truth, evaluator), per_image,
                            curves=_precision_recall(evaluator))


class FasterCocoSession(CocoSession):
    """The rows of the whole pass matched at once by faster-coco-eval's C++ COCOeval into the same `eval`
    tables (precision, recall, scores) pycocotools' accumulate gives; no per-image AP."""

    def add(self, image_ids: list[int], rows: np.ndarray) -> None:
        self.rows.append(np.asarray(rows, dtype=np.float64).reshape(-1, 7))

    def _submit(self, everything: bool = False) -> None:
        pass

    def accumulated(self) -> dict:
        from faster_coco_eval import COCOeval_faster

        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, 7))
        with quiet_stdout():
            evaluator = COCOeval_faster(self.ground_truth, _load_results(self.ground_truth, rows), "bbox",
                                        print_function=lambda *args: None)
            for key in ("imgIds", "catIds", "maxDets", "iouThrs", "recThrs", "areaRng", "areaRngLbl", "useCats"):
                setattr(evaluator.params, key, copy.deepcopy(getattr(self.params, key)))
            evaluator.evaluate()
            evaluator.accumulate()
        return {key: np.asarray(evaluator.eval[key]) for key in ("precision", "recall", "scores")}


def _per_class(ground_truth, evaluator) -> dict[str, float | None]:
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # [T, R, K] at area=all, max detections
    per_class = {}
    for k, category_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k]
        values = values[values > -1]
        per_class[ground_truth.cats[category_id]["name"]] = float(values.mean()) if values.size else None
    return per_class


@METRICS.register("coco_ap")
class CocoAP(Metric):
    """AP@[.5:.95], AP50, AP75, AP by object size, AR at 1/10/100 detections, per-class AP, and per-image
    AP (see `per_image_ap`) for accuracy-aware ranking.

    Per-class AP is read from COCOeval's accumulated `precision[T, R, K, A, M]` (IoU thresholds, recall
    points, classes, area ranges, max detections) at area `all` and the largest max-detections setting.
    """

    summary_keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
    main = "AP"

    class Config(ProviderConfig):
        max_detections: int = Field(default=100, gt=0, description="Detections per image COCOeval considers.")
        matcher: Literal["auto", "faster_coco_eval", "pycocotools"] = Field(
            default="auto", description="faster_coco_eval: C++ COCOeval over the whole pass, same figures; "
            "pycocotools: the reference, in chunks of images as they finish (flat memory; always used for "
            "per-image AP and max_detections < 10); auto: faster_coco_eval up to 500 images.")
        categories: list[str] | None = Field(
            default=None, description="Category names to evaluate (e.g. [person] for a person-only model); all if unset."
        )

    def session(self, ground_truth, image_ids: list[int], per_item: bool = False) -> CocoSession:
        # faster-coco-eval sorts maxDets, which [1, 10, max_detections] is not when max_detections < 10; it matches
        # a whole pass at once, so `auto` leaves passes over more than WHOLE_PASS_IMAGES to the flat-memory chunks
        matcher = self.config.matcher
        if matcher == "auto":
            matcher = "faster_coco_eval" if len(image_ids) <= WHOLE_PASS_IMAGES else "pycocotools"
        chunked = per_item or matcher == "pycocotools" or self.config.max_detections < 10
        return (CocoSession if chunked else FasterCocoSession)(self, ground_truth, image_ids, per_item)

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        session = self.session(ground_truth, image_ids, per_item)
        session.add(list(image_ids), predictions)
        return session.result()

    def params(self, ground_truth, image_ids: list[int]):
        """COCOeval's parameters for these images: the configured max detections and categories."""
        from pycocotools.cocoeval import Params

        params = Params(iouType="bbox")
        params.imgIds = sorted(image_ids)
        params.catIds = self._category_ids(ground_truth) if self.config.categories is not None else sorted(
            ground_truth.getCatIds())
        params.maxDets = [1, 10, self.config.max_detections]
        return params

    def _category_ids(self, ground_truth) -> list[int]:
        by_name = {category["name"]: category_id for category_id, category in ground_truth.cats.items()}
        unknown = [name for name in self.config.categories if name not in by_name]
        if unknown:
            raise UserInputError(f"metric.categories: {unknown} not in the annotations ({', '.join(sorted(by_name))})")
        return sorted(by_name[name] for name in self.config.categories)
