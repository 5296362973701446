"""report.json (everything, machine-readable), report.md (a readable table) and the terminal summary."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from quantflow.core.provenance import versions_text
from quantflow.core.rundir import write_json_atomic, write_text_atomic


def fmt_value(value: float | None, signed: bool = False) -> str:
    """Four decimals (signed for deltas), a dash where a value is undefined."""
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def accuracy_rows(report: dict) -> list[list[str]]:
    """Accuracy rows per precision plus the delta row: the heart of every report."""
    keys = report["metric"]["summary_keys"]  # the metric's own choice, so a new metric needs no edit here
    main = report["metric"]["main"]
    reference = report["results"]["FP32"]["metrics"][main]
    rows = [["model", *keys, f"Δ {main}", "latency ms", "FPS", "eval img/s", "size MB"]]
    for precision, result in report["results"].items():
        speed = result.get("speed", {})
        size = result.get("bytes") or report["artifacts"].get(precision, {}).get("bytes", 0)
        value = result["metrics"][main]
        rows.append([
            precision, *(fmt_value(result["metrics"][k]) for k in keys),
            "" if precision == "FP32" else fmt_value(None if value is None else value - reference, signed=True),
            f"{speed['latency_ms_median']:.2f}" if speed else "–",
            f"{speed['throughput_fps']:.1f}" if "throughput_fps" in speed else "–",
            f"{result['images_per_second']:.1f}", f"{size / 1e6:.2f}",
        ])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def breakdown_table(report: dict) -> list[tuple[str, float | None, float | None, float | None]]:
    """(part, FP32 value, INT8 value, INT8 − FP32) per class (detection) or keypoint (pose)."""
    fp32, int8 = report["results"]["FP32"]["breakdown"], report["results"]["INT8"]["breakdown"]
    return [(name, value, int8.get(name), None if value is None or int8.get(name) is None else int8[name] - value)
            for name, value in fp32.items()]


def _breakdown_section(report: dict) -> list[str]:
    """Per class AP (detection) or per keypoint error (pose), FP32 against INT8."""
    table = breakdown_table(report)
    if not table:
        return []
    part, value_name = report["results"]["FP32"]["breakdown_label"]
    rows = [[part, f"FP32 {value_name}", f"INT8 {value_name}", "Δ"]] + [
        [name, fmt_value(fp32), fmt_value(int8), fmt_value(delta, True)] for name, fp32, int8, delta in table]
    return [f"## {value_name} per {part}", "", markdown_table(rows), ""]


def _maps_section(report: dict) -> list[str]:
    """Disparity maps of a few stereo pairs, so artefacts can be seen, not only counted."""
    maps = report.get("disparity_maps")
    if not maps:
        return []
    lines = ["## Disparity maps", "",
             "Per pair: FP32 disparity, INT8 disparity (same colour scale), |INT8 − FP32| and INT8 error against the "
             "ground truth (0 to 3 px, black = no ground truth).", ""]
    for entry in maps:
        lines.append(f"**{entry['sample']}** (INT8 − FP32: mean {entry['mean_abs_difference']:.3f} px, "
                     f"max {entry['max_abs_difference']:.2f} px)")
        lines.append("")
        lines.append(" ".join(f"![{kind}]({path})" for kind, path in entry["images"].items()))
        lines.append("")
    return lines


def markdown(report: dict) -> str:
    calibration = report["calibration"]
    versions = versions_text(report["versions"])
    isa = ", ".join(k for k, v in report["cpu"]["isa"].items() if v) or "none of AVX2/AVX-512/VNNI/AMX"
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report["timings_s"].items())
    return "\n".join([
        f"# {report['model']['name']}: FP32 vs INT8",
        "",
        f"Dataset `{report['dataset']['type']}`, {evaluated_text(report['dataset'])}; "
        f"reference: {report['dataset']['reference']}. Metric: {report['metric']['name']} "
        f"(main: {report['metric']['main']}).",
        "",
        markdown_table(accuracy_rows(report)),
        "",
        *_breakdown_section(report),
        *_maps_section(report),
        "## Quantization",
        "",
        f"- algorithm: {report['quantization']['algorithm']}; settings: `{report['quantization']['settings']}`",
        f"- FakeQuantize nodes in the INT8 model: {report['quantization']['fake_quantize_nodes']}",
        f"- kept in floating point by `ignored_scope.auto`: "
        f"{', '.join(op['name'] for op in report['quantization'].get('auto_ignored', [])) or 'nothing'}",
        f"- calibration: {calibration['subset_size']} samples from {calibration['source']} (seed "
        f"{calibration['seed']}); {calibration['overlap_with_evaluation']} of them also evaluated",
        f"- FP32 reference: {'reused from the cache' if report['fp32_from_cache'] else 'evaluated in this run'}",
        "",
        *_embedded_section(report),
        *_search_section(report),
        *_tflite_section(report),
        "## Provenance",
        "",
        f"- config sha256 `{report['config_hash']}`, dataset fingerprint `{report['dataset']['fingerprint'][:16]}`",
        f"- versions: {versions}",
        f"- CPU: {report['cpu']['model']} ({isa})",
        f"- timings: {timings}",
        f"- speed: {_speed_note(report)}",
        "",
    ])


def _search_section(report: dict) -> list[str]:
    """Accuracy-aware runs: target, splits, each step of the search, and the layers kept in floating point."""
    quantization = report["quantization"]
    target = quantization.get("target")
    if not target:
        return []
    lines = [
        "## Accuracy-aware search",
        "",
        f"Target: {report['metric']['main']} drop ≤ {target['max_drop']} ({target['drop_type']}) on the search "
        f"split; reached: **{'yes' if target['reached'] else 'no'}** ({target['stop_reason']}), "
        f"drop {target['search_drop']:+.4f}.",
        "",
    ]
    if report["splits"]:
        rows = [["split", "images", "FP32", "INT8", "Δ"]] + [
            [name, str(split["images"]), fmt_value(split["FP32"]), fmt_value(split["INT8"]), fmt_value(split["delta"], True)]
            for name, split in report["splits"].items()]
        lines += [markdown_table(rows), ""]
    steps = [["step", report["metric"]["main"], "drop", "reverted in this step", "elapsed s"]] + [
        [str(step["step"]), fmt_value(step["metric"]), fmt_value(step["drop"], True),
         ", ".join(step["reverted_group"]) or "(fully quantized)", f"{step['elapsed_s']:.1f}"]
        for step in quantization["steps"]]
    counts = quantization["quantized_operations"]
    reverted = quantization["reverted"]
    lines += [markdown_table(steps), "",
              f"Kept in floating point: {len(reverted)} of {counts['before_search']} quantized operations.", ""]
    lines += [f"- `{op['name']}` ({op['type']})" for op in reverted]
    return lines + [""]


def evaluated_text(dataset: dict) -> str:
    """'200 images', or '316 person crops from 150 images' when samples are parts of images."""
    if dataset["samples_evaluated"] == dataset["images_evaluated"]:
        return f"{dataset['images_evaluated']} images"
    return f"{dataset['samples_evaluated']} {dataset['sample']} from {dataset['images_evaluated']} images"


def _embedded_section(report: dict) -> list[str]:
    """Processing inside the graph vs outside: accuracy, agreement and per-sample time of both."""
    main = report["metric"]["main"]
    rows = [["precision", f"{main} external", f"{main} embedded", "Δ", "keypoint shift px",
             "external: preprocess + infer ms", "embedded: infer ms"]]
    for precision in ("FP32", "INT8"):
        merged = report["results"].get(f"{precision} embedded")
        if not merged:
            continue
        external = report["results"][precision]
        ext_value, emb_value = external["metrics"][main], merged["metrics"][main]
        pre, infer = merged["external_preprocess_ms"], external["speed"].get("latency_ms_median")
        rows.append([precision, fmt_value(ext_value), fmt_value(emb_value), fmt_value(emb_value - ext_value, True),
                     "–" if merged["keypoint_shift_px"] is None else f"{merged['keypoint_shift_px']:.3f}",
                     f"{pre:.2f} + {infer:.2f} = {pre + infer:.2f}" if pre is not None and infer else "–",
                     f"{merged['speed']['latency_ms_median']:.2f}" if merged["speed"] else "–"])
    if len(rows) == 1:
        return []
    return ["## Embedded vs external processing", "",
            "Embedded models take the raw uint8 BGR image (or crop) and run resize, colour conversion, "
            "normalization and layout (and, for pose, the heatmap argmax) inside the graph.", "",
            markdown_table(rows), ""]


def _tflite_section(report: dict) -> list[str]:
    """What each TFLite file really holds, and the warnings that matter for full-integer detectors."""
    variants = {k: v for k, v in report["results"].items() if k.startswith("TFLite")}
    if not variants:
        return []
    rows = [["variant", "file", "holds", "weights", "activations"]] + [
        [name, result["file"], result["contents"]["kind"],
         ", ".join(f"{k} {v}" for k, v in result["contents"]["weights"].items()),
         ", ".join(f"{k} {v}" for k, v in result["contents"]["activations"].items())]
        for name, result in variants.items()]
    notes = report["tflite"]
    lines = ["## TFLite variants", "", markdown_table(rows), ""]
    if notes.get("mixed_range_outputs"):
        lines.append(f"- outputs mixing value ranges in one tensor: {', '.join(notes['mixed_range_outputs'])}")
    if notes.get("kept_in_float"):
        lines.append("- int8 layers kept in float (largest quantization error): "
                     + ", ".join(f"`{k}` ({v:.2f} steps)" for k, v in notes["kept_in_float"].items()))
    return lines + [""]


def _speed_note(report: dict) -> str:
    speed = report["results"]["INT8"].get("speed")
    if not speed:
        return "not measured"
    return (f"latency = one request, LATENCY hint, median of the timed runs ({speed['latency_threads']} threads); "
            f"FPS = THROUGHPUT hint, {speed['streams']} streams, {speed['requests']} requests, "
            f"{speed['throughput_threads']} threads; p90 latency FP32 "
            f"{report['results']['FP32']['speed']['latency_ms_p90']:.2f} ms, INT8 {speed['latency_ms_p90']:.2f} ms")


def write_reports(folder: Path, report: dict) -> None:
    from quantflow.report.html import write_html

    write_json_atomic(folder / "report.json", report)
    write_text_atomic(folder / "report.md", markdown(report))
    write_html(folder, report)


def terminal_table(report: dict) -> Table:
    rows = accuracy_rows(report)
    table = Table(title=f"{report['model']['name']} — {report['metric']['name']}")
    for header in rows[0]:
        table.add_column(header, justify="left" if header == "model" else "right", no_wrap=header == "model")
    for row in rows[1:]:
        table.add_row(*row)
    return table
