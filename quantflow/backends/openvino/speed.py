"""Speed as a deployment engineer quotes it: latency (LATENCY hint, one request, median and p90 after
warm-up) and throughput (THROUGHPUT hint, all streams busy), with the streams and threads that produced it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from pydantic import Field

from quantflow.backends.openvino.runner import compile_exact, feed
from quantflow.core.config_base import StrictModel
from quantflow.core.timing_lock import timing_alone


class SpeedConfig(StrictModel):
    enabled: bool = True
    warmup: int = Field(default=10, ge=0, description="Inferences discarded before timing.")
    latency_runs: int = Field(default=100, gt=0, description="Timed single-request inferences.")
    throughput_seconds: float = Field(default=3.0, gt=0, description="Duration of the throughput run.")


def latency(infer: Callable[[], object], config: SpeedConfig) -> dict:
    """Median and p90 of `config.latency_runs` timed calls of `infer` after `config.warmup` untimed ones."""
    times = []
    with timing_alone():
        for _ in range(config.warmup):
            infer()
        for _ in range(config.latency_runs):
            start = time.perf_counter()
            infer()
            times.append((time.perf_counter() - start) * 1000)
    return {"latency_ms_median": float(np.median(times)), "latency_ms_p90": float(np.percentile(times, 90))}


def parallel_throughput(make_infer: Callable[[], Callable[[], object]], workers: int, config: SpeedConfig) -> dict:
    """Inferences per second with `workers` independent single-threaded runners busy at once (one per core):
    the throughput figure for runtimes without OpenVINO's streams, such as the LiteRT interpreter."""
    infers = [make_infer() for _ in range(workers)]
    counts = [0] * workers

    def loop(index: int, deadline: float) -> None:
        while time.perf_counter() < deadline:
            infers[index]()
            counts[index] += 1

    with timing_alone():
        for infer in infers:
            for _ in range(config.warmup):
                infer()
        start = time.perf_counter()
        threads = [threading.Thread(target=loop, args=(i, start + config.throughput_seconds)) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    return {"throughput_fps": sum(counts) / seconds, "streams": workers, "throughput_threads": 1}


def _latency(model, tensor: np.ndarray, device: str, config: SpeedConfig) -> dict:
    compiled = compile_exact(model, device, "LATENCY")
    request = compiled.create_infer_request()
    return {**latency(lambda: request.infer(feed(tensor)), config),
            "latency_threads": int(compiled.get_property("INFERENCE_NUM_THREADS"))}


def _throughput(model, tensor: np.ndarray, device: str, config: SpeedConfig) -> dict:
    import openvino as ov

    compiled = compile_exact(model, device, "THROUGHPUT")
    queue = ov.AsyncInferQueue(compiled, 0)
    with timing_alone():
        for _ in range(max(config.warmup, len(queue))):
            queue.start_async(feed(tensor))
        queue.wait_all()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < config.throughput_seconds:
            queue.start_async(feed(tensor))
            count += 1
        queue.wait_all()
        seconds = time.perf_counter() - start
    return {"throughput_fps": count / seconds, "streams": int(compiled.get_property("NUM_STREAMS")),
            "requests": len(queue), "throughput_threads": int(compiled.get_property("INFERENCE_NUM_THREADS"))}


def measure_speed(model, tensor: np.ndarray, device: str, config: SpeedConfig) -> dict:
    """Latency and throughput of `model` on one real preprocessed input."""
    return {**_latency(model, tensor, device, config), **_throughput(model, tensor, device, config)}
