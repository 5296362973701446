"""`quantflow quantize`: convert → evaluate FP32 (or reuse it) → quantize → evaluate INT8 → run folder + report."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from quantflow.backends.openvino.graph import count_ops
from quantflow.backends.openvino.runner import OpenVINORunner, check_device, compile_exact, feed, runs_in_int8
from quantflow.backends.openvino.sources import (
    conform_input,
    find_source,
    input_element_type,
    ir_artifact,
    load_model,
    output_infos,
    save_ir,
    source_format,
)
from quantflow.backends.openvino.speed import measure_speed
from quantflow.config import Config
from quantflow.core.adapter import ADAPTERS, DatasetAdapter
from quantflow.core.decoder import DECODERS, Decoder
from quantflow.core.errors import QuantflowError, TargetNotReachedError, UserInputError
from quantflow.core.metric import METRICS, Metric, MetricResult, MetricSession
from quantflow.core.output_safety import check_run_output
from quantflow.core.plugins import loaded_plugins
from quantflow.core.progress import progress_bar, step
from quantflow.core.provenance import cpu_info, versions
from quantflow.core.rundir import RunFolder
from quantflow.core.subsets import seeded_subset
from quantflow.core.task import TASKS, Task
from quantflow.pipeline.cache import PredictionCache, files_digest, reference_key
from quantflow.pipeline.embedded_variants import embedded_variants
from quantflow.pipeline.evaluate import Evaluation, Predictions, predict, scored_pass, variant
from quantflow.pipeline.input_cache import InputCache
from quantflow.pipeline.sharded import ShardedPasses
from quantflow.pipeline.tflite_variants import TFLiteSource, TFLiteVariants, check_tflite_source
from quantflow.preprocessing import Pipeline
from quantflow.quantizers import QUANTIZERS, CalibrationData, Quantizer, ValidationData
from quantflow.quantizers.base import nncf_at_work
from quantflow.report.model import (
    CalibrationInfo,
    Changes,
    DatasetInfo,
    MetricInfo,
    ModelInfo,
    Pictures,
    Quantization,
    Report,
    Split,
    metric_deltas,
)
from quantflow.report.write import write_reports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stages:
    """Every provider a run needs, built (and so validated) before any heavy work starts."""

    task: Task
    dataset: DatasetAdapter
    pipeline: Pipeline
    decoder: Decoder
    metric: Metric
    quantizer: Quantizer
    calibration_source: DatasetAdapter
    evaluation_ids: list[int]
    calibration_ids: list[int]
    search_ids: list[int]
    test_ids: list[int]


def build_stages(config: Config) -> Stages:
    """Construct all providers; any bad input surfaces here as a UserInputError."""
    dataset = ADAPTERS.get(config.dataset.type, "dataset.type")(config.dataset)
    decoder = DECODERS.get(config.decoder.type, "decoder.type")(config.decoder)
    metric = METRICS.get(config.metric.type, "metric.type")(config.metric)
    for key, provider in (("decoder", decoder), ("metric", metric)):
        if provider.task != dataset.task:
            raise UserInputError(f"{key}.type: {getattr(config, key).type} is for {provider.task}, but dataset "
                                 f"{config.dataset.type} is a {dataset.task} dataset")
    calibration_source = dataset
    if config.calibration.images:
        calibration_source = ADAPTERS.get("image_folder", "calibration.images").from_folder(
            config.calibration.images, "calibration.images")
    elif config.calibration.dataset:
        try:
            calibration_source = ADAPTERS.get(config.calibration.dataset.type, "")(config.calibration.dataset)
        except UserInputError as exc:  # adapters name their own keys as dataset.*
            raise UserInputError(f"calibration.{exc}") from None
    quantizer = QUANTIZERS.get(config.quantization.openvino.algorithm, "quantization.openvino.algorithm")(
        config.quantization.openvino)
    evaluation_ids = seeded_subset(dataset.ids(), config.evaluation.max_images, config.evaluation.seed,
                                   "evaluation.max_images")
    search_ids, test_ids = quantizer.split(evaluation_ids)
    return Stages(
        task=TASKS.get(dataset.task, "dataset.type")(),
        dataset=dataset,
        pipeline=Pipeline(config.preprocessing.steps, config.preprocessing.pack if dataset.views == 2 else None),
        decoder=decoder,
        metric=metric,
        quantizer=quantizer,
        calibration_source=calibration_source,
        evaluation_ids=evaluation_ids,
        calibration_ids=seeded_subset(calibration_source.ids(), config.calibration.subset_size,
                                      config.calibration.seed, "calibration.subset_size"),
        search_ids=search_ids,
        test_ids=test_ids,
    )


def prepare_model(config: Config, stages: Stages):
    """Read/convert the model and check it against the preprocessing and the decoder."""
    check_device(config.evaluation.device)
    model = load_model(config.model)
    pipeline = stages.pipeline
    produced, declared = pipeline.spec.dtype, input_element_type(model)
    if pipeline.adopt_input_type(declared):
        log.info("preprocessing: ends in %s, the model takes %s: converting (add a dtype step to choose)",
                 produced, declared)
    conform_input(model, pipeline.spec, pipeline.inputs, pipeline.variable_size)
    stages.decoder.bind(output_infos(model))
    labels = stages.decoder.class_labels()
    if labels is not None:
        stages.dataset.check_labels(labels)
    return model


def check_every_sample(stages: Stages) -> int:
    """Read every evaluation and calibration sample (images, crops, pairs, ground truth) in a thread pool, so a
    corrupt or mis-sized file is found by `check` without running the model; returns the count read."""
    work = [(stages.dataset, i) for i in stages.evaluation_ids]
    if stages.calibration_source is not stages.dataset:
        work += [(stages.calibration_source, i) for i in stages.calibration_ids]
    with progress_bar() as bar, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        task = bar.add_task("reading every sample", total=len(work))
        for _ in pool.map(lambda item: item[0].check_sample(item[1]), work):
            bar.advance(task)
    return len(work)


def rows_of(predictions: Predictions, ids: list[int]) -> np.ndarray:
    """The result rows of a subset of the samples."""
    return predictions.rows[np.isin(predictions.rows[:, 0], ids)]


class Run:
    """One quantize run: the stages plus the FP32 reference, the ground truth and timings."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stages = build_stages(config)
        self.timings: dict[str, float] = {}
        self.fp32_cached = False
        self.inputs: InputCache | None = None
        self.passes: ShardedPasses | None = None  # with `executor: ray`, once the model is loaded

    def timed(self, name: str, fn, *args, shown: str | None = None):
        """Run one stage, recording its time; `shown`: the line a person sees while it runs (a stage that shows
        no bar of its own)."""
        start = time.perf_counter()
        with step(shown) if shown else contextlib.nullcontext():
            value = fn(*args)
        self.timings[name] = time.perf_counter() - start
        return value

    def predict(self, model, ids: list[int], label: str, session: MetricSession | None = None) -> Predictions:
        s = self.stages
        if self.passes:
            return self.passes.predict_many([model], ids, label, s.dataset.row_width, [session])[0]
        return predict(OpenVINORunner(model, self.config.evaluation.device), s.dataset, ids, s.pipeline, s.decoder,
                       label, session)

    def evaluate(self, model, ids: list[int], label: str, ground_truth,
                 per_item: bool = False) -> tuple[Predictions, MetricResult]:
        """One pass with the metric working alongside inference (inputs from the cache while one is open); on
        Ray, a model not compiled here is sharded over the cluster."""
        s = self.stages
        if self.passes and not hasattr(model, "get_runtime_model"):
            session = s.metric.session(ground_truth, ids, per_item)
            return self.predict(model, ids, label, session), session.result()
        return scored_pass(OpenVINORunner(model, self.config.evaluation.device), s.dataset, ids, s.pipeline,
                           s.decoder, label, s.metric, ground_truth, per_item, self.inputs)

    def prepared(self, sample_id: int):
        """(model input, geometry) of one evaluation sample, read and preprocessed."""
        return self.stages.pipeline(*self.stages.dataset.load_sample(sample_id))

    @contextlib.contextmanager
    def cached_inputs(self) -> Iterator[None]:
        """Keep decoded, preprocessed inputs on disk while a search passes over the same samples again and
        again, and for the INT8 pass after it; removed afterwards."""
        c = self.config
        if not (self.stages.quantizer.needs_validation and c.evaluation.input_cache_mb):
            yield
            return
        s = self.stages
        key = reference_key({"dataset": s.dataset.fingerprint(), "ids": s.evaluation_ids,
                             "preprocessing": [step.model_dump(mode="json") for step in c.preprocessing.steps]})
        with InputCache(self.prepared, c.evaluation.cache_dir, key,
                        c.evaluation.input_cache_mb * 2**20) as self.inputs:
            try:
                yield
            finally:
                log.debug("input cache: %d samples, %.1f MB, %d reads served", self.inputs.samples,
                          self.inputs.used_bytes / 2**20, self.inputs.hits)
                self.inputs = None

    def fp32_reference(self, model, session: MetricSession | None = None) -> Predictions:
        """FP32 predictions, from the cache when model, data, preprocessing and decoder are unchanged; their rows
        go to `session` either way."""
        c = self.config
        key = reference_key({
            "model": files_digest(c.model.source), "inputs": c.model.inputs, "outputs": c.model.outputs,
            "dataset": [self.stages.dataset.fingerprint(), c.dataset.model_dump(mode="json")],
            "ids": self.stages.evaluation_ids,
            "preprocessing": [s.model_dump(mode="json") for s in c.preprocessing.steps],
            "decoder": c.decoder.model_dump(mode="json"), "device": c.evaluation.device,
            "plugins": [p["sha256"] for p in loaded_plugins()],
            "versions": versions(),  # OpenCV's resize and NumPy move predictions as much as OpenVINO does
        })
        cache = PredictionCache(c.evaluation.cache_dir) if c.evaluation.cache_dir else None
        cached = cache.load(key) if cache else None
        if cached is not None:
            log.info("FP32 reference: reusing cached predictions %s (the pass they save took %.1f s, compiling "
                     "aside)", key[:12], cached.seconds)
            self.fp32_cached = True
            if session is not None:
                session.add(cached.image_ids, cached.rows)
            return cached
        predictions = self.predict(model, self.stages.evaluation_ids, "FP32 evaluation", session)
        if cache:
            cache.store(key, predictions)
        return predictions

    def labels(self):
        """The dataset's ground truth and what it is (annotation-free datasets get theirs from `pseudo_labels`)."""
        return self.stages.dataset.ground_truth(), "dataset annotations"

    def pseudo_labels(self, fp32: Predictions):
        """Annotation-free mode: the task's ground truth made of the FP32 results above the threshold."""
        sizes = {i: fp32.sizes.get(i) or self.stages.dataset.load_image(i).shape[:2] for i in fp32.image_ids}
        threshold = self.config.dataset.pseudo_label_threshold
        reference = f"FP32 predictions with score >= {threshold} (annotation-free mode; FP32 scores itself)"
        return self.stages.task.pseudo_ground_truth(self.stages.dataset, fp32.rows, sizes, threshold), reference

    def evaluation(self, ground_truth) -> Evaluation:
        """What every variant of this run is judged with."""
        s, c = self.stages, self.config.evaluation
        return Evaluation(s.dataset, s.pipeline, s.decoder, s.metric, s.evaluation_ids, ground_truth, c.device,
                          c.speed)

    def validation(self, fp32: Predictions, fp32_metric: MetricResult, ground_truth) -> ValidationData | None:
        """The search split and its scorer; an FP32 model is scored from the FP32 reference, not run again."""
        s = self.stages
        if not s.quantizer.needs_validation:
            return None

        def score(compiled_model, ids: list[int], per_item: bool = True) -> tuple[float, list[float]]:
            if runs_in_int8(compiled_model):
                label = f"search: {len(ids)} images"
                _, result = self.evaluate(compiled_model, ids, label, ground_truth, per_item=per_item)
            else:
                result = s.metric.evaluate(ground_truth, rows_of(fp32, ids), ids, per_item=per_item)
            return result.score, [result.per_item.get(i, 0.0) for i in ids] if per_item else []

        def to_input(i: int):
            return (self.inputs or self.prepared)(i)[0]

        def score_many(models: list, ids: list[int]) -> list[float]:
            sessions = [s.metric.session(ground_truth, ids) for _ in models]
            self.passes.predict_many(models, ids, f"search: {len(models)} candidates on {len(ids)} images",
                                     s.dataset.row_width, sessions)
            return [session.result().score for session in sessions]

        return ValidationData(s.search_ids, to_input, score, fp32_metric.higher_is_better,
                              self.config.evaluation.device, score_many if self.passes else None)

    def speed(self, models: dict) -> dict:
        """Latency and throughput of each model on the first evaluation image, measured back to back."""
        settings = self.config.evaluation.speed
        if not settings.enabled:
            return dict.fromkeys(models)
        s = self.stages
        tensor = self.prepared(s.evaluation_ids[0])[0]
        return {name: measure_speed(m, tensor, self.config.evaluation.device, settings) for name, m in models.items()}

    def pictures(self, models: dict, folder) -> Pictures:
        """The task's pictures of a few evaluation samples, each decoded by FP32 and INT8 exactly."""
        s, device = self.stages, self.config.evaluation.device
        compiled: dict = {}  # compiled on first use: most tasks draw no pictures

        def decode(name: str, sample_id: int):
            if name not in compiled:
                compiled[name] = compile_exact(models[name], device)
            model = compiled[name]
            tensors, geometry = self.prepared(sample_id)
            outputs = model(feed(tensors))
            return s.decoder.decode([outputs[port] for port in model.outputs]), geometry

        entries = s.task.pictures(decode, s.dataset, s.evaluation_ids[: self.config.evaluation.maps], folder)
        return Pictures(title=s.task.pictures_title, note=s.task.pictures_note, entries=entries)

    def tflite_variants(self, evaluation: Evaluation, fp32_metric: MetricResult, folder, model):
        """The TFLite variants of the source; `model` (the OpenVINO FP32 model) gives NCHW sources' output
        layout back to their converted models."""
        c = self.config
        calibration = self.calibration()
        route = find_source(c.model.source).tflite_route
        source = TFLiteSource(c.model.source, c.model.name, next(iter(c.model.inputs), None),
                              list(c.model.outputs) or None,
                              np.concatenate([calibration.to_input(i) for i in calibration.ids]), route, c.model,
                              output_infos(model))
        return TFLiteVariants(evaluation, c.quantization.tflite, source, folder).build(fp32_metric)

    def check_tflite_source(self) -> None:
        if self.config.quantization.tflite:
            check_tflite_source(self.config.model.source, self.stages.pipeline)

    def calibration(self) -> CalibrationData:
        source, pipeline = self.stages.calibration_source, self.stages.pipeline
        return CalibrationData(self.stages.calibration_ids, lambda i: pipeline(*source.load_sample(i))[0])

    def calibration_overlap(self) -> int:
        """Calibration images that are also evaluated: they flatter INT8, so the report counts them."""
        s = self.stages
        if s.calibration_source is not s.dataset:
            return 0
        return len(set(s.calibration_ids) & set(s.evaluation_ids))

    def calibration_info(self, overlap: int) -> CalibrationInfo:
        c, s = self.config.calibration, self.stages
        return CalibrationInfo(
            source=str(c.images or getattr(c.dataset, "annotations", None) or "the evaluation dataset"),
            subset_size=len(s.calibration_ids), seed=c.seed, ids=s.calibration_ids,
            files=[s.calibration_source.file_of(i).name for i in s.calibration_ids], overlap_with_evaluation=overlap)

    def dataset_info(self, reference: str) -> DatasetInfo:
        s = self.stages
        return DatasetInfo(type=self.config.dataset.type, task=s.task.name, fingerprint=s.dataset.fingerprint(),
                           images_evaluated=len({s.dataset.file_of(i) for i in s.evaluation_ids}),
                           samples_evaluated=len(s.evaluation_ids), sample=s.dataset.sample_noun, reference=reference)

    def splits(self, ground_truth, fp32: Predictions, int8: Predictions) -> dict[str, Split]:
        """Search and held-out test figures of an accuracy-aware run that holds images out."""
        s, splits = self.stages, {}
        for name, ids in (("search", s.search_ids), ("test", s.test_ids)) if s.test_ids else ():
            f, i = (s.metric.evaluate(ground_truth, rows_of(p, ids), ids).value for p in (fp32, int8))
            splits[name] = Split(images=len(ids), FP32=f, INT8=i, delta=i - f)
        return splits


