"""quantflow's default INT8 drop against a plain `nncf.quantize` call on the same model and calibration data, for
every shipped sample (with the config's own default-quantization settings, e.g. YOLO's automatic ignored scope;
a config that asks for a search gets plain default quantization): the plain model is what a user gets from NNCF
with its defaults and nothing else; both
INT8 models are then evaluated by the same quantflow pass (same images, preprocessing, decoder and metric), so
only the quantization differs.

    python benchmarks/default_vs_plain.py [--configs configs/ssd.yml ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ROOT

from quantflow.config import load_config
from quantflow.pipeline.workflow import Run, prepare_model

SAMPLES = ("ssd", "yolo", "centernet", "pose", "stereo", "stereo_motorcycle")


def compare(config_path: Path) -> dict:
    import nncf

    config = load_config(config_path, ["evaluation.cache_dir=null"])
    if config.quantization.openvino.algorithm != "default":  # the shipped search configs: their default quantization
        config = load_config(config_path, ["evaluation.cache_dir=null", "quantization.openvino={algorithm: default}"])
    run = Run(config)
    stages = run.stages
    model = prepare_model(config, stages)
    ground_truth, _ = run.labels()
    calibration = run.calibration()
    tensors = [calibration.to_input(i) for i in calibration.ids]
    _, fp32 = run.evaluate(model, stages.evaluation_ids, "FP32", ground_truth)
    started = time.perf_counter()
    ours = stages.quantizer.quantize(model, calibration, None).model
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = nncf.quantize(model, nncf.Dataset(tensors), subset_size=len(tensors))
    plain_seconds = time.perf_counter() - started
    _, ours_metric = run.evaluate(ours, stages.evaluation_ids, "quantflow INT8", ground_truth)
    _, plain_metric = run.evaluate(plain, stages.evaluation_ids, "plain INT8", ground_truth)
    sign = 1 if fp32.higher_is_better else -1
    return {"config": config_path.name, "metric": fp32.main, "fp32": fp32.value,
            "quantflow_drop": sign * (fp32.value - ours_metric.value), "plain_drop": sign * (fp32.value - plain_metric.value),
            "quantflow_s": ours_seconds, "plain_s": plain_seconds}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--configs", nargs="+", type=Path, default=[ROOT / "configs" / f"{s}.yml" for s in SAMPLES])
    options = args.parse_args()
    rows = [compare(path) for path in options.configs]
    print(f"\n{time.strftime('%Y-%m-%d')}: drop = FP32 − INT8 in the main metric (for EPE: INT8 − FP32)")
    print("| sample | metric | FP32 | quantflow default drop | plain nncf.quantize drop | quantflow ≤ plain |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['metric']} | {r['fp32']:.4f} | {r['quantflow_drop']:+.4f} | "
              f"{r['plain_drop']:+.4f} | {'yes' if r['quantflow_drop'] <= r['plain_drop'] + 1e-12 else 'no'} |")


if __name__ == "__main__":
    main()
