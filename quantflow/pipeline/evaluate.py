"""One pass over a dataset: read + preprocess in a thread pool, infer asynchronously, decode, collect rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantflow.backends.openvino.runner import bounded_map
from quantflow.backends.openvino.speed import SpeedConfig
from quantflow.core.adapter import DatasetAdapter
from quantflow.core.decoder import Decoder
from quantflow.core.metric import Metric, MetricResult, MetricSession
from quantflow.core.progress import progress_bar
from quantflow.core.runner import Runner
from quantflow.preprocessing import Pipeline
from quantflow.report.model import Variant


@dataclass(frozen=True)
class Predictions:
    """rows: result rows in original-image coordinates, column 0 the sample id (for detection the COCO box
    rows image_id, x, y, w, h, score, category_id); image_ids: the samples evaluated; seconds: wall time;
    sizes: (height, width) of each sample's original image, as the pass read it (annotation-free mode needs
    them and need not read the images again)."""

    rows: np.ndarray
    image_ids: list[int]
    seconds: float
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return len(self.image_ids) / self.seconds if self.seconds else 0.0


def predict(runner: Runner, dataset: DatasetAdapter, image_ids: list[int], pipeline: Pipeline,
            decoder: Decoder, label: str, session: MetricSession | None = None,
            inputs: Callable[[int], tuple[Any, Any]] | None = None) -> Predictions:
    """Result rows of every sample; memory holds only the rows and a few samples in flight. With a metric
    `session`, each sample's rows go to it as soon as they are decoded, so the metric works during the pass.
    `inputs` (sample id → model input, geometry) replaces reading and preprocessing (an InputCache)."""
    per_image: dict[int, np.ndarray] = {}
    sizes: dict[int, tuple[int, int]] = {}
    lock = threading.Lock()
    inputs = inputs or (lambda image_id: pipeline(*dataset.load_sample(image_id)))

    def prepare(image_id: int):
        tensor, geometry = inputs(image_id)
        return image_id, tensor, geometry

    def collect(key, outputs: list[np.ndarray]) -> None:
        image_id, geometry = key
        rows = dataset.rows(image_id, decoder.decode(outputs), geometry)
        with lock:
            per_image[image_id] = rows
            sizes[image_id] = geometry.orig_size
            if session is not None:
                session.add([image_id], rows)
        bar.advance(task)

    start = time.perf_counter()
    with progress_bar() as bar, ThreadPoolExecutor(max_workers=2) as pool:
        task = bar.add_task(label, total=len(image_ids))
        prepared = bounded_map(pool, prepare, image_ids, window=2 * runner.jobs + 2)
        runner.run((((image_id, geometry), tensor) for image_id, tensor, geometry in prepared), collect)
    seconds = time.perf_counter() - start
    rows = [per_image[i] for i in image_ids]
    return Predictions(np.concatenate(rows) if rows else np.zeros((0, dataset.row_width)), list(image_ids), seconds,
                       sizes)


def scored_pass(runner: Runner, dataset: DatasetAdapter, image_ids: list[int], pipeline: Pipeline,
                decoder: Decoder, label: str, metric: Metric, ground_truth, per_item: bool = False,
                inputs: Callable[[int], tuple[Any, Any]] | None = None) -> tuple[Predictions, MetricResult]:
    """`predict` with the metric fed as samples finish: the pass and its score."""
    session = metric.session(ground_truth, image_ids, per_item)
    return predict(runner, dataset, image_ids, pipeline, decoder, label, session, inputs), session.result()


def variant(kind: str, precision: str, metric: MetricResult, predictions: Predictions, **details) -> Variant:
    """The report row of one evaluated model: metric summary and breakdown, result count, evaluation rate, and
    `details` (speed, artifact, ...) as `report.model.Variant` names them."""
    return Variant(kind=kind, precision=precision, metrics=metric.summary, breakdown=metric.breakdown,
                   breakdown_label=metric.breakdown_label, breakdown_higher_is_better=metric.breakdown_higher_is_better,
                   results=int(len(predictions.rows)),
                   images_per_second=predictions.images_per_second, curves=metric.curves, **details)


@dataclass(frozen=True)
class Evaluation:
    """What every variant of a run (OpenVINO, embedded, TFLite) is judged with: the same samples,
    preprocessing, decoder, metric and ground truth, on one device with one speed setting."""

    dataset: DatasetAdapter
    pipeline: Pipeline
    decoder: Decoder
    metric: Metric
    ids: list[int]
    ground_truth: Any
    device: str
    speed: SpeedConfig

    def score(self, runner: Runner, label: str, decoder: Decoder | None = None,
              pipeline: Pipeline | None = None) -> tuple[Predictions, MetricResult]:
        """One scored pass of `runner` (with another decoder or preprocessing where the model differs)."""
        return scored_pass(runner, self.dataset, self.ids, pipeline or self.pipeline, decoder or self.decoder, label,
                           self.metric, self.ground_truth)

    def first_sample(self):
        """The first evaluated sample (pixels, geometry): what speed is measured on."""
        return self.dataset.load_sample(self.ids[0])
