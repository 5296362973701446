"""What every benchmark shares: the command line (config + `--set` overrides as quantflow takes them),
medians over repetitions (the machine is shared, so single runs mean little) and OpenVINO's benchmark_app."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = ROOT / "configs" / "ssd.yml"


def parser(description: str, repeat: int) -> argparse.ArgumentParser:
    """--config and --set exactly as `quantflow quantize` takes them, plus the number of repetitions."""
    args = argparse.ArgumentParser(description=description)
    args.add_argument("--config", type=Path, default=SAMPLE_CONFIG, help="quantflow YAML config")
    args.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                      help="config override, as `quantflow --set` (e.g. model.source=... for another model)")
    args.add_argument("--repeat", type=int, default=repeat, help="repetitions of each measurement")
    return args


def quantflow_command() -> list[str]:
    """The `quantflow` console script installed with this interpreter (a version manager's shim on PATH would
    add its own start-up to every figure)."""
    script = Path(sys.executable).parent / "quantflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "quantflow"]


def spread(values: Sequence[float], unit: str = "", digits: int = 2) -> str:
    """`median (min–max, n=…)`: the median is the figure, the range shows how noisy the machine was."""
    return (f"{statistics.median(values):.{digits}f}{unit} (min {min(values):.{digits}f}, "
            f"max {max(values):.{digits}f}, n={len(values)})")


def wall_time(command: list[str]) -> float:
    """Seconds one whole command takes; a failing command stops the benchmark with its stderr."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def benchmark_app_fps(xml: Path, seconds: int, images: Path | None = None) -> float:
    """FPS that OpenVINO's own benchmark_app reports for an IR (its "Throughput:" line), THROUGHPUT hint;
    random inputs unless `images` names a folder of real ones."""
    command = ["benchmark_app", "-m", str(xml), "-d", "CPU", "-hint", "throughput", "-t", str(seconds)]
    result = subprocess.run(command + (["-i", str(images)] if images else []), capture_output=True, text=True)
    match = re.search(r"Throughput:\s+([\d.]+)\s+FPS", result.stdout)
    if not match:
        raise RuntimeError(f"benchmark_app gave no Throughput line:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return float(match.group(1))
