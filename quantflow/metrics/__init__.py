"""Metrics; the registry imports every module here, so a new provider is one new file."""

from quantflow.metrics.base import METRICS, Metric, MetricResult, MetricSession

__all__ = ["METRICS", "Metric", "MetricResult", "MetricSession"]
