"""Wall time of `quantflow quantize` against the same job written by hand (plain_nncf_flow.py): what the
tool's validation, pipelining, per-class/per-image metrics and report cost or save. Runs alternate.

    python benchmarks/quantize_vs_plain.py [--config configs/ssd.yml] [--set key=value ...] [--repeat 3]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

from common import parser, quantflow_command, spread, wall_time

from quantflow.config import load_config

TARGET = 1.10
PLAIN = Path(__file__).resolve().parent / "plain_nncf_flow.py"
STAGES = ("load", "evaluate_fp32", "quantize", "evaluate_int8")



def main() -> None:
    options = parser(__doc__.split("\n\n")[0], repeat=3).parse_args()
    config = load_config(options.config, options.overrides)
    quantflow = [*quantflow_command(), "quantize", "--config", str(options.config),
                 *(f"--set={o}" for o in options.overrides), "--set", "evaluation.speed.enabled=false",
                 "--set", "evaluation.cache_dir=null"]
    plain = [sys.executable, str(PLAIN), "--model", str(config.model.source), "--anchors", str(config.decoder.anchors),
             "--annotations", str(config.dataset.annotations), "--images", str(config.dataset.images),
             "--calib", str(config.calibration.images)]
    times: dict[str, list[float]] = {"quantflow": [], "plain": []}
    stages: dict[str, list[dict]] = {"quantflow": [], "plain": []}
    ap: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(options.repeat):
            for name in (("quantflow", "plain") if rep % 2 == 0 else ("plain", "quantflow")):
                out = Path(tmp) / f"{name}{rep}"
                times[name].append(wall_time([*quantflow, f"--set=output={out}"] if name == "quantflow"
                                         else [*plain, "--out", str(out)]))
                report = json.loads((out / "report.json").read_text())
                seconds = report["timings_s"]
                stages[name].append({**seconds, "other": seconds["total"] - sum(seconds.get(s, 0.0) for s in STAGES)})
                ap[name] = ((report["results"]["FP32"]["metrics"]["AP"], report["results"]["INT8"]["metrics"]["AP"])
                            if name == "quantflow" else (report["FP32_AP"], report["INT8_AP"]))

    ratios = [q / p for q, p in zip(times["quantflow"], times["plain"])]
    ratio = statistics.median(ratios)
    print(f"quantflow quantize (wall, process start to exit): {spread(times['quantflow'], ' s', 1)}")
    print(f"plain_nncf_flow.py (wall, process start to exit): {spread(times['plain'], ' s', 1)}")
    print(f"ratio quantflow / plain (median of paired runs): {ratio:.3f}  target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'}")
    print("median seconds per stage (each process's own clock):")
    for stage in (*STAGES, "other", "total"):
        q, p = (statistics.median(s.get(stage, 0.0) for s in stages[name]) for name in ("quantflow", "plain"))
        print(f"  {stage:14s} quantflow {q:6.1f}  plain {p:6.1f}")
    for name, (fp32, int8) in ap.items():
        print(f"{name} AP (same job, so these should agree): FP32 {fp32:.4f}, INT8 {int8:.4f}")


if __name__ == "__main__":
    main()
