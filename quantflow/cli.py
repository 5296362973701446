"""Command line: `quantflow quantize|check --config X [--set key.path=value ...]`.

Heavy libraries (NNCF, TensorFlow) are imported only by the commands that need them, so `--help` is fast.
Exit codes: 0 success, 1 internal error, 2 bad input, 3 accuracy target not reached.
"""

from __future__ import annotations

import argparse
import logging
import sys

from quantflow import __version__
from quantflow.errors import QuantflowError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantflow", description="Post-training INT8 quantization with the "
                                     "dataset's own metric: convert, calibrate, quantize, evaluate, report.")
    parser.add_argument("--version", action="version", version=f"quantflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("quantize", "convert, evaluate FP32, quantize to INT8, evaluate INT8, write the run folder"),
                       ("check", "validate the config, data, model and decoder without running anything"),
                       ("benchmark", "latency and throughput of the model, and of the INT8 IR of an earlier run")):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--config", required=True, help="YAML config file")
        command.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                             help="override a config value (YAML syntax), repeatable")
    return parser


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    from quantflow.progress import console

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)])
    for noisy in ("nncf", "openvino", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _check(args) -> int:
    from quantflow.config import load_config
    from quantflow.progress import console
    from quantflow.workflow import build_stages, prepare_model

    config = load_config(args.config, args.overrides)
    stages = build_stages(config)
    prepare_model(config, stages)
    console.print(f"[green]ok[/green] {args.config}: model {config.model.name}, {len(stages.evaluation_ids)} "
                  f"{stages.dataset.sample_noun} to evaluate, {len(stages.calibration_ids)} "
                  f"{stages.calibration_source.sample_noun} to calibrate, input "
                  f"{list(stages.pipeline.spec.shape)} {stages.pipeline.spec.dtype}")
    return 0


def _quantize(args) -> int:
    from quantflow.config import load_config
    from quantflow.progress import console
    from quantflow.report import terminal_table
    from quantflow.workflow import run_quantize

    config = load_config(args.config, args.overrides)
    report = run_quantize(config)
    console.print(terminal_table(report))
    console.print(f"run folder: {config.output}")
    return 0


def _benchmark(args) -> int:
    from quantflow.benchmark import run_benchmark, speed_table
    from quantflow.config import load_config
    from quantflow.progress import console

    console.print(speed_table(run_benchmark(load_config(args.config, args.overrides))))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return {"check": _check, "quantize": _quantize, "benchmark": _benchmark}[args.command](args)
    except QuantflowError as exc:
        print(f"quantflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("quantflow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else is a bug in quantflow, not bad input
        if args.verbose:
            raise
        print(f"quantflow: internal error: {type(exc).__name__}: {exc} (rerun with -v for the traceback)",
              file=sys.stderr)
        return 1
