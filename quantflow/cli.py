"""Command line: `quantflow quantize|check|benchmark --config X [--set key.path=value ...]`, `quantflow zoo`,
`quantflow import-pot POT.json [--ac AC.yml] [--data-root DIR] -o OUT.yml`, `quantflow compare RUN...`,
`quantflow list [KIND]` and `quantflow schema` (report.json's JSON Schema).

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
import textwrap
from pathlib import Path

from quantflow import __version__
from quantflow.core.errors import QuantflowError, Terminated, one_line
from quantflow.listing import KINDS, as_markdown, as_text, load_plugins_of

EXIT_CODES = (
    "exit codes: 0 success, 1 internal error, 2 bad input (one line naming the key or file), 3 accuracy target not "
    "reached (the best model and its report are written), 4 some zoo entries failed or did not verify, 130 "
    "interrupted, 143 terminated (SIGTERM)",
    "Results go to stdout, progress and logs to stderr. Paths given on the command line are relative to the "
    "working directory; paths in a config file, to the config's folder.",
)


def _wrapped(*paragraphs: str) -> str:
    """Help text wrapped for an 80-column terminal (the raw formatter keeps the paragraphs apart)."""
    return "\n\n".join(textwrap.fill(p, 78) for p in paragraphs)


def _verbose_flag() -> argparse.ArgumentParser:
    """`-v` accepted before or after the command: every parser gets it, and only a given flag sets the value."""
    flag = argparse.ArgumentParser(add_help=False)
    flag.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                      help="debug logging, third-party output and tracebacks")
    return flag


def _executor_flags(parser: argparse.ArgumentParser, ray: str) -> None:
    parser.add_argument("--executor", choices=("local", "ray"), help=f"where the work runs: local (default) or "
                        f"ray: {ray}; needs pip install 'quantflow[ray]'")
    parser.add_argument("--ray-address", metavar="ADDRESS", help="Ray cluster: host:port, ray://host:port or auto "
                        "(default: $RAY_ADDRESS, else a Ray instance started here)")


def _executor_overrides(args) -> list[str]:
    """`--executor` and `--ray-address` as the config keys they set (after any `--set`, so they win)."""
    return [*(["executor.type=" + args.executor] if args.executor else []),
            *(["executor.address=" + args.ray_address] if args.ray_address else [])]


def _parser() -> argparse.ArgumentParser:
    verbose = _verbose_flag()
    parser = argparse.ArgumentParser(prog="quantflow", description="Post-training INT8 quantization with the "
                                     "dataset's own metric: convert, calibrate, quantize, evaluate, report.",
                                     epilog=_wrapped(*EXIT_CODES), formatter_class=argparse.RawDescriptionHelpFormatter,
                                     parents=[verbose])
    parser.add_argument("--version", action="version", version=f"quantflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(group, name: str, text: str, description: str | None = None) -> argparse.ArgumentParser:
        return group.add_parser(name, help=text, description=_wrapped(description or text), epilog=_wrapped(*EXIT_CODES),
                                formatter_class=argparse.RawDescriptionHelpFormatter, parents=[verbose])

    for name, text in (("quantize", "convert, evaluate FP32, quantize to INT8, evaluate INT8, write the run folder"),
                       ("check", "validate the config, data, model and decoder without running anything"),
                       ("benchmark", "latency and throughput of the model, and of the INT8 IR of an earlier run")):
        run = command(commands, name, text)
        run.add_argument("--config", required=True, help="YAML config file")
        run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                         help="override a config value (YAML syntax; a relative path is relative to the working "
                         "directory), repeatable")
        run.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
        if name == "quantize":
            _executor_flags(run, "evaluation passes and accuracy-aware candidates as Ray tasks (executor.type)")
    zoo = command(commands, "zoo", "build, index and verify a model zoo", "build, index and verify a model zoo: "
                  "every precision of every model, measured, with cards")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True)
    build = command(zoo_commands, "build", "quantize each config into ZOO/<task>/<name>/ and index them",
                    "quantize each config in its own process into ZOO/<task>/<name>/ (FP32, FP16, FP16-INT8 and "
                    "TFLite variants, each evaluated and timed, with a model card and a manifest of hashes), then "
                    "write ZOO/index.md and index.json; unchanged entries are skipped")
    build.add_argument("configs", nargs="+", type=Path, metavar="CONFIG", help="YAML config files")
    build.add_argument("--zoo", required=True, type=Path, help="zoo folder")
    build.add_argument("--jobs", type=int, default=1, help="models built at once on this machine, each in its own "
                       "process (with --executor ray the cluster's resources decide)")
    build.add_argument("--force", action="store_true", help="rebuild entries even when nothing changed")
    _executor_flags(build, "one Ray task per entry")
    build.add_argument("--cpus-per-entry", type=int, default=2, metavar="N", help="CPUs each entry's Ray task "
                       "declares (default 2)")
    build.add_argument("--memory-per-entry", type=float, metavar="GB", help="memory each entry's Ray task declares")
    build.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a value in every config (YAML syntax; a relative path is relative to the "
                       "working directory), repeatable")
    verify = command(zoo_commands, "verify", "re-hash files, reload models, re-evaluate a quick subset",
                     "check a zoo: re-hash every file against its manifest, reload every model and re-evaluate "
                     "each entry's verify samples, which must give the metric recorded at build time")
    verify.add_argument("zoo", type=Path, help="zoo folder")
    pot = command(commands, "import-pot", "convert a POT config (and its Accuracy Checker config) to a quantflow "
                  "config", "convert an OpenVINO POT config and its Accuracy Checker config into a quantflow "
                  "config; what does not map is printed as warnings and written as comments at the top of the file")
    pot.add_argument("pot", type=Path, metavar="POT.json", help="POT config (JSON with comments, or YAML)")
    pot.add_argument("--ac", type=Path, help="Accuracy Checker config (default: the POT engine's config)")
    pot.add_argument("--data-root", type=Path, help="folder that AC's data_source and annotation_file are relative to")
    pot.add_argument("-o", "--output", type=Path, required=True, help="quantflow YAML config to write")
    compare = command(commands, "compare", "several runs' headline figures side by side", "put the headline "
                      "figures of several run folders side by side (the recipes you tried: subset sizes, presets, "
                      "accuracy-aware targets): every variant's metrics, change against its FP32, speed, size and "
                      "recipe, the best INT8 marked; runs scored on different data are flagged")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders (the `output` of runs)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON on stdout")
    lister = command(commands, "list", "every provider a config can name, with its keys", "every dataset adapter, "
                     "preprocessing step, decoder, metric and quantization algorithm a config can name, with its "
                     "keys' types, defaults and descriptions")
    lister.add_argument("kind", nargs="?", choices=KINDS, metavar="KIND", help=f"one of {', '.join(KINDS)} "
                        "(default: all)")
    lister.add_argument("--format", choices=("text", "markdown"), default="text", help="markdown: tables, as in "
                        "the README's config reference")
    lister.add_argument("--config", type=Path, help="import this config's plugins first, so theirs are listed too")
    command(commands, "schema", "the JSON Schema of report.json", "print the JSON Schema of the run report "
            "(report.json), for tools that read it; docs/report.schema.json holds a copy")
    return parser


def _own_or_warning(record: logging.LogRecord) -> bool:
    """Without -v, other libraries' records below WARNING stay hidden. The rule sits on quantflow's handler, not
    on the libraries' loggers, because NNCF sets its logger's level when it is imported, after this setup."""
    return record.levelno >= logging.WARNING or record.name.partition(".")[0] == "quantflow"


def _setup_logging(verbose: bool) -> None:
    import rich
    from rich.logging import RichHandler

    from quantflow.core.progress import console

    handler = RichHandler(console=console, show_path=False, show_time=False)
    if not verbose:
        handler.addFilter(_own_or_warning)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", handlers=[handler])
    rich.reconfigure(stderr=True, quiet=not verbose)  # libraries' own rich bars (NNCF's): shown with -v, on stderr


def _print_json(data) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=1) + "\n")


def _check(args) -> int:
    from quantflow import api
    from quantflow.report.markdown import counted
    from quantflow.report.terminal import show_line

    found = api.check(args.config, args.overrides)
    facts = {"config": str(args.config), "model": found.config.model.name,
             "evaluation_samples": found.evaluation_samples, "sample": found.sample_noun,
             "calibration_samples": found.calibration_samples, "calibration_sample": found.calibration_noun,
             "input_shape": list(found.input_shape), "input_dtype": str(found.input_dtype)}
    if args.json:
        _print_json({"ok": True, **facts})
    else:
        show_line(f"ok {args.config}: model {found.config.model.name}, "
                  f"{counted(found.evaluation_samples, found.sample_noun)} to evaluate, "
                  f"{counted(found.calibration_samples, found.calibration_noun)} to calibrate, input "
                  f"{list(found.input_shape)} {found.input_dtype}")
    return 0


def _quantize(args) -> int:
    from quantflow import api
    from quantflow.report.markdown import accuracy_rows
    from quantflow.report.summary import run_summary
    from quantflow.report.terminal import show_line, show_table

    report = api.quantize(args.config, [*args.overrides, *_executor_overrides(args)])
    if args.json:
        _print_json(run_summary(report))
        return 0
    show_table(accuracy_rows(report), f"{report.model.name} — {report.metric.name}")
    show_line(f"run folder: {report.config['output']}")
    return 0


def _benchmark(args) -> int:
    from quantflow.config import load_config
    from quantflow.pipeline.benchmark import run_benchmark, speed_rows, speed_title
    from quantflow.report.terminal import show_table

    benchmark = run_benchmark(load_config(args.config, args.overrides))
    if args.json:
        _print_json(benchmark)
    else:
        show_table(speed_rows(benchmark), speed_title(benchmark))
    return 0


def _zoo(args) -> int:
    from quantflow.core.errors import IncompleteError, UserInputError
    from quantflow.core.progress import console
    from quantflow.report.terminal import show_line

    if args.zoo_command == "verify":
        from quantflow.zoo.verify import verify_zoo

        problems = verify_zoo(args.zoo, report=console.print)
        for problem in problems:
            show_line(f"mismatch {problem}")
        if problems:
            raise IncompleteError(f"zoo verify: {len(problems)} problem(s) in {args.zoo}; first: {problems[0]}")
        show_line(f"zoo {args.zoo}: every entry verified")
        return 0
    from quantflow.executors.settings import ExecutorConfig
    from quantflow.zoo.build import build_zoo

    for flag, value in (("--cpus-per-entry", args.cpus_per_entry), ("--memory-per-entry", args.memory_per_entry)):
        if value is not None and value <= 0:
            raise UserInputError(f"{flag}: expected a number above 0, got {value:g}")
    executor = ExecutorConfig(type=args.executor or "local", address=args.ray_address,
                              cpus_per_task=args.cpus_per_entry, memory_gb=args.memory_per_entry)
    outcomes = build_zoo(args.configs, args.zoo, args.jobs, args.force, args.overrides, executor)
    for outcome in outcomes:
        detail = f" ({outcome.reason})" if outcome.reason else ""
        where = f" on {outcome.host}" if executor.type == "ray" and outcome.host else ""
        show_line(f"{outcome.status:8} {outcome.name} {outcome.config}{detail} {outcome.seconds:.0f} s{where}")
    failed = [o for o in outcomes if o.status == "failed"]
    counts = {status: sum(o.status == status for o in outcomes) for status in ("built", "skipped", "failed")}
    index = f"; index: {args.zoo / 'index.md'}" if (args.zoo / "index.md").is_file() else ""
    show_line(f"zoo {args.zoo}: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + index)
    if failed:
        raise IncompleteError("zoo build: failed: " + "; ".join(f"{o.config}: {o.reason}" for o in failed))
    return 0


def _import_pot(args) -> int:
    from quantflow.importers.pot import import_pot_files
    from quantflow.report.terminal import show_line

    notes = import_pot_files(args.pot, args.output, args.ac, args.data_root)
    show_line(f"wrote {args.output}; {len(notes)} item(s) not carried over as is are listed at its top; "
              f"next: quantflow check --config {args.output}")
    return 0


def _compare(args) -> int:
    from quantflow.report.compare import compare_reports
    from quantflow.report.compare_views import as_json, comparison_title, text_rows
    from quantflow.report.terminal import show_table

    comparison = compare_reports(args.runs)
    if args.json:
        _print_json(as_json(comparison))
    else:
        show_table(text_rows(comparison), comparison_title(comparison), warnings=comparison.notes, keys=2)
    return 0


def _list(args) -> int:
    """The listing is the command's result, so it goes to stdout (`quantflow list --format markdown > ref.md`)."""
    if args.config:
        load_plugins_of(args.config)
    kinds = [args.kind] if args.kind else list(KINDS)
    sys.stdout.write(as_markdown(kinds) if args.format == "markdown" else as_text(kinds))
    return 0


def _schema(args) -> int:
    from quantflow.report.model import report_schema

    _print_json(report_schema())
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
    args.verbose = getattr(args, "verbose", False)
    _setup_logging(args.verbose)
    signal.signal(signal.SIGTERM, _terminate_handler(os.getpid()))
    try:
        return {"check": _check, "quantize": _quantize, "benchmark": _benchmark, "zoo": _zoo,
                "import-pot": _import_pot, "compare": _compare, "list": _list, "schema": _schema}[args.command](args)
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
