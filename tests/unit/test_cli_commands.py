"""`--help`, `check`, `list` and `benchmark`: fast paths that must not pull in TensorFlow or NNCF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_cli

PROBE = """
import sys
from quantflow.cli import main
code = main({argv!r})
heavy = [m for m in ("tensorflow", "nncf", "ai_edge_litert") if m in sys.modules]
print("HEAVY", heavy, "CODE", code)
"""


def _probe(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=list(argv))], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    return done.stdout


def test_help_and_version() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "quantize" in result.stdout and "benchmark" in result.stdout
    assert run_cli("--version").stdout.startswith("quantflow ")


def test_check_imports_neither_tensorflow_nor_nncf() -> None:
    out = _probe("check", "--config", str(ROOT / "configs" / "ssd.yml"))
    assert "HEAVY [] CODE 0" in out, out


def test_list_imports_neither_tensorflow_nor_nncf() -> None:
    out = _probe("list")
    assert "HEAVY [] CODE 0" in out, out


def test_benchmark_reports_fp32_speed(tmp_path: Path) -> None:
    result = run_cli("benchmark", "--config", str(ROOT / "configs" / "ssd.yml"), "--set", f"output={tmp_path}",
                     "--set", "evaluation.speed={latency_runs: 5, warmup: 1, throughput_seconds: 0.5}")
    assert result.returncode == 0, result.stderr
    assert "FP32" in result.stderr and "INT8" not in result.stderr


def test_core_imports_nothing_of_quantflow_outside_core() -> None:
    """core/ is what every stage stands on; an import from a task, backend or the pipeline would turn that around."""
    import ast

    upward = []
    for path in sorted((ROOT / "quantflow" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            upward += [f"{path.name}: {m}" for m in modules
                       if m.startswith("quantflow") and not m.startswith("quantflow.core") and m != "quantflow"]
    assert not upward, upward
