"""One zoo entry: quantize, then lay out every precision with what it measures, a card and a manifest.

Runs in its own process per model (`python -m quantflow.zoo.entry`), so models built in parallel cannot
disturb each other and a crash takes down one entry only.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import traceback
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from quantflow.backends.openvino.embed import embedded_decoder
from quantflow.backends.openvino.runner import OpenVINORunner
from quantflow.backends.openvino.sources import find_source, output_infos, save_ir
from quantflow.backends.openvino.speed import measure_speed
from quantflow.config import Config, load_config
from quantflow.core.errors import QuantflowError, one_line
from quantflow.core.progress import step
from quantflow.core.provenance import cpu_info, file_sha256, host_name, versions
from quantflow.core.rundir import write_json_atomic, write_text_atomic
from quantflow.core.subsets import seeded_subset
from quantflow.core.timing_lock import work_under_lock
from quantflow.pipeline.evaluate import predict
from quantflow.pipeline.workflow import Run, run_quantize
from quantflow.preprocessing import Pipeline
from quantflow.zoo.card import model_card

VERIFY_SAMPLES = 16
ZOO_TFLITE = ("fp32", "dynamic", "float16", "int8")  # TF sources get these when the config names none
# zoo precision → (run-folder IR it is made from, weights compressed to FP16)
PRECISIONS = {"FP32": ("FP32", False), "FP16": ("FP32", True), "FP16-INT8": ("INT8", True)}
EMBEDDED = {"FP32-embedded": ("FP32-embedded", False), "FP16-INT8-embedded": ("INT8-embedded", True)}


def entry_key(config: Config, fingerprint: str, model_digest: str) -> str:
    """What decides whether an entry must be rebuilt: the config (output and executor aside), model files, data,
    version."""
    from quantflow import __version__

    settings = config.model_dump(mode="json", exclude={"output", "executor"})
    text = repr((sorted(settings.items()), fingerprint, model_digest, __version__))
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate_irs(run: Run, irs: dict[str, Path], ids: list[int], speed: bool) -> dict[str, dict]:
    """Main metric of each IR on `ids` (and the full metrics and speed when `speed`); `*-embedded` IRs take raw
    images. FP32 comes first, so in annotation-free mode its predictions are the reference, as in the quantize
    run."""
    import openvino as ov

    s, core, results = run.stages, ov.Core(), {}
    ground_truth = run.labels()[0] if s.dataset.has_labels else None  # else made from the FP32 pass
    device, evaluation = run.config.evaluation.device, None
    sample = s.dataset.load_sample(s.evaluation_ids[0])
    for precision, xml in irs.items():
        model = core.read_model(xml)
        if precision in EMBEDDED:
            pipeline, decoder = Pipeline([]), embedded_decoder(model, s.decoder)
        else:
            pipeline, decoder = s.pipeline, s.decoder
            decoder.bind(output_infos(model))
        label = f"{precision} evaluation"
        if ground_truth is None:
            predictions = predict(OpenVINORunner(model, device), s.dataset, ids, pipeline, decoder, label)
            ground_truth, _ = run.pseudo_labels(predictions)
            metric = s.metric.evaluate(ground_truth, predictions.rows, ids)
        else:
            evaluation = evaluation or replace(run.evaluation(ground_truth), ids=ids)
            _, metric = evaluation.score(OpenVINORunner(model, device), label, decoder, pipeline)
        results[precision] = {"metrics": metric.summary, "value": metric.value}
        if speed:
            results[precision]["speed"] = measure_speed(model, pipeline(*sample)[0], device,
                                                        run.config.evaluation.speed)
    return results


def build_entry(config_path: Path, overrides: list[str], target: Path, key: str) -> None:
    """Quantize into `target/run`, then write FP32/, FP16/, FP16-INT8/, tflite/, README.md and manifest.json."""
    import openvino as ov

    timed_alone = work_under_lock()

    overrides = [*overrides, f"output={target / 'run'}"]
    config = load_config(config_path, overrides)
    if config.quantization.tflite is None and find_source(config.model.source).tensorflow:
        config = load_config(config_path, [*overrides, f"quantization.tflite={{variants: {list(ZOO_TFLITE)}}}"])
    report = run_quantize(config)
    run_folder, name, core = target / "run", config.model.name, ov.Core()
    irs = {}
    for precision, (source, fp16) in {**PRECISIONS, **(EMBEDDED if config.preprocessing.embed else {})}.items():
        irs[precision] = target / precision / f"{name}.xml"
        save_ir(core.read_model(run_folder / source / f"{name}.xml"), irs[precision], compress_to_fp16=fp16)
    run = Run(config)
    ids = seeded_subset(run.stages.evaluation_ids, VERIFY_SAMPLES, 0, "zoo verify")
    with step("evaluating and timing every precision"):
        measured = evaluate_irs(run, irs, run.stages.evaluation_ids, speed=config.evaluation.speed.enabled)
    with step(f"metric on the {len(ids)} verify samples"):
        quick = evaluate_irs(run, irs, ids, speed=False)
    if (run_folder / "tflite").is_dir():
        shutil.copytree(run_folder / "tflite", target / "tflite")
    for report_file in ("report.json", "report.md"):
        shutil.copy(run_folder / report_file, target / report_file)
    shutil.rmtree(run_folder)
    precisions = {precision: {"path": f"{precision}/{name}.xml",
                              "bytes": xml.stat().st_size + xml.with_suffix(".bin").stat().st_size,
                              "metrics": measured[precision]["metrics"],
                              "speed": measured[precision].get("speed", {}),
                              "quick_check": quick[precision]["value"]}
                  for precision, xml in irs.items()}
    manifest = {
        "name": name, "task": run.stages.task.name, "key": key,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_file": str(config_path), "config_hash": report.config_hash,
        "config": {key: value for key, value in report.config.items() if key != "output"},  # a temporary folder
        "dataset_fingerprint": report.dataset.fingerprint, "calibration": report.calibration.model_dump(mode="json"),
        "versions": versions(), "cpu": cpu_info(), "host": host_name(), "metric": report.metric.model_dump(mode="json"),
        "quantization": report.quantization.model_dump(
            mode="json", include={"algorithm", "settings", "reverted", "auto_ignored", "fake_quantize_nodes"}),
        "precisions": precisions,
        "speed_method": {**config.evaluation.speed.model_dump(mode="json"), "device": config.evaluation.device,
                         "timed_alone": timed_alone},
        "tflite": {v.precision: {**v.model_dump(mode="json", exclude={"artifact"}), **v.artifact.model_dump()}
                   for v in report.of_kind("tflite").values()},
        "verify": {"ids": ids, "tolerance": 1e-6},
    }
    write_text_atomic(target / "README.md", model_card(manifest))
    manifest["files"] = {str(p.relative_to(target)): file_sha256(p) for p in sorted(target.rglob("*")) if p.is_file()}
    write_json_atomic(target / "manifest.json", manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantflow.zoo.entry")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        build_entry(args.config, args.overrides, args.target, args.key)
    except QuantflowError as exc:
        print(f"quantflow: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug, but the zoo's summary still gets one line naming it; the traceback above it
        traceback.print_exc()
        print(f"quantflow: error: internal error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