def run_quantize(config: Config) -> Report:
    """The whole flow; returns the report written to the run folder. Raises TargetNotReachedError (exit 3)
    after saving everything when an accuracy-aware search misses its target."""
    if check_run_output(config.output, config.inputs()):
        log.info("replacing the earlier run folder %s", config.output)
    started = time.perf_counter()
    run = Run(config)
    s = run.stages
    run.check_tflite_source()
    model = run.timed("load", prepare_model, config, s,
                      shown=f"loading {config.model.source.name} ({source_format(config.model.source)})")
    if config.executor.type == "ray":
        run.passes = run.timed("ray", ShardedPasses, config, shown="joining the Ray cluster")
    overlap = run.calibration_overlap()
    if overlap:
        log.warning("calibration: %d calibration images are also evaluated; set calibration.images to a "
                    "separate folder for an unbiased INT8 figure", overlap)
    cpu = cpu_info()
    if not cpu["isa"]["vnni"]:
        log.warning("this CPU has no VNNI: INT8 runs on AVX2 and gains less speed than on VNNI/AMX CPUs")

    with RunFolder(config.output) as folder:
        fp32_xml = folder.path / "FP32" / f"{config.model.name}.xml"
        save_ir(model, fp32_xml)
        if s.dataset.has_labels:
            ground_truth, reference = run.labels()
            session = s.metric.session(ground_truth, s.evaluation_ids)
            fp32 = run.timed("evaluate_fp32", run.fp32_reference, model, session)
            fp32_metric = session.result()
        else:  # the FP32 predictions become the labels
            fp32 = run.timed("evaluate_fp32", run.fp32_reference, model)
            ground_truth, reference = run.pseudo_labels(fp32)
            fp32_metric = s.metric.evaluate(ground_truth, fp32.rows, fp32.image_ids)

        with run.cached_inputs(), nncf_at_work():
            outcome = run.timed("quantize", s.quantizer.quantize, model, run.calibration(),
                                run.validation(fp32, fp32_metric, ground_truth),
                                shown=f"quantizing with NNCF ({config.quantization.openvino.algorithm}, "
                                f"{len(s.calibration_ids)} calibration {s.calibration_source.sample_noun})")
            fake_quantize = count_ops(outcome.model, "FakeQuantize")
            if fake_quantize == 0:
                raise QuantflowError("quantization left no FakeQuantize nodes; the INT8 model would be FP32")
            int8_xml = folder.path / "INT8" / f"{config.model.name}.xml"
            save_ir(outcome.model, int8_xml, reference=model)
            int8, int8_metric = run.timed("evaluate_int8", run.evaluate, outcome.model, s.evaluation_ids,
                                          "INT8 evaluation", ground_truth)
        models = {"FP32": model, "INT8": outcome.model}
        speed = run.timed("speed", run.speed, models, shown="timing FP32 and INT8 (latency, throughput)")
        pictures = run.timed("pictures", run.pictures, models, folder.path / "maps",
                             shown=s.task.pictures_title and f"drawing the pictures: {s.task.pictures_title}")
        changes = s.task.changes(s.dataset, ground_truth, fp32.rows, int8.rows)
        evaluation = run.evaluation(ground_truth)
        results = {
            "FP32": variant("openvino", "FP32", fp32_metric, fp32, speed=speed["FP32"],
                            artifact=ir_artifact(fp32_xml, folder.path)),
            "INT8": variant("openvino", "INT8", int8_metric, int8, speed=speed["INT8"],
                            artifact=ir_artifact(int8_xml, folder.path)),
        }
        if config.preprocessing.embed:
            results |= run.timed("embedded", embedded_variants, evaluation, s.task, models,
                                 {"FP32": fp32, "INT8": int8}, folder.path, config.model.name,
                                 shown="models with the preprocessing inside")
        tflite_notes = None
        if config.quantization.tflite:
            tflite_results, tflite_notes = run.timed("tflite", run.tflite_variants, evaluation, fp32_metric,
                                                     folder.path / "tflite", model)
            results |= tflite_results
        run.timings["total"] = time.perf_counter() - started

        report = Report(
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            model=ModelInfo(name=config.model.name, source=str(config.model.source),
                            format=source_format(config.model.source)),
            config_hash=config.digest(), config=config.model_dump(mode="json"), versions=versions(),
            plugins=loaded_plugins(), cpu=cpu, dataset=run.dataset_info(reference),
            metric=MetricInfo(name=config.metric.type, main=fp32_metric.main,
                              summary_keys=list(s.metric.summary_keys) or list(fp32_metric.summary),
                              higher_is_better=fp32_metric.higher_is_better),
            calibration=run.calibration_info(overlap),
            quantization=Quantization(algorithm=config.quantization.openvino.algorithm,
                                      fake_quantize_nodes=fake_quantize, **outcome.details),
            splits=run.splits(ground_truth, fp32, int8), results=results,
            delta=metric_deltas(fp32_metric.summary, int8_metric.summary), tflite=tflite_notes, pictures=pictures,
            changes=Changes(**changes) if changes else Changes(),
            fp32_from_cache=run.fp32_cached, timings_s=run.timings,
        )
        write_reports(folder.path, report)
    target = report.quantization.target
    if target and not target.reached:
        raise TargetNotReachedError(
            f"accuracy target not reached ({target.stop_reason}): best drop on the search split "
            f"{target.search_drop:.4f} > max_drop {target.max_drop} ({target.drop_type}); "
            f"the best model and its report are in {config.output}")
    return report
