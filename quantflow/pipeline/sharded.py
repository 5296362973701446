"""Evaluation passes split over Ray tasks (`executor: ray`): each task compiles the model once and predicts a
shard of the sample ids; the driver puts the shards' result rows back in dataset order and feeds them to the
metric exactly as a single-process pass does, so the figures are equal, not close.

What crosses the network: the config (once per run), the model as IR bytes (once per model, through Ray's
object store) and the result rows back. Images are read by the workers from the shared storage the config
names.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from quantflow.backends.openvino.runner import OpenVINORunner
from quantflow.backends.openvino.shipping import model_from_bytes, model_to_bytes
from quantflow.backends.openvino.sources import input_element_type, output_infos
from quantflow.config import Config
from quantflow.config.loader import config_from_dump
from quantflow.core.errors import QuantflowError
from quantflow.core.metric import MetricSession
from quantflow.core.progress import progress_bar
from quantflow.executors.ray_cluster import (
    check_resources,
    connect,
    gather,
    probe_paths,
    progress_board,
    ray_module,
    task_resources,
)
from quantflow.pipeline.evaluate import Predictions, predict

RELAY_S = 0.5


class _Relay(MetricSession):
    """Stands where a pass hands each sample's rows: counts them and posts the count to the driver's board."""

    def __init__(self, board, key: str) -> None:
        self.board, self.key, self.count, self.posted = board, key, 0, 0.0

    def add(self, image_ids: list[int], rows: np.ndarray) -> None:
        self.count += len(image_ids)
        if time.monotonic() - self.posted > RELAY_S:
            self.board.post.remote(self.key, str(self.count))
            self.posted = time.monotonic()


@functools.cache
def _worker_stages(settings_json: str, base_dir: str):
    """The run's providers, built once per worker process (Ray reuses its workers across tasks)."""
    import json

    from quantflow.pipeline.workflow import build_stages

    config = config_from_dump(json.loads(settings_json), base_dir)
    return config, build_stages(config)


def predict_shard(shipped_config: tuple[str, str], shipped_model: tuple[bytes, bytes], ids: list[int], key: str,
                  board) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
    """On a worker: the result rows of `ids` (in the order of `ids`) and each sample's image size."""
    ray = ray_module()
    config, stages = _worker_stages(*shipped_config)
    model = model_from_bytes(*shipped_model)
    stages.pipeline.adopt_input_type(input_element_type(model))
    stages.decoder.bind(output_infos(model))
    threads = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
    runner = OpenVINORunner(model, config.evaluation.device, threads=threads)
    relay = _Relay(board, key)
    predictions = predict(runner, stages.dataset, ids, stages.pipeline, stages.decoder, key, relay)
    board.post.remote(key, str(len(ids)))
    return predictions.rows, predictions.sizes


def _in_dataset_order(ids: list[int], parts: list[tuple[np.ndarray, dict]], width: int) -> dict[int, np.ndarray]:
    """Each sample's rows (in the order its decoder produced them) from the shards' results."""
    rows = np.concatenate([part[0] for part in parts]) if parts else np.zeros((0, width))
    position = {sample: k for k, sample in enumerate(ids)}
    order = np.array([position[int(sample)] for sample in rows[:, 0]], np.int64)
    index = np.argsort(order, kind="stable")
    rows = rows[index]
    bounds = np.searchsorted(order[index], np.arange(len(ids) + 1))
    return {sample: rows[bounds[k]:bounds[k + 1]] for k, sample in enumerate(ids)}


@functools.cache
def _remote_predict_shard():
    return ray_module().remote(predict_shard)


class ShardedPasses:
    """The driver's side: joins the cluster, checks it can run the tasks and read the inputs, ships the config."""

    def __init__(self, config: Config) -> None:
        import json

        settings = config.executor
        connect(settings)
        check_resources(settings.cpus_per_task, settings.memory_gb, "executor.cpus_per_task")
        probe_paths([(key, path) for key, path in config.inputs().items() if path is not None])
        ray = ray_module()
        base = config.file.parent if config.file else Path.cwd()
        self._config = ray.put((json.dumps(config.model_dump(mode="json")), str(base)))
        cpus = ray.cluster_resources().get("CPU", 1)
        self.shards = settings.shards or max(1, int(cpus // settings.cpus_per_task))
        self._options = {**task_resources(settings.cpus_per_task, settings.memory_gb), "max_retries": 1}

    def predict_many(self, models: list, ids: list[int], label: str, width: int,
                     sessions: list[MetricSession | None] | None = None) -> list[Predictions]:
        """The predictions of every model on `ids`, the shards of all models running at once; each model's
        samples go to its session (if any) in dataset order."""
        ray = ray_module()
        ids = list(ids)
        per_model = max(1, min(len(ids), self.shards // len(models)))
        shards = [ids[k::per_model] for k in range(per_model)]
        board, task, refs = progress_board(), _remote_predict_shard().options(**self._options), {}
        start = time.perf_counter()
        for m, model in enumerate(models):
            shipped = ray.put(model_to_bytes(model))
            for s, shard in enumerate(shards):
                refs[task.remote(self._config, shipped, shard, f"{m}/{s}", board)] = (m, s)
        results: dict[tuple[int, int], tuple[np.ndarray, dict]] = {}
        done: dict[str, int] = {}
        with progress_bar() as bar:
            row = bar.add_task(f"{label} ({len(refs)} Ray tasks)", total=len(models) * len(ids))

            def on_progress(key: str, count: str) -> None:
                done[key] = int(count)
                bar.update(row, completed=sum(done.values()))

            def on_done(key: tuple[int, int], value) -> None:
                if isinstance(value, Exception):
                    cause = getattr(value, "cause", None)
                    if isinstance(cause, QuantflowError):
                        raise cause
                    raise QuantflowError(f"{label}: a Ray task failed: {str(value).splitlines()[0]}")
                results[key] = value

            gather(refs, on_done, board, on_progress)
        seconds = time.perf_counter() - start
        predictions = []
        for m, session in enumerate(sessions or [None] * len(models)):
            parts = [results[m, s] for s in range(len(shards))]
            per_image = _in_dataset_order(ids, parts, width)
            if session is not None:
                for sample in ids:
                    session.add([sample], per_image[sample])
            sizes = {sample: tuple(size) for part in parts for sample, size in part[1].items()}
            rows = np.concatenate([per_image[i] for i in ids]) if ids else np.zeros((0, width))
            predictions.append(Predictions(rows, ids, seconds, sizes))
        return predictions
