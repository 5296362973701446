"""Metrics; importing this package registers the built-ins."""

from quantflow.metrics import coco_ap, coco_keypoints_ap, disparity  # noqa: F401
from quantflow.metrics.base import METRICS, Metric, MetricResult, MetricSession

__all__ = ["METRICS", "Metric", "MetricResult", "MetricSession"]
