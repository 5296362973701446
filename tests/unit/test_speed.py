"""Direct tests of the speed measurement: its settings, the latency statistics, the parallel throughput loop and
`measure_speed` on a tiny real OpenVINO model. Figures are checked for structure and sanity, never for values."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pydantic import ValidationError

from quantflow.backends.openvino.speed import SpeedConfig, latency, measure_speed, parallel_throughput


def tiny_model():
    """x [1,32] → relu(x @ W): a real model small enough that timing loops cost milliseconds."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 32], np.float32, name="x")
    weights = np.random.default_rng(0).normal(size=(32, 16)).astype(np.float32)
    return ov.Model([ops.relu(ops.matmul(x, ops.constant(weights), False, False))], [x], "tiny")


def evaluation_section(**values):
    """The root config's `evaluation` section, found through the exported `Config` (its module is being moved)."""
    from quantflow.config import Config

    return Config.model_fields["evaluation"].annotation(**values)


class Calls:
    """An `infer` stand-in (test input, not the code under test) that sleeps a known time per call and counts."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.count = seconds, 0

    def __call__(self) -> None:
        self.count += 1
        time.sleep(self.seconds)


# --- settings -----------------------------------------------------------------------------------------------------


def test_speed_settings_defaults_are_the_documented_ones() -> None:
    """README documents `speed: {enabled: true, warmup: 10, latency_runs: 100, throughput_seconds: 3}` and the
    root config must carry exactly that by default."""
    settings = evaluation_section().speed
    assert isinstance(settings, SpeedConfig)
    assert settings.model_dump() == {"enabled": True, "warmup": 10, "latency_runs": 100, "throughput_seconds": 3.0}


def test_speed_can_be_disabled_and_warmup_turned_off() -> None:
    """`enabled: false` and `warmup: 0` are valid settings; the other values keep their defaults."""
    settings = evaluation_section(speed={"enabled": False, "warmup": 0}).speed
    assert settings.enabled is False and settings.warmup == 0
    assert settings.latency_runs == SpeedConfig().latency_runs


@pytest.mark.parametrize("bad", [{"latency_runs": 0}, {"throughput_seconds": 0}, {"throughput_seconds": -1.0},
                                 {"warmup": -1}, {"latency_run": 5}])
def test_speed_settings_refuse_values_that_cannot_time_anything(bad: dict) -> None:
    """Zero timed runs would make the median a NaN and zero seconds a division by zero: refused at load time,
    as is a misspelt key."""
    with pytest.raises(ValidationError):
        SpeedConfig(**bad)


def test_speed_settings_are_frozen() -> None:
    """Config sections are immutable after validation; a measurement cannot change its own settings."""
    settings = SpeedConfig()
    with pytest.raises(ValidationError):
        settings.latency_runs = 1


# --- latency ------------------------------------------------------------------------------------------------------


def test_latency_honours_counts_and_discards_warmup() -> None:
    """Exactly warmup + latency_runs calls; the slow warm-up calls must not show in the figures (a first-call
    compile or cache fill would otherwise inflate the median)."""
    fast = 0.002
    calls = Calls(0.05)
    settings = SpeedConfig(warmup=2, latency_runs=6)

    def infer() -> None:
        calls.seconds = 0.05 if calls.count < settings.warmup else fast
        calls()

    figures = latency(infer, settings)
    assert calls.count == settings.warmup + settings.latency_runs
    assert set(figures) == {"latency_ms_median", "latency_ms_p90"}
    assert fast * 1000 <= figures["latency_ms_median"] <= figures["latency_ms_p90"]
    assert figures["latency_ms_median"] < 40, "warm-up calls were timed"


def test_latency_without_warmup_times_every_call() -> None:
    """warmup: 0 means no untimed call at all: the first (slow) call is part of the statistics."""
    calls = Calls(0.002)
    settings = SpeedConfig(warmup=0, latency_runs=4)

    def infer() -> None:
        calls.seconds = 0.06 if calls.count == 0 else 0.002
        calls()

    figures = latency(infer, settings)
    assert calls.count == 4
    # p90 of four values interpolates 70% of the way from the third to the fourth (slow) one
    assert figures["latency_ms_p90"] >= 0.7 * 60
    assert 2 <= figures["latency_ms_median"] <= figures["latency_ms_p90"]


def test_latency_median_lies_between_fastest_and_slowest_call() -> None:
    """The median and p90 are statistics of the timed calls: never below the shortest nor above the longest."""
    durations = iter([0.001, 0.004, 0.002, 0.008, 0.003])
    spans = []

    def infer() -> None:
        start = time.perf_counter()
        time.sleep(next(durations))
        spans.append((time.perf_counter() - start) * 1000)

    figures = latency(infer, SpeedConfig(warmup=0, latency_runs=5))
    assert min(spans) <= figures["latency_ms_median"] <= figures["latency_ms_p90"] <= max(spans) * 1.05 + 0.5


# --- parallel_throughput ------------------------------------------------------------------------------------------


def test_parallel_throughput_counts_every_worker_for_the_set_duration() -> None:
    """One runner per worker, each warmed up, all busy for throughput_seconds; FPS = calls / elapsed, which must
    lie between calls / (the whole call's wall time) and calls / throughput_seconds."""
    runners: list[Calls] = []

    def make_infer() -> Calls:
        runners.append(Calls(0.001))
        return runners[-1]

    settings = SpeedConfig(warmup=2, throughput_seconds=0.15)
    start = time.perf_counter()
    figures = parallel_throughput(make_infer, 2, settings)
    wall = time.perf_counter() - start
    assert len(runners) == 2
    assert figures["streams"] == 2 and figures["throughput_threads"] == 1
    timed = sum(r.count for r in runners) - settings.warmup * len(runners)
    assert all(r.count > settings.warmup for r in runners), "a worker did no timed call"
    assert timed / wall <= figures["throughput_fps"] <= timed / settings.throughput_seconds
    assert figures["throughput_fps"] <= 2 / 0.001, "more calls than two 1 ms workers can make"


# --- measure_speed on a real model --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured() -> tuple[dict, float, SpeedConfig]:
    settings = SpeedConfig(warmup=2, latency_runs=8, throughput_seconds=0.3)
    tensor = np.random.default_rng(1).normal(size=(1, 32)).astype(np.float32)
    start = time.perf_counter()
    figures = measure_speed(tiny_model(), tensor, "CPU", settings)
    return figures, time.perf_counter() - start, settings


def test_measure_speed_reports_every_figure(measured) -> None:
    """The report's speed table reads these keys; each must be there with its type."""
    figures, _, _ = measured
    assert set(figures) == {"latency_ms_median", "latency_ms_p90", "latency_threads", "throughput_fps", "streams",
                            "requests", "throughput_threads"}
    for key in ("latency_threads", "streams", "requests", "throughput_threads"):
        assert isinstance(figures[key], int) and figures[key] >= 1, key
    for key in ("latency_ms_median", "latency_ms_p90", "throughput_fps"):
        assert isinstance(figures[key], float) and np.isfinite(figures[key]) and figures[key] > 0, key


def test_measure_speed_figures_are_consistent(measured) -> None:
    """Sanity: median ≤ p90; at least one request per stream; threads no more than the machine has; the timed
    latency runs fit in the time the call took; the throughput run lasted throughput_seconds (not the default)."""
    import os

    figures, wall, settings = measured
    assert figures["latency_ms_median"] <= figures["latency_ms_p90"]
    assert figures["requests"] >= figures["streams"]
    assert figures["latency_threads"] <= (os.cpu_count() or 1)
    assert figures["throughput_threads"] <= (os.cpu_count() or 1)
    assert figures["latency_ms_median"] * settings.latency_runs / 2 < wall * 1000
    assert settings.throughput_seconds <= wall < settings.throughput_seconds + 2.5, "throughput_seconds ignored"
    assert figures["throughput_fps"] * settings.throughput_seconds >= 1, "no inference counted"
