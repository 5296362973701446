"""report.md (readable tables) and the terminal summary, both from the typed `report.model.Report`."""

from __future__ import annotations

from pathlib import Path

from quantflow.core.provenance import versions_text
from quantflow.report.model import DatasetInfo, Report, SearchStep


def fmt_value(value: float | None, signed: bool = False) -> str:
    """Four decimals (signed for deltas), a dash where a value is undefined. A delta that four decimals would
    show as `+0.0000` is `0` when there is no change and in scientific notation when there is a small one."""
    if value is None:
        return "–"
    if signed and round(value, 4) == 0:
        return "0" if value == 0 else f"{value:+.1e}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def counted(count: int, plural: str) -> str:
    """`1 image`, `2 images`, `1 stereo pair`: the nouns quantflow counts are plurals ending in s."""
    return f"{count} {plural.removesuffix('s') if count == 1 else plural}"


def accuracy_rows(report: Report) -> list[list[str]]:
    """One row per evaluated variant, with its change of the main metric against FP32: the heart of every report."""
    keys = report.metric.summary_keys  # the metric's own choice, so a new metric needs no edit here
    main = report.metric.main
    reference = report.results["FP32"].metrics[main]
    rows = [["model", *keys, f"Δ {main}", "latency ms", "FPS", "eval img/s", "size MB"]]
    for name, result in report.results.items():
        speed, value = result.speed, result.metrics[main]
        rows.append([
            name, *(fmt_value(result.metrics[k]) for k in keys),
            "" if name == "FP32" else fmt_value(None if value is None else value - reference, signed=True),
            f"{speed.latency_ms_median:.2f}" if speed else "–",
            f"{speed.throughput_fps:.1f}" if speed else "–",
            f"{result.images_per_second:.1f}", f"{result.artifact.bytes / 1e6:.2f}" if result.artifact else "–",
        ])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def breakdown_table(report: Report) -> list[tuple[str, float | None, float | None, float | None]]:
    """(part, FP32 value, INT8 value, INT8 − FP32) per class (detection) or keypoint (pose)."""
    fp32, int8 = report.results["FP32"].breakdown, report.results["INT8"].breakdown
    return [(name, value, int8.get(name), None if value is None or int8.get(name) is None else int8[name] - value)
            for name, value in fp32.items()]


def breakdown_rows(report: Report) -> list[list[str]]:
    """`breakdown_table` as text, with its header row."""
    part, value_name = report.results["FP32"].breakdown_label
    return [[part, f"FP32 {value_name}", f"INT8 {value_name}", "Δ"]] + [
        [name, fmt_value(fp32), fmt_value(int8), fmt_value(delta, True)]
        for name, fp32, int8, delta in breakdown_table(report)]


def breakdown_title(report: Report) -> str:
    part, value_name = report.results["FP32"].breakdown_label
    return f"{value_name} per {part}"


def _breakdown_section(report: Report) -> list[str]:
    """Per class AP (detection) or per keypoint error (pose), FP32 against INT8."""
    if not breakdown_table(report):
        return []
    return [f"## {breakdown_title(report)}", "", markdown_table(breakdown_rows(report)), ""]


def _pictures_section(report: Report) -> list[str]:
    """The task's pictures of a few samples (stereo: disparity maps), so artefacts can be seen, not only counted."""
    pictures = report.pictures
    if not pictures.entries:
        return []
    lines = [f"## {pictures.title}", "", pictures.note, ""]
    for entry in pictures.entries:
        lines += [f"**{entry.sample}** ({entry.caption})", "",
                  " ".join(f"![{kind}]({path})" for kind, path in entry.images.items()), ""]
    return lines


def _changes_section(report: Report) -> list[str]:
    """The samples whose result INT8 changes (classification: top-1), with the label they are scored against."""
    changes = report.changes
    if not changes.total:
        return []
    return [f"## {changes.title}", "", changes.note, "", markdown_table(change_rows(report)), ""]


def change_rows(report: Report) -> list[list[str]]:
    return [["sample", "label", "FP32", "INT8"]] + [[c.sample, c.reference, c.FP32, c.INT8]
                                                    for c in report.changes.entries]


