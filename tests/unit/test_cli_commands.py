"""`--help`, `check`, `list` and `benchmark`: fast paths that must not pull in TensorFlow or NNCF; and the
import layers of the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_cli

PROBE = """
import sys
from quantflow.cli import main
code = main({argv!r})
heavy = [m for m in ("tensorflow", "nncf", "ai_edge_litert", "torch") if m in sys.modules]
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
    assert "FP32" in result.stdout and "INT8" not in result.stdout  # the result; progress went to stderr
    assert "latency ms (median)" in result.stdout.splitlines()[2]  # piped: a Markdown table under its title


# package → the quantflow packages it may import: the folder map read as layers, lowest first. Tasks stand on core
# alone (the workflow reaches them through the registries), so no stage outside tasks/ knows a task by name.
LAYERS = {
    "core": set(),
    "tasks": {"core"},
    "preprocessing": {"core"},
    "importers": {"core"},
    "report": {"core"},
    "executors": {"core"},
    "backends": {"core", "preprocessing"},
    "quantizers": {"core", "backends"},
    "config": {"core", "backends", "preprocessing", "quantizers", "executors"},
    "listing": {"core", "config"},
    "pipeline": {"core", "backends", "preprocessing", "quantizers", "config", "report", "executors"},
    "api": {"core", "config", "pipeline", "report"},
    "zoo": {"core", "backends", "preprocessing", "config", "pipeline", "report", "executors"},
    "cli": {"core", "config", "importers", "listing", "pipeline", "report", "zoo", "api", "executors"},
    "__main__": {"cli"},
}


def test_packages_import_only_the_layers_below_them() -> None:
    """core/ is what every stage stands on and tasks/ only on core: an import against the table would turn the
    architecture around (a task import in the workflow, a backend importing the pipeline, core importing up)."""
    import ast

    wrong = []
    for path in sorted((ROOT / "quantflow").rglob("*.py")):
        relative = path.relative_to(ROOT / "quantflow")
        package = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for module in modules:
                target = module.split(".")[1] if module.startswith("quantflow.") else None
                if target and target != package and target not in LAYERS.get(package, set()):
                    wrong.append(f"{relative}: {module}")
    assert set(LAYERS) >= {p.stem if p.is_file() else p.name for p in (ROOT / "quantflow").iterdir()
                           if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())} - {"__init__"}
    assert not wrong, wrong


def test_preprocessing_without_a_dtype_step_is_cast_to_the_models_input_type() -> None:
    """A uint8 image into the float32 sample model: converted, and said so; an explicit dtype still decides."""
    result = run_cli("check", "--config", str(ROOT / "configs" / "ssd.yml"),
                     "--set", "preprocessing=[{resize: {size: [160, 160]}}, {color: rgb}]")
    assert result.returncode == 0, result.stderr
    assert "ends in uint8, the model takes float32: converting" in " ".join(result.stderr.split())  # a log line
    assert "input [1, 160, 160, 3] float32" in result.stdout


def test_nncf_runs_without_importing_torch() -> None:
    """torch is installed here (the test extra) and NNCF would import it; quantflow hides it while NNCF works."""
    code = ("import sys\nfrom quantflow.quantizers.base import nncf_at_work\nwith nncf_at_work():\n"
            "    import nncf\n    from nncf.common.utils.backend import get_backend\n"
            "    import openvino as ov\n    import numpy as np\n"
            "    p = ov.opset13.parameter([1, 3], np.float32)\n"
            "    print(get_backend(ov.Model([ov.opset13.relu(p)], [p])))\n"
            "print('torch' in sys.modules)\nimport torch\nprint(bool(torch.__version__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["BackendType.OPENVINO", "False", "True"]
