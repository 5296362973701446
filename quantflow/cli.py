"""Command line: `quantflow quantize|check|benchmark --config X [--set key.path=value ...]`, `quantflow zoo`,
`quantflow import-pot POT.json [--ac AC.yml] [--data-root DIR] -o OUT.yml`, `quantflow list [KIND]` and
`quantflow schema` (report.json's JSON Schema).

Heavy libraries (NNCF, TensorFlow) are imported only by the commands that need them, so `--help` is fast.
Exit codes: 0 success, 1 internal error, 2 bad input, 3 accuracy target not reached, 4 some zoo entries failed,
130 interrupted, 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from quantflow import __version__
from quantflow.core.errors import QuantflowError, Terminated, one_line
from quantflow.listing import KINDS, as_markdown, as_text, load_plugins_of


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
    zoo = commands.add_parser("zoo", help="build, index and verify a model zoo", description="build, index and "
                              "verify a model zoo: every precision of every model, measured, with cards")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True)
    build = zoo_commands.add_parser("build", help="quantize each config into ZOO/<task>/<name>/ and index them")
    build.add_argument("configs", nargs="+", type=Path, metavar="CONFIG", help="YAML config files")
    build.add_argument("--zoo", required=True, type=Path, help="zoo folder")
    build.add_argument("--jobs", type=int, default=1, help="models built at once, each in its own process")
    build.add_argument("--force", action="store_true", help="rebuild entries even when nothing changed")
    build.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a value in every config, repeatable")
    verify = zoo_commands.add_parser("verify", help="re-hash files, reload models, re-evaluate a quick subset")
    verify.add_argument("zoo", type=Path, help="zoo folder")
    pot = commands.add_parser("import-pot", help="convert a POT config (and its Accuracy Checker config) to a "
                              "quantflow config", description="convert an OpenVINO POT config and its Accuracy "
                              "Checker config into a quantflow config; what does not map is printed as warnings and "
                              "written as comments at the top of the file")
    pot.add_argument("pot", type=Path, metavar="POT.json", help="POT config (JSON with comments, or YAML)")
    pot.add_argument("--ac", type=Path, help="Accuracy Checker config (default: the POT engine's config)")
    pot.add_argument("--data-root", type=Path, help="folder that AC's data_source and annotation_file are relative to")
    pot.add_argument("-o", "--output", type=Path, required=True, help="quantflow YAML config to write")
    lister = commands.add_parser("list", help="every provider a config can name, with its keys", description="every "
                                 "dataset adapter, preprocessing step, decoder, metric and quantization algorithm a "
                                 "config can name, with its keys' types, defaults and descriptions")
    lister.add_argument("kind", nargs="?", choices=KINDS, metavar="KIND", help=f"one of {', '.join(KINDS)} "
                        "(default: all)")
    lister.add_argument("--format", choices=("text", "markdown"), default="text", help="markdown: tables, as in "
                        "the README's config reference")
    lister.add_argument("--config", type=Path, help="import this config's plugins first, so theirs are listed too")
    commands.add_parser("schema", help="the JSON Schema of report.json", description="print the JSON Schema of "
                        "the run report (report.json), for tools that read it; docs/report.schema.json holds a copy")
    return parser


def _setup_logging(verbose: bool) -> None:
    import rich
    from rich.logging import RichHandler

    from quantflow.core.progress import console

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)])
    for noisy in ("nncf", "openvino", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("torch").setLevel(logging.DEBUG if verbose else logging.ERROR)  # NNCF imports it if installed
    rich.reconfigure(stderr=True, quiet=not verbose)  # libraries' own rich bars (NNCF's): shown with -v, on stderr


def _check(args) -> int:
    from quantflow import api
    from quantflow.core.progress import console

    found = api.check(args.config, args.overrides)
    console.print(f"[green]ok[/green] {args.config}: model {found.config.model.name}, {found.evaluation_samples} "
                  f"{found.sample_noun} to evaluate, {found.calibration_samples} {found.calibration_noun} to "
                  f"calibrate, input "
                  f"{list(found.input_shape)} {found.input_dtype}")
    return 0


def _quantize(args) -> int:
    from quantflow import api
    from quantflow.core.progress import console
    from quantflow.report.markdown import terminal_table

    report = api.quantize(args.config, args.overrides)
    console.print(terminal_table(report))
    console.print(f"run folder: {report.config['output']}")
    return 0


def _benchmark(args) -> int:
    from quantflow.config import load_config
    from quantflow.core.progress import console
    from quantflow.pipeline.benchmark import run_benchmark, speed_table

    console.print(speed_table(run_benchmark(load_config(args.config, args.overrides))))
    return 0


def _zoo(args) -> int:
    from quantflow.core.errors import IncompleteError
    from quantflow.core.progress import console

    if args.zoo_command == "verify":
        from quantflow.zoo.verify import verify_zoo

        problems = verify_zoo(args.zoo, report=console.print)
        for problem in problems:
            console.print(f"[red]mismatch[/red] {problem}")
        if problems:
            raise IncompleteError(f"zoo verify: {len(problems)} problem(s) in {args.zoo}; first: {problems[0]}")
        console.print(f"zoo {args.zoo}: every entry verified")
        return 0
    from quantflow.zoo.build import build_zoo

    def show(outcome) -> None:
        detail = f" ({outcome.reason})" if outcome.reason else ""
        console.print(f"{outcome.status:8} {outcome.name} {outcome.config}{detail} {outcome.seconds:.0f} s",
                      markup=False, highlight=False)

    outcomes = build_zoo(args.configs, args.zoo, args.jobs, args.force, args.overrides, report=show)
    failed = [o for o in outcomes if o.status == "failed"]
    counts = {status: sum(o.status == status for o in outcomes) for status in ("built", "skipped", "failed")}
    index = f"; index: {args.zoo / 'index.md'}" if (args.zoo / "index.md").is_file() else ""
    console.print(f"zoo {args.zoo}: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + index)
    if failed:
        raise IncompleteError("zoo build: failed: " + "; ".join(f"{o.config}: {o.reason}" for o in failed))
    return 0


def _import_pot(args) -> int:
    from quantflow.core.progress import console
    from quantflow.importers.pot import import_pot_files

    notes = import_pot_files(args.pot, args.output, args.ac, args.data_root)
    console.print(f"wrote {args.output}; {len(notes)} item(s) not carried over as is are listed at its top; "
                  f"next: quantflow check --config {args.output}", markup=False, highlight=False)
    return 0


def _list(args) -> int:
    """The listing is the command's result, so it goes to stdout (`quantflow list --format markdown > ref.md`)."""
    if args.config:
        load_plugins_of(args.config)
    kinds = [args.kind] if args.kind else list(KINDS)
    sys.stdout.write(as_markdown(kinds) if args.format == "markdown" else as_text(kinds))
    return 0


def _schema(args) -> int:
    import json

    from quantflow.report.model import report_schema

    sys.stdout.write(json.dumps(report_schema(), indent=1) + "\n")
    return 0


def _terminate_handler(main_pid: int):
    """SIGTERM raises `Terminated` in quantflow's own process; a forked child (libraries fork helpers that inherit
    the handler) just exits as SIGTERM would have made it."""

    def handle(signum: int, frame) -> None:
        if os.getpid() != main_pid:
            os._exit(128 + signum)
        raise Terminated()

    return handle


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    signal.signal(signal.SIGTERM, _terminate_handler(os.getpid()))
    try:
        return {"check": _check, "quantize": _quantize, "benchmark": _benchmark, "zoo": _zoo,
                "import-pot": _import_pot, "list": _list, "schema": _schema}[args.command](args)
    except QuantflowError as exc:
        print(f"quantflow: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("quantflow: terminated (SIGTERM); nothing half-written was kept", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("quantflow: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else is a bug in quantflow, not bad input
        if args.verbose:
            raise
        print(f"quantflow: internal error: {type(exc).__name__}: {one_line(exc)} (rerun with -v for the "
              f"traceback)", file=sys.stderr)
        return 1
