"""`quantflow compare RUN...`: the headline figures of finished run folders side by side, one row per run ×
evaluated variant, so the recipes tried on one model (default vs accuracy-aware, other calibration sizes) can be
weighed at a glance. `compare_views` renders a `Comparison` for the terminal, as markdown and as JSON.

Runs of different metrics are refused (their figures side by side would mislead); runs scored on different data
(dataset fingerprint, evaluated samples) are compared with a warning in `notes`, as their differences are then
not the recipe's alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from quantflow.core.config_base import format_validation_error
from quantflow.core.errors import UserInputError, shown
from quantflow.core.output_safety import RUN_SCHEMA, is_run_folder
from quantflow.report.markdown import evaluated_text
from quantflow.report.model import MetricInfo, Report, Variant

EXPECTED = "expected a finished quantflow run folder"
BEST = "best"
SPEED_AND_SIZE = ("latency ms", "FPS", "size MB")
RUN_LEVEL = ("recipe", "target met", "quantflow")  # equal on every row of a run


@dataclass(frozen=True)
class Comparison:
    """The runs' shared metric, the columns, one row (column → plain JSON value) per run × variant, and the
    warnings about what the runs do not share."""

    metric: MetricInfo
    columns: list[str]
    rows: list[dict[str, Any]]
    notes: list[str]

    @property
    def delta(self) -> str:
        return delta_column(self.metric.main)


def delta_column(main: str) -> str:
    """The column of each row's change of the main metric against its own run's FP32."""
    return f"Δ {main}"


def read_run(folder: Path) -> Report:
    """The report of a finished run folder; anything else is one line naming the folder (exit 2)."""
    if not folder.is_dir():
        raise UserInputError(f"{shown(folder)}: {'is a file' if folder.exists() else 'no such folder'}; {EXPECTED}")
    if not (folder / "report.json").is_file():
        raise UserInputError(f"{shown(folder)}: no report.json; {EXPECTED}")
    if not is_run_folder(folder):
        raise UserInputError(f"{shown(folder)}: report.json is not a quantflow run report; {EXPECTED}")
    try:
        return Report.read(folder / "report.json")
    except ValidationError as exc:
        problem = format_validation_error(exc)
        raise UserInputError(f"{shown(folder)}: report.json is not a {RUN_SCHEMA} report ({problem}); run it again "
                             "with this quantflow") from None


def run_labels(folders: list[Path]) -> list[str]:
    """The shortest trailing parts of each folder's path that tell the runs apart (usually the folder name)."""
    seen: dict[Path, Path] = {}
    for folder in folders:
        if (real := folder.resolve()) in seen:
            raise UserInputError(f"{shown(folder)}: the same run folder as {shown(seen[real])}; name each run once")
        seen[real] = folder
    parts = [Path(os.path.abspath(folder)).parts for folder in folders]
    depth = next(d for d in range(1, max(map(len, parts)) + 1) if len({p[-d:] for p in parts}) == len(parts))
    return ["/".join(p[-depth:]) for p in parts]


def _recipe(report: Report) -> str:
    """Algorithm and the settings that set recipes apart: preset, calibration size, accuracy target."""
    quantization, target = report.quantization, report.quantization.target
    parts = [quantization.algorithm, quantization.settings.get("preset"), f"{report.calibration.subset_size} samples",
             f"max drop {target.max_drop} {target.drop_type}" if target else None]
    return ", ".join(str(part) for part in parts if part)


def _int8(variant: Variant) -> bool:
    """The INT8 models that compete for best: OpenVINO and embedded INT8, TFLite full integer (not its dynamic
    variant, whose activations stay float)."""
    return variant.precision.upper() == "INT8"


def _rows(label: str, report: Report, keys: list[str], delta: str) -> list[tuple[dict[str, Any], Variant]]:
    """Each variant of one run as a row, with its change of the main metric against the run's own FP32."""
    main, quantization, target = report.metric.main, report.quantization, report.quantization.target
    reference = report.results["FP32"].metrics.get(main)
    rows = []
    for name, variant in report.results.items():
        value, speed, artifact = variant.metrics.get(main), variant.speed, variant.artifact
        openvino_int8 = _int8(variant) and variant.kind != "tflite"  # the models that hold FakeQuantize nodes
        rows.append(({
            "run": label, "variant": name, **{key: variant.metrics.get(key) for key in keys},
            delta: None if name == "FP32" or value is None or reference is None else value - reference,
            "latency ms": speed.latency_ms_median if speed else None, "FPS": speed.throughput_fps if speed else None,
            "size MB": artifact.bytes / 1e6 if artifact else None,
            "FakeQuantize": quantization.fake_quantize_nodes if openvino_int8 else None,
            "recipe": _recipe(report), "target met": target.reached if target else None,
            "quantflow": report.versions.get("quantflow"), BEST: False}, variant))
    return rows


def _data_notes(labels: list[str], reports: list[Report]) -> list[str]:
    """Warnings for runs scored on different data: their figures differ for more than the recipe."""
    notes = []
    if len({r.dataset.fingerprint for r in reports}) > 1:
        notes.append("the runs were scored on different data (dataset fingerprints " + ", ".join(
            f"{label} {r.dataset.fingerprint[:12]}" for label, r in zip(labels, reports)) + ")")
    if len({(r.dataset.images_evaluated, r.dataset.samples_evaluated) for r in reports}) > 1:
        notes.append("the runs evaluated different amounts of data: " + ", ".join(
            f"{label} {evaluated_text(r.dataset)}" for label, r in zip(labels, reports)))
    return notes


def compare_reports(folders: list[Path]) -> Comparison:
    """Read every run folder, refuse runs of another metric than the first's, mark the best INT8 row(s)."""
    if not folders:
        raise UserInputError("compare: name at least one run folder")
    labels = run_labels(folders)
    reports = [read_run(folder) for folder in folders]
    metric = reports[0].metric
    for folder, report in zip(folders, reports):
        if (report.metric.name, report.metric.main) != (metric.name, metric.main):
            raise UserInputError(f"{shown(folder)}: metric {report.metric.name} (main {report.metric.main}) differs "
                                 f"from {labels[0]}'s {metric.name} (main {metric.main}); compare runs of one metric")
    keys = list(dict.fromkeys([metric.main, *(key for r in reports for key in r.metric.summary_keys)]))
    delta = delta_column(metric.main)
    pairs = [pair for label, report in zip(labels, reports) for pair in _rows(label, report, keys, delta)]
    scored = [row for row, variant in pairs if _int8(variant) and row[metric.main] is not None]
    if scored:
        best = (max if metric.higher_is_better else min)(row[metric.main] for row in scored)
        for row in scored:
            row[BEST] = row[metric.main] == best
    columns = ["run", "variant", *keys, delta, *SPEED_AND_SIZE, "FakeQuantize", *RUN_LEVEL, BEST]
    return Comparison(metric, columns, [row for row, _ in pairs], _data_notes(labels, reports))
