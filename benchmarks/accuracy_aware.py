"""quantflow's accuracy-aware search against NNCF's (`nncf.quantize_with_accuracy_control`, quantflow's
`nncf_accuracy_control`) on the same model, data, target and time budget: the drop each reaches on the search
split, wall time, peak RSS and the candidates each evaluated. Each run is one whole `quantflow quantize` process.

    python benchmarks/accuracy_aware.py --config configs/centernet.yml --max-drop 0.01 --budget 900
    python benchmarks/accuracy_aware.py --config configs/ssd.yml --max-drop 0.002 --budget 240 --repeat 3
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import parser, quantflow_command, spread

STRATEGIES = ("accuracy_aware", "nncf_accuracy_control")


def peak_rss_of(command: list[str]) -> tuple[int, float, float]:
    """(exit code, seconds, peak RSS in GB) of a command run in its own child, so the peak is that command's."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
             "print(code, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True).stdout
    code, seconds, kilobytes = out.split()
    return int(code), float(seconds), int(kilobytes) / 2**20


def run_once(config: Path, overrides: list[str], strategy: str, max_drop: float, budget: float, out: Path) -> dict:
    search = f"{{algorithm: {strategy}, max_drop: {max_drop}, time_budget: {budget}}}"
    command = [*quantflow_command(), "quantize", "--config", str(config), "--set", f"output={out}",
               "--set", "evaluation.speed.enabled=false", "--set", f"quantization.openvino={search}",
               *(arg for o in overrides for arg in ("--set", o))]
    code, seconds, rss = peak_rss_of(command)
    if code not in (0, 3):
        raise RuntimeError(f"{' '.join(command)} exited {code}")
    report = json.loads((out / "report.json").read_text())
    q = report["quantization"]
    main = report["metric"]["main"]
    return {"strategy": strategy, "exit": code, "seconds": seconds, "quantize_s": report["timings_s"]["quantize"],
            "peak_rss_gb": rss, "search_drop": q["target"]["search_drop"], "reached": q["target"]["reached"],
            "stop_reason": q["target"]["stop_reason"], "evaluations": len(q["steps"]),
            "in_float": len(q["reverted"]), "quantized_ops": q["quantized_operations"]["before_search"],
            "fp32": report["results"]["FP32"]["metrics"][main], "int8": report["results"]["INT8"]["metrics"][main]}


def main() -> None:
    args = parser(__doc__.splitlines()[0], repeat=1)
    args.add_argument("--max-drop", type=float, default=0.01)
    args.add_argument("--budget", type=float, default=900.0, help="time_budget of both searches, seconds")
    args.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    options = args.parse_args()
    rows: dict[str, list[dict]] = {s: [] for s in options.strategies}
    with tempfile.TemporaryDirectory() as folder:
        for k in range(options.repeat):
            for strategy in options.strategies:  # alternating, so both see the same machine load
                row = run_once(options.config, options.overrides, strategy, options.max_drop, options.budget,
                               Path(folder) / f"{strategy}-{k}")
                rows[strategy].append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{options.config.name}: max_drop {options.max_drop}, time_budget {options.budget:.0f} s, "
          f"{options.repeat} run(s) each, {time.strftime('%Y-%m-%d')}")
    print("| strategy | search drop | reached | candidates | ops in float | quantize s | whole run s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|")
    for strategy, runs in rows.items():
        print(f"| {strategy} | {statistics.median(r['search_drop'] for r in runs):+.4f} | "
              f"{sum(r['reached'] for r in runs)}/{len(runs)} | {statistics.median(r['evaluations'] for r in runs):.0f} | "
              f"{statistics.median(r['in_float'] for r in runs):.0f} of {runs[0]['quantized_ops']} | "
              f"{spread([r['quantize_s'] for r in runs], digits=0)} | {spread([r['seconds'] for r in runs], digits=0)} | "
              f"{max(r['peak_rss_gb'] for r in runs):.2f} |")


if __name__ == "__main__":
    main()