def markdown(report: Report) -> str:
    return "\n".join([
        f"# {report.model.name}: FP32 vs INT8",
        "",
        f"Dataset `{report.dataset.type}`, {evaluated_text(report.dataset)}; "
        f"reference: {report.dataset.reference}. Metric: {report.metric.name} (main: {report.metric.main}).",
        "",
        markdown_table(accuracy_rows(report)),
        "",
        *_breakdown_section(report),
        *_pictures_section(report),
        *_changes_section(report),
        "## Quantization",
        "",
        *(f"- {item}" for item in quantization_items(report)),
        "",
        *_embedded_section(report),
        *_search_section(report),
        *_tflite_section(report),
        "## Provenance",
        "",
        *(f"- {item}" for item in provenance_items(report)),
        f"- speed: {speed_note(report)}",
        "",
    ])


def quantization_items(report: Report) -> list[str]:
    """How INT8 was made: algorithm and settings, FakeQuantize count, layers auto-kept in float, calibration."""
    calibration, quantization = report.calibration, report.quantization
    return [
        f"algorithm: {quantization.algorithm}; settings: `{quantization.settings}`",
        f"FakeQuantize nodes in the INT8 model: {quantization.fake_quantize_nodes}",
        f"kept in floating point by `ignored_scope.auto`: "
        f"{', '.join(op.name for op in quantization.auto_ignored) or 'nothing'}",
        f"calibration: {calibration.subset_size} samples from {calibration.source} (seed "
        f"{calibration.seed}); {calibration.overlap_with_evaluation} of them also evaluated",
        f"FP32 reference: {'reused from the cache' if report.fp32_from_cache else 'evaluated in this run'}",
    ]


def provenance_items(report: Report) -> list[str]:
    """What the figures were produced with: config, dataset, versions, CPU and time taken."""
    isa = ", ".join(k for k, v in report.cpu.isa.items() if v) or "none of AVX2/AVX-512/VNNI/AMX"
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings_s.items())
    return [
        f"config sha256 `{report.config_hash}`, dataset fingerprint `{report.dataset.fingerprint[:16]}`",
        f"versions: {versions_text(report.versions)}",
        f"CPU: {report.cpu.model} ({isa})",
        f"timings: {timings}",
    ]


def _search_section(report: Report) -> list[str]:
    """Accuracy-aware runs: target, splits, each step of the search, and the layers kept in floating point."""
    quantization = report.quantization
    if not quantization.target:
        return []
    lines = ["## Accuracy-aware search", "", target_text(report), ""]
    if report.splits:
        lines += [markdown_table(split_rows(report)), ""]
    if quantization.search:
        lines += [search_text(report), ""]
    lines += [markdown_table(step_rows(quantization.steps, report.metric.main)), "", reverted_text(report), ""]
    lines += [f"- {item}" for item in reverted_items(report)]
    return lines + [""]


def target_text(report: Report) -> str:
    target = report.quantization.target
    return (f"Target: {report.metric.main} drop ≤ {target.max_drop} ({target.drop_type}) on the search split; "
            f"reached: **{'yes' if target.reached else 'no'}** ({target.stop_reason}), drop {target.search_drop:+.4f}.")


def split_rows(report: Report) -> list[list[str]]:
    """The main metric on the search split and on the held-out test split that checks it."""
    return [["split", "images", "FP32", "INT8", "Δ"]] + [
        [name, str(split.images), fmt_value(split.FP32), fmt_value(split.INT8), fmt_value(split.delta, True)]
        for name, split in report.splits.items()]


def search_text(report: Report) -> str:
    search = report.quantization.search
    return (f"Search: {search.evaluations} candidates in {search.seconds:.0f} s"
            f"{' (time budget spent)' if search.budget_spent else ''}; the chosen one edits the "
            f"`{search.base}` calibration and keeps {search.groups_in_float} of {search.groups} quantizer "
            "groups in float.")


def reverted_text(report: Report) -> str:
    quantization = report.quantization
    return (f"Kept in floating point: {len(quantization.reverted)} of "
            f"{quantization.quantized_operations.before_search} quantized operations.")


def reverted_items(report: Report) -> list[str]:
    return [f"`{op.name}` ({op.type})" for op in report.quantization.reverted]


def step_rows(steps: list[SearchStep], main: str) -> list[list[str]]:
    """quantflow's search: each candidate, its phase, what it put in float and whether it was kept; NNCF's
    strategy: the group each step reverted."""
    if steps and steps[0].phase is not None:
        return [["step", "phase", "candidate", "in float", main, "drop", "kept", "elapsed s"]] + [
            [str(step.step), step.phase, f"{step.candidate} ({step.base})", str(step.in_float),
             fmt_value(step.metric), fmt_value(step.drop, True), "kept" if step.accepted else "rolled back",
             f"{step.elapsed_s:.1f}"] for step in steps]
    return [["step", main, "drop", "reverted in this step", "elapsed s"]] + [
        [str(step.step), fmt_value(step.metric), fmt_value(step.drop, True),
         ", ".join(step.reverted_group) or "(fully quantized)", f"{step.elapsed_s:.1f}"] for step in steps]


