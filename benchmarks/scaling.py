"""How quantflow's Ray executor scales: zoo builds and sharded evaluation passes with 1 and 2 workers on a local
Ray head, against the local executor, and the fixed costs a model of N machines needs.

    python benchmarks/scaling.py [--repeat 3] [--zoo-repeat 1] [--images 200]

Zoo: the same four entries (the sample SSD and classifier, each twice under another name) built locally
(`--jobs 1`, `--jobs 2`) and on Ray heads with 1 and 2 CPUs (`--cpus-per-entry 1`), alternated, wall time of the
whole command. Sharded evaluation: one FP32 pass of the sample SSD over `--images` images, in this process
(local pass) and as 1 and 2 Ray shards, plus the fixed costs: joining the cluster, one task on one image (model
shipping, compiling, building the dataset on a fresh worker and on a reused one), the driver's merge and metric.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, SAMPLE_CONFIG, parser, quantflow_command, spread

sys.path.insert(0, str(ROOT))
from tests.ray_head import cluster_env, local_head  # noqa: E402  (the tests' local cluster)

QUICK = ["--set", "evaluation.speed={latency_runs: 20, throughput_seconds: 1}", "--set",
         "quantization.tflite={variants: [dynamic]}", "--set", "evaluation.cache_dir=null"]


def entry_configs(folder: Path) -> list[Path]:
    """Four entries: each sample config as is and under a second name (absolute paths)."""
    configs = []
    for source in (SAMPLE_CONFIG, ROOT / "configs" / "classification.yml"):
        raw = yaml.safe_load(source.read_text())
        for suffix in ("", "-b"):
            copy = dict(raw, model={**raw["model"], "name": raw["model"]["name"] + suffix})
            path = folder / f"{copy['model']['name']}.yml"
            path.write_text(yaml.safe_dump(_absolute(copy, source.parent)))
            configs.append(path)
    return configs


def _absolute(value, base: Path):
    """The config's relative paths (all start with ../ in the shipped configs) made absolute: the copies live
    elsewhere."""
    if isinstance(value, dict):
        return {key: _absolute(item, base) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("../"):
        return str((base / value).resolve())
    return value


def zoo_seconds(configs: list[Path], extra: list[str], env: dict | None = None) -> float:
    with tempfile.TemporaryDirectory() as zoo:
        start = time.perf_counter()
        result = subprocess.run([*quantflow_command(), "zoo", "build", *map(str, configs), "--zoo", zoo, *QUICK,
                                 *extra], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"zoo build {extra} failed: {result.stderr[-2000:]}")
    return seconds


def measure_zoo(configs: list[Path], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"local --jobs 1": [], "local --jobs 2": [], "ray 1 worker": [],
                                     "ray 2 workers": []}
    for _ in range(repeat):
        times["local --jobs 1"].append(zoo_seconds(configs, ["--jobs", "1"]))
        times["local --jobs 2"].append(zoo_seconds(configs, ["--jobs", "2"]))
        for cpus, name in ((1, "ray 1 worker"), (2, "ray 2 workers")):
            with local_head(cpus) as address:
                times[name].append(zoo_seconds(configs, ["--executor", "ray", "--cpus-per-entry", "1"],
                                               cluster_env(address)))
    return times


def measure_shards(images: int, repeat: int) -> dict[str, list[float]]:
    """In this process: a local pass, 1 and 2 shards, and the fixed costs, on a 2-CPU head."""
    import os

    from quantflow.backends.openvino.shipping import model_to_bytes
    from quantflow.config import load_config
    from quantflow.pipeline.sharded import ShardedPasses, _in_dataset_order
    from quantflow.pipeline.workflow import Run, prepare_model

    times: dict[str, list[float]] = {k: [] for k in ("local pass", "1 shard", "2 shards", "join cluster",
                                                     "first task, 1 image", "later task, 1 image",
                                                     "model to bytes", "driver merge + metric")}
    with local_head(2) as address:
        os.environ.update(cluster_env(address))
        overrides = [f"evaluation.max_images={images}", "executor.type=ray", f"executor.address={address}",
                     "output=/nonexistent/out"]
        config = load_config(SAMPLE_CONFIG, overrides)
        run = Run(config)
        s = run.stages
        model = prepare_model(config, s)
        ground_truth, ids, width = s.dataset.ground_truth(), s.evaluation_ids, s.dataset.row_width
        start = time.perf_counter()
        passes = ShardedPasses(config)
        times["join cluster"].append(time.perf_counter() - start)
        for _ in range(repeat):
            start = time.perf_counter()
            model_to_bytes(model)
            times["model to bytes"].append(time.perf_counter() - start)
        for k in range(repeat + 1):
            start = time.perf_counter()
            passes.predict_many([model], ids[:1], "one image", width)
            times["first task, 1 image" if k == 0 else "later task, 1 image"].append(time.perf_counter() - start)
        for _ in range(repeat):
            start = time.perf_counter()
            run.predict(model, ids, "local pass")
            times["local pass"].append(time.perf_counter() - start)
            for shards, name in ((1, "1 shard"), (2, "2 shards")):
                passes.shards = shards
                start = time.perf_counter()
                predictions = passes.predict_many([model], ids, name, width)[0]
                times[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            per_image = _in_dataset_order(ids, [(predictions.rows, {})], width)
            session = s.metric.session(ground_truth, ids)
            for sample in ids:
                session.add([sample], per_image[sample])
            session.result()
            times["driver merge + metric"].append(time.perf_counter() - start)
        import ray

        ray.shutdown()
    return times


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeat=3)
    args.add_argument("--images", type=int, default=200, help="images of the sharded pass")
    args.add_argument("--zoo-repeat", type=int, default=1, help="repetitions of each zoo build (minutes each)")
    args.add_argument("--skip-zoo", action="store_true", help="only the sharded evaluation")
    options = args.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    results["sharded evaluation"] = measure_shards(options.images, options.repeat)
    if not options.skip_zoo:
        with tempfile.TemporaryDirectory() as folder:
            results["zoo build, 4 entries"] = measure_zoo(entry_configs(Path(folder)), options.zoo_repeat)
    for part, times in results.items():
        print(f"## {part}")
        for name, values in times.items():
            print(f"{name:28} {spread(values, ' s')}")
    medians = {part: {name: statistics.median(v) for name, v in times.items()} for part, times in results.items()}
    print(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
