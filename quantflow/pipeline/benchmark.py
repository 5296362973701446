"""`quantflow benchmark`: speed alone, for the source model and for the INT8 IR of an earlier run."""

from __future__ import annotations

from quantflow.backends.openvino.speed import measure_speed
from quantflow.config import Config
from quantflow.core.progress import step
from quantflow.core.provenance import cpu_info
from quantflow.pipeline.workflow import build_stages, prepare_model


def run_benchmark(config: Config) -> dict:
    """FP32 speed of the configured model, and INT8 speed when `output` holds a finished run."""
    import openvino as ov

    stages = build_stages(config)
    with step(f"loading {config.model.source.name}"):
        model = prepare_model(config, stages)
    tensor = stages.pipeline(*stages.dataset.load_sample(stages.evaluation_ids[0]))[0]
    device, settings = config.evaluation.device, config.evaluation.speed
    models = {"FP32": model}
    int8_xml = config.output / "INT8" / f"{config.model.name}.xml"
    if int8_xml.is_file():
        models["INT8"] = ov.Core().read_model(int8_xml)
    results = {}
    for name, candidate in models.items():
        with step(f"measuring {name} latency and throughput"):
            results[name] = measure_speed(candidate, tensor, device, settings)
    return {"model": config.model.name, "cpu": cpu_info(), "results": results}


def speed_title(benchmark: dict) -> str:
    isa = ", ".join(k for k, v in benchmark["cpu"]["isa"].items() if v) or "no AVX2/AVX-512/VNNI/AMX"
    return f"{benchmark['model']} — {benchmark['cpu']['model']} ({isa})"


def speed_rows(benchmark: dict) -> list[list[str]]:
    rows = [["model", "latency ms (median)", "latency ms (p90)", "FPS", "streams", "threads"]]
    for name, s in benchmark["results"].items():
        rows.append([name, f"{s['latency_ms_median']:.2f}", f"{s['latency_ms_p90']:.2f}", f"{s['throughput_fps']:.1f}",
                     str(s["streams"]), str(s["throughput_threads"])])
    return rows