def evaluated_text(dataset: DatasetInfo) -> str:
    """'200 images', or '316 person crops from 150 images' when samples are parts of images."""
    if dataset.samples_evaluated == dataset.images_evaluated:
        return counted(dataset.images_evaluated, "images")
    return f"{counted(dataset.samples_evaluated, dataset.sample)} from {counted(dataset.images_evaluated, 'images')}"


def _embedded_section(report: Report) -> list[str]:
    """Processing inside the graph vs outside: accuracy, the task's agreement figures, per-sample time of both."""
    if not report.of_kind("embedded"):
        return []
    return ["## Embedded vs external processing", "", EMBEDDED_NOTE, "", markdown_table(embedded_rows(report)), ""]


EMBEDDED_NOTE = ("Embedded models take the raw uint8 BGR image (or crop) and run resize, colour conversion, "
                 "normalization and layout (and the decoder's first step where it can live in the graph, such as the "
                 "pose heatmap argmax) inside the graph.")


def embedded_rows(report: Report) -> list[list[str]]:
    """Each embedded variant against its external twin: accuracy, agreement figures, per-sample time."""
    main, merged = report.metric.main, report.of_kind("embedded")
    agreement = list(dict.fromkeys(k for v in merged.values() for k in v.agreement))
    rows = [["precision", f"{main} external", f"{main} embedded", "Δ", *agreement,
             "external: preprocess + infer ms", "embedded: infer ms"]]
    for variant in merged.values():
        external = report.results[variant.precision]
        ext_value, emb_value = external.metrics[main], variant.metrics[main]
        pre = variant.external_preprocess_ms
        infer = external.speed.latency_ms_median if external.speed else None
        rows.append([variant.precision, fmt_value(ext_value), fmt_value(emb_value),
                     fmt_value(emb_value - ext_value, True),
                     *(f"{variant.agreement[k]:.3f}" if k in variant.agreement else "–" for k in agreement),
                     f"{pre:.2f} + {infer:.2f} = {pre + infer:.2f}" if pre is not None and infer else "–",
                     f"{variant.speed.latency_ms_median:.2f}" if variant.speed else "–"])
    return rows


def _tflite_section(report: Report) -> list[str]:
    """What each TFLite file really holds, and the warnings that matter for full-integer detectors."""
    if not report.of_kind("tflite"):
        return []
    return ["## TFLite variants", "", markdown_table(tflite_rows(report)), "",
            *(f"- {note}" for note in tflite_notes(report)), ""]


def tflite_rows(report: Report) -> list[list[str]]:
    return [["variant", "file", "holds", "weights", "activations"]] + [
        [name, Path(result.artifact.path).name, result.contents["kind"],
         ", ".join(f"{k} {v}" for k, v in result.contents["weights"].items()),
         ", ".join(f"{k} {v}" for k, v in result.contents["activations"].items())]
        for name, result in report.of_kind("tflite").items()]


def tflite_notes(report: Report) -> list[str]:
    """How the TFLite files were made, and the warnings that matter for full-integer detectors."""
    notes, lines = report.tflite, []
    if notes and notes.converted_via:
        lines.append(f"converted to NHWC first: {notes.converted_via}, {notes.conversion_s:.0f} s; inputs fed and "
                     "outputs read in the source's NCHW layout")
    if notes and notes.mixed_range_outputs:
        lines.append(f"outputs mixing value ranges in one tensor: {', '.join(notes.mixed_range_outputs)}")
    if notes and notes.kept_in_float:
        lines.append("int8 layers kept in float (largest quantization error): "
                     + ", ".join(f"`{k}` ({v:.2f} steps)" for k, v in notes.kept_in_float.items()))
    return lines


def speed_note(report: Report) -> str:
    """How speed was measured, and the p90 latencies the table leaves out."""
    speed, fp32 = report.results["INT8"].speed, report.results["FP32"].speed
    if not speed or not fp32:
        return "not measured"
    return (f"latency = one request, LATENCY hint, median of the timed runs ({speed.latency_threads} threads); "
            f"FPS = THROUGHPUT hint, {speed.streams} streams, {speed.requests} requests, "
            f"{speed.throughput_threads} threads; p90 latency FP32 {fp32.latency_ms_p90:.2f} ms, "
            f"INT8 {speed.latency_ms_p90:.2f} ms")
