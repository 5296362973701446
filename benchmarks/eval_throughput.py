"""Images/s of quantflow's evaluation pass (read, preprocess, infer, decode, COCO metric) against the FPS that
OpenVINO's benchmark_app gets from the same FP32 IR: how much of the hardware's speed an evaluation keeps.

    python benchmarks/eval_throughput.py [--config configs/ssd.yml] [--set key=value ...] [--skip-ssdlite]
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, benchmark_app_fps, parser, spread

from quantflow.backends.openvino.runner import OpenVINORunner, feed
from quantflow.backends.openvino.sources import save_ir
from quantflow.config import load_config
from quantflow.pipeline.evaluate import predict
from quantflow.pipeline.input_cache import InputCache
from quantflow.pipeline.workflow import Run, prepare_model

TARGET = 0.85
SSDLITE_CONFIG = ROOT / "configs" / "coco" / "ssdlite_mobilenet_v2_person.yml"
STEREO_CONFIG = ROOT / "configs" / "stereo.yml"
PHOTOS = ("astronaut", "camera", "coffee", "rocket", "chelsea")


@dataclass
class Subject:
    """A model, its FP32 IR, the images it is evaluated on and the reference its metric scores against."""

    title: str
    run: Run
    xml: Path
    real_inputs: bool = True  # whether benchmark_app can also read the evaluated files (-i)
    ground_truth: object = None


def photo_folder(folder: Path, copies: int) -> Path:
    """scikit-image's photographs as JPEG files (as tests/conftest.py writes them), each copied `copies` times."""
    import cv2
    import skimage.data

    folder.mkdir(parents=True)
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        if image.ndim == 3:
            image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)
        first = folder / f"{name}_00.jpg"
        cv2.imwrite(str(first), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        for k in range(1, copies):
            shutil.copy(first, folder / f"{name}_{k:02d}.jpg")
    return folder


def subject(title: str, config_path: Path, overrides: list[str], workdir: Path, real_inputs: bool = True) -> Subject:
    config = load_config(config_path, [*overrides, "evaluation.cache_dir=null"])
    run = Run(config)
    xml = workdir / config.model.name / "model.xml"
    save_ir(prepare_model(config, run.stages), xml)
    return Subject(title, run, xml, real_inputs)


def compiled_model(xml: Path):
    import openvino as ov

    return ov.Core().compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})


def predictions(s: Subject, compiled, session=None, inputs=None):
    st = s.run.stages
    return predict(OpenVINORunner(compiled), st.dataset, st.evaluation_ids, st.pipeline, st.decoder, "evaluation",
                   session, inputs)


def evaluation_pass(s: Subject, compiled, inputs=None) -> dict[str, float]:
    """What quantflow does for one precision: `predict` over the evaluation images with the metric session
    fed as images finish, then the metric's result (the part of its work the pass could not hide). With
    `inputs` (an InputCache already filled), what an accuracy-aware search's later passes do."""
    st = s.run.stages
    start = time.perf_counter()
    session = st.metric.session(s.ground_truth, st.evaluation_ids)
    predicted = predictions(s, compiled, session, inputs)
    session.result()
    total = time.perf_counter() - start
    return {"fps": len(st.evaluation_ids) / total, "metric_tail_s": total - predicted.seconds}


def predict_pass(s: Subject, compiled) -> float:
    """The pass without any metric: images/s of read, preprocess, infer and decode alone."""
    return predictions(s, compiled).images_per_second


def metric_alone(s: Subject, rows, ids) -> float:
    """Seconds the metric takes on a finished pass's rows, on its own."""
    start = time.perf_counter()
    s.run.stages.metric.evaluate(s.ground_truth, rows, ids)
    return time.perf_counter() - start


def serial_costs(s: Subject, compiled) -> dict[str, float]:
    """ms per image of each non-inference step, run one after another on one thread (no overlap)."""
    st, request = s.run.stages, compiled.create_infer_request()
    times = {"read": 0.0, "preprocess": 0.0, "decode": 0.0}
    for image_id in st.evaluation_ids:
        t0 = time.perf_counter()
        sample = st.dataset.load_sample(image_id)
        t1 = time.perf_counter()
        tensor, geometry = st.pipeline(*sample)
        t2 = time.perf_counter()
        request.infer(feed(tensor))
        outputs = [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]
        t3 = time.perf_counter()
        st.dataset.rows(image_id, st.decoder.decode(outputs), geometry)  # what predict's callback does
        t4 = time.perf_counter()
        times["read"] += t1 - t0
        times["preprocess"] += t2 - t1
        times["decode"] += t4 - t3
    return {k: 1000 * v / len(st.evaluation_ids) for k, v in times.items()}


