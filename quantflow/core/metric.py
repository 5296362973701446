"""The metric interface: ground truth + predictions of a whole pass → numbers overall, per class, per image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quantflow.core.registry import Registry

METRICS: Registry = Registry("metric", package="quantflow.tasks")


@dataclass(frozen=True)
class MetricResult:
    """summary: name → value (None where the dataset cannot define it, e.g. no small objects);
    main: the key accuracy targets and deltas refer to; breakdown: part → value, where `breakdown_label`
    names the part and the value (per class AP for detection, per keypoint error for pose);
    per_item: item id → a score of that item alone (higher is better), for accuracy-aware ranking;
    higher_is_better: the direction of `main` (EPE is lower-is-better); breakdown_higher_is_better: that of the
    breakdown values where it differs (pose: pixel errors per keypoint under an AP); curves: precision-recall
    curves."""

    summary: dict[str, float | None]
    main: str
    breakdown: dict[str, float | None] = field(default_factory=dict)
    per_item: dict[int, float] = field(default_factory=dict)
    breakdown_label: tuple[str, str] = ("class", "AP")
    higher_is_better: bool = True
    breakdown_higher_is_better: bool | None = None
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # name → {"recall": [...], "precision": [...]}

    @property
    def value(self) -> float:
        return float(self.summary[self.main] or 0.0)

    @property
    def score(self) -> float:
        """`value` oriented so that higher is better: what accuracy-aware search maximizes."""
        return self.value if self.higher_is_better else -self.value

    def loss_to(self, other: float | None) -> float:
        """How much worse `other` (a value of `main`) is than this result; positive = worse."""
        other = float(other or 0.0)
        return self.value - other if self.higher_is_better else other - self.value


class MetricSession:
    """The results of one pass, fed as samples finish (by one thread at a time). This default keeps the rows
    and evaluates them when the pass is over; a metric whose work can start early overrides `Metric.session`."""

    def __init__(self, metric: Metric, ground_truth, image_ids: list[int], per_item: bool) -> None:
        self.metric, self.ground_truth, self.image_ids, self.per_item = metric, ground_truth, image_ids, per_item
        self.rows: list[np.ndarray] = []

    def add(self, image_ids: list[int], rows: np.ndarray) -> None:
        """The result rows of samples that just finished."""
        self.rows.append(rows)

    def result(self) -> MetricResult:
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, 0))
        return self.metric.evaluate(self.ground_truth, rows, self.image_ids, self.per_item)


def rows_of_samples(predictions: np.ndarray, width: int, sample_ids) -> np.ndarray:
    """The result rows (float64, `width` columns) of the samples in `sample_ids`: what a metric scores when it is
    handed a pass's rows and asked about a subset of its samples (an accuracy-aware search's split)."""
    rows = np.asarray(predictions, dtype=np.float64).reshape(-1, width)
    return rows[np.isin(rows[:, 0], list(sample_ids))]


class Metric:
    """Subclasses declare `Config` and implement `evaluate(ground_truth, predictions, image_ids, per_item)`
    (or `session`, to overlap their work with inference); per-item values cost time and only accuracy-aware
    searches ask for them.

    predictions: the result rows of the pass, column 0 the sample id, the other columns as the metric's task
    lays them out (see the task's `task.py`).
    """

    Config: type
    task: str = "detection"
    summary_keys: tuple[str, ...] = ()  # the summary values tables show, in order (the summary may hold more)
    main: str = ""  # the summary value accuracy targets and deltas refer to
    higher_is_better: bool = True  # the direction of `main`

    def __init__(self, config) -> None:
        self.config = config

    def evaluate(self, ground_truth, predictions: np.ndarray, image_ids: list[int],
                 per_item: bool = False) -> MetricResult:
        raise NotImplementedError

    def session(self, ground_truth, image_ids: list[int], per_item: bool = False) -> MetricSession:
        """Where a pass hands its results as they come."""
        return MetricSession(self, ground_truth, image_ids, per_item)
