"""Fault injection for the kill tests: `python tests/kill_at.py POINT -- ARGS...` runs `quantflow ARGS...` and
SIGKILLs its own process at POINT, as the OOM killer or a power cut would: no handler, no cleanup.

POINT is one of:
  fp32      during the FP32 evaluation (`quantflow.workflow.predict`)
  quantize  during quantization (`nncf.quantize`)
  report    writing report.md, after report.json was written (its `os.replace`)
  rename    the final rename of the finished run folder (before its `os.replace`)
  swap      between the two renames that replace an earlier run folder (after the old one was moved aside)
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def during(module: ModuleType, name: str, delay_s: float = 0.5) -> None:
    """Wrap `module.name`: a thread SIGKILLs the process `delay_s` after the call starts; if the real function is
    quicker, the wrapper waits for the kill, so the process always dies inside this step."""
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        threading.Timer(delay_s, die).start()
        real(*args, **kwargs)
        threading.Event().wait()

    setattr(module, name, wrapper)


def on_replace(hit: Callable[[Path, Path], bool], after: bool = False) -> None:
    """Wrap `os.replace`: SIGKILL just before (or just after) the rename of `src` to `dst` when `hit(src, dst)`."""
    real = os.replace

    def wrapper(src, dst, *args, **kwargs):
        matched = hit(Path(src), Path(dst))
        if matched and not after:
            die()
        real(src, dst, *args, **kwargs)
        if matched:
            die()

    os.replace = wrapper


def _fp32() -> None:
    import quantflow.pipeline.workflow

    during(quantflow.pipeline.workflow, "predict")


def _quantize() -> None:
    import nncf

    during(nncf, "quantize")


POINTS: dict[str, Callable[[], None]] = {
    "fp32": _fp32,
    "quantize": _quantize,
    "report": lambda: on_replace(lambda src, dst: dst.name == "report.md"),
    "rename": lambda: on_replace(lambda src, dst: src.parent.name.startswith(f".{src.name}.partial-")),
    "swap": lambda: on_replace(lambda src, dst: dst.parent.name.startswith(f".{dst.name}.old-"), after=True),
}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in POINTS or argv[1] != "--":
        print(f"usage: kill_at.py {{{','.join(POINTS)}}} -- QUANTFLOW-ARGS...", file=sys.stderr)
        return 2
    POINTS[argv[0]]()
    from quantflow.cli import main as quantflow_main

    return quantflow_main(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