def measure(s: Subject, repeat: int, seconds: int, workdir: Path) -> None:
    """Alternate quantflow's pass and benchmark_app (random inputs, then the evaluated images: a model with NMS
    inside runs slower on noise), then explain the ratio with per-image costs."""
    st = s.run.stages
    images, folder = len(st.evaluation_ids), st.dataset.file_of(st.evaluation_ids[0]).parent
    compiled = compiled_model(s.xml)
    # Warm-up pass, which also gives the reference: the annotations, or FP32 pseudo labels for an image folder.
    warm_up = predictions(s, compiled)
    s.ground_truth = (s.run.labels() if st.dataset.has_labels else s.run.pseudo_labels(warm_up))[0]
    cache = InputCache(lambda i: st.pipeline(*st.dataset.load_sample(i)), workdir, s.xml.parent.name, 2**32)
    for image_id in st.evaluation_ids:
        cache(image_id)
    passes, fps = [], {"random inputs": [], **({f"-i {folder.name}/": []} if s.real_inputs else {})}
    for rep in range(repeat):
        steps = ["quantflow", *fps]
        for step in (steps if rep % 2 == 0 else steps[::-1]):
            if step == "quantflow":
                passes.append({**evaluation_pass(s, compiled), "predict_fps": predict_pass(s, compiled),
                               "metric_s": metric_alone(s, warm_up.rows, warm_up.image_ids),
                               "search_fps": evaluation_pass(s, compiled, cache)["fps"]})
            else:
                fps[step].append(benchmark_app_fps(s.xml, seconds, folder if step.startswith("-i") else None))
    print(f"\n== {s.title}: {images} images")
    print(f"quantflow pass with the metric alongside: {spread([p['fps'] for p in passes], ' img/s', 1)}")
    print(f"  metric work left after the pass:        {spread([p['metric_tail_s'] for p in passes], ' s')}")
    print(f"  predict() without a metric:             {spread([p['predict_fps'] for p in passes], ' img/s', 1)}")
    print(f"  metric.evaluate() on its own:           {spread([p['metric_s'] for p in passes], ' s')}")
    ratios = {}
    for inputs, values in fps.items():
        ratios[inputs] = statistics.median(p["fps"] / f for p, f in zip(passes, values))
        predict_only = statistics.median(p["predict_fps"] / f for p, f in zip(passes, values))
        print(f"benchmark_app -hint throughput -t {seconds}, {inputs}: {spread(values, ' FPS', 1)}")
        search = statistics.median(p["search_fps"] / f for p, f in zip(passes, values))
        print(f"  ratio (median of paired runs): {ratios[inputs]:.3f}; predict() alone: {predict_only:.3f}; "
              f"search pass on cached inputs: {search:.3f}")
    worst = min(ratios.values())
    print(f"target ratio >= {TARGET} (against both): {'met' if worst >= TARGET else 'MISSED'} ({worst:.3f})")
    print(f"search pass on cached inputs (metric alongside): {spread([p['search_fps'] for p in passes], ' img/s', 1)}")
    cache.close()

    costs = serial_costs(s, compiled)
    costs["metric"] = 1000 * statistics.median(p["metric_s"] for p in passes) / images
    infer = 1000 / statistics.median(list(fps.values())[-1])
    cores = len(os.sched_getaffinity(0))
    # Read, preprocess, decode and the metric overlap with inference but share its cores.
    ceiling = infer / (infer + sum(costs.values()) / cores)
    print(f"per image: inference {infer:.2f} ms (benchmark_app on the images, {cores} cores); one-thread costs: "
          + ", ".join(f"{k} {v:.2f} ms" for k, v in costs.items()))
    print(f"best ratio this work allows on {cores} cores (everything overlapped, cores never idle): {ceiling:.3f}")


def main() -> None:
    args = parser(__doc__.split("\n\n")[0], repeat=5)
    args.add_argument("--seconds", type=int, default=5, help="benchmark_app duration (-t)")
    args.add_argument("--skip-ssdlite", action="store_true", help="no SSDLite")
    args.add_argument("--skip-stereo", action="store_true", help="no stereo sample (a model inference dominates)")
    options = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        subjects = [subject(f"{options.config.name} (timed: predict + COCO AP vs the annotations)", options.config,
                            options.overrides, workdir)]
        if not options.skip_ssdlite:
            photos = photo_folder(workdir / "photos", copies=20)
            subjects.append(subject(
                "SSDLite-MobileNetV2 person, scikit-image photos x20 (timed: predict + COCO AP vs FP32 pseudo labels)",
                SSDLITE_CONFIG, [f"dataset={{type: image_folder, images: {photos}}}", "metric=coco_ap",
                                 f"calibration.images={photos}", "calibration.subset_size=100"], workdir))
        if not options.skip_stereo:
            subjects.append(subject("stereo sample, 40 synthetic pairs (timed: predict + EPE/D1 vs the truth)",
                                    STEREO_CONFIG, [], workdir, real_inputs=False))
        for s in subjects:
            measure(s, options.repeat, options.seconds, workdir)


if __name__ == "__main__":
    main()
