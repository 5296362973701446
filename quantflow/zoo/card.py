"""Model cards and the zoo index: what each precision really measures, and how it was made."""

from __future__ import annotations

import json
from pathlib import Path

from quantflow.core.output_safety import ZOO_SCHEMA
from quantflow.core.provenance import versions_text
from quantflow.core.rundir import write_json_atomic, write_text_atomic
from quantflow.report.markdown import fmt_value, markdown_table

EMBEDDED_NOTE = (" `*-embedded` = the same model with the preprocessing (and a pose model's heatmap argmax) inside "
                 "the graph: it takes raw uint8 BGR images of any size.")

def _speed(row: dict) -> tuple[str, str]:
    return ("–" if row["latency_ms"] is None else f"{row['latency_ms']:.2f}",
            "–" if row["throughput_fps"] is None else f"{row['throughput_fps']:.1f}")


def precision_rows(manifest: dict) -> list[dict]:
    """One row per artifact (OpenVINO precisions, then TFLite variants) with metric, delta, size and speed."""
    main = manifest["metric"]["main"]
    reference = manifest["precisions"]["FP32"]["metrics"][main]
    higher_is_better = manifest["metric"]["higher_is_better"]
    rows = []
    artifacts = [(name, entry, entry["bytes"]) for name, entry in manifest["precisions"].items()]
    artifacts += [(f"tflite {name}", entry, entry["bytes"]) for name, entry in manifest["tflite"].items()]
    for name, entry, size in artifacts:
        value = entry["metrics"][main]
        delta = None if value is None or reference is None else value - reference
        rows.append({"model": manifest["name"], "task": manifest["task"], "precision": name, "metric": main,
                     "value": value, "delta": delta, "worse_if_delta": "negative" if higher_is_better else "positive",
                     "bytes": size, "latency_ms": (entry.get("speed") or {}).get("latency_ms_median"),
                     "throughput_fps": (entry.get("speed") or {}).get("throughput_fps")})
    return rows


def speed_text(manifest: dict) -> str:
    """How the card's speed was measured: the machine, the method and whether the CPU was the entry's alone."""
    method = manifest.get("speed_method")
    cpu = f"{manifest['cpu']['model']} (host {manifest['host']})" if manifest.get("host") else manifest["cpu"]["model"]
    if not method or not method["enabled"]:
        return f"not measured (evaluation.speed.enabled is false); built on {cpu}"
    alone = ("no other entry of the build ran while a model was timed (timing waits for the CPU to itself)"
             if method["timed_alone"] else "timed while built on its own")
    return (f"{method['device']} on {cpu}, by `quantflow zoo build` on the entry's own files: latency = one "
            f"request (LATENCY hint), median of {method['latency_runs']} runs after {method['warmup']} warm-up; "
            f"FPS = THROUGHPUT hint, all streams busy for {method['throughput_seconds']:g} s (TFLite: one "
            f"single-threaded interpreter per core); {alone}")


def model_card(manifest: dict) -> str:
    """README.md of one entry: task, source, input, preprocessing, accuracy, size, speed, calibration."""
    config, main = manifest["config"], manifest["metric"]["main"]
    table = [["precision", main, f"Δ {main}", "size MB", "latency ms", "FPS"]]
    for row in precision_rows(manifest):
        table.append([row["precision"], fmt_value(row["value"]), fmt_value(row["delta"], signed=True),
                      f"{row['bytes'] / 1e6:.2f}", *_speed(row)])
    steps = ", ".join(f"{step['type']} {({k: v for k, v in step.items() if k != 'type'})}"
                      for step in config["preprocessing"]["steps"])
    quantization = manifest["quantization"]
    kept = [op["name"] for op in (quantization.get("reverted") or []) + (quantization.get("auto_ignored") or [])]
    calibration = manifest["calibration"]
    versions = versions_text(manifest["versions"])
    embedded = any(precision.endswith("-embedded") for precision in manifest["precisions"])
    return "\n".join([
        f"# {manifest['name']}",
        "",
        f"Task: {manifest['task']}. Source: `{Path(config['model']['source']).name}`. Dataset: "
        f"`{config['dataset']['type']}`, metric `{manifest['metric']['name']}` (main: {main}).",
        "",
        markdown_table(table),
        "",
        "FP16 = FP32 weights stored in FP16; FP16-INT8 = the NNCF INT8 model with its remaining float weights in "
        "FP16. Every figure is measured on this entry's own files." + (EMBEDDED_NOTE if embedded else ""),
        "",
        "## Speed",
        "",
        speed_text(manifest),
        "",
        "## Input and preprocessing",
        "",
        f"- input spec: `{config['model']['inputs'] or 'as in the model'}`; steps: {steps}",
        f"- embedded preprocessing: {'yes' if config['preprocessing']['embed'] else 'no'}",
        "",
        "## Quantization",
        "",
        f"- algorithm `{quantization['algorithm']}`, settings `{quantization['settings']}`, "
        f"{quantization['fake_quantize_nodes']} FakeQuantize nodes",
        f"- calibration: {calibration['subset_size']} samples from `{calibration['source']}`, seed "
        f"{calibration['seed']} (ids in manifest.json)",
        f"- kept in floating point: {', '.join(kept) or 'nothing'}",
        "",
        "## Provenance",
        "",
        f"- config sha256 `{manifest['config_hash']}`, dataset fingerprint `{manifest['dataset_fingerprint'][:16]}`",
        f"- versions: {versions}",
        f"- CPU: {manifest['cpu']['model']}; built on {manifest.get('host', '?')} {manifest['created']}",
        "- `quantflow zoo verify` re-hashes every file and re-evaluates "
        f"{len(manifest['verify']['ids'])} samples per precision against manifest.json",
        "",
    ])


def write_index(zoo: Path) -> list[dict]:
    """index.json (`{"schema": ..., "rows": [...]}`; the schema marks the folder as a zoo quantflow built) and
    index.md over every finished entry (those with a manifest.json)."""
    rows = []
    for path in sorted(zoo.glob("*/*/manifest.json")):
        manifest = json.loads(path.read_text())
        rows += [{**row, "path": str(path.parent.relative_to(zoo))} for row in precision_rows(manifest)]
    write_json_atomic(zoo / "index.json", {"schema": ZOO_SCHEMA, "rows": rows})
    table = [["task", "model", "precision", "metric", "value", "Δ", "size MB", "latency ms", "FPS"]] + [
        [row["task"], f"[{row['model']}]({row['path']}/README.md)", row["precision"], row["metric"],
         fmt_value(row["value"]), fmt_value(row["delta"], signed=True), f"{row['bytes'] / 1e6:.2f}", *_speed(row)]
        for row in rows]
    write_text_atomic(zoo / "index.md", "# Model zoo\n\n" + markdown_table(table) + "\n")
    return rows
