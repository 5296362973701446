"""The run report as a typed, versioned model: built once by the workflow, written as report.json, and read
by the markdown, html and terminal views and by the zoo. `quantflow schema` prints its JSON Schema.

Every evaluated model is one `Variant` in `results`, keyed by the name the tables show ("FP32", "INT8",
"INT8 embedded", "TFLite int8"); `kind` and `precision` say what it is, so no reader parses names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quantflow.core.output_safety import RUN_SCHEMA


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelInfo(Section):
    name: str
    source: str
    format: str


class Cpu(Section):
    model: str
    machine: str
    isa: dict[str, bool]


class DatasetInfo(Section):
    type: str
    task: str
    fingerprint: str
    images_evaluated: int
    samples_evaluated: int
    sample: str = Field(description="What one sample is: images, person crops, stereo pairs.")
    reference: str = Field(description="What the predictions are scored against.")


class MetricInfo(Section):
    name: str
    main: str
    summary_keys: list[str] = Field(description="The summary values tables show, in order.")
    higher_is_better: bool


class CalibrationInfo(Section):
    source: str
    subset_size: int
    seed: int
    ids: list[int]
    files: list[str]
    overlap_with_evaluation: int = Field(description="Calibration samples that are also evaluated.")


class Operation(Section):
    name: str
    type: str = ""


class Target(Section):
    max_drop: float
    drop_type: Literal["absolute", "relative"]
    reached: bool
    search_drop: float
    stop_reason: str


class SearchStep(Section):
    step: int
    metric: float | None
    drop: float
    reverted_group: list[str] = Field(description="NNCF's strategy: the group it reverted in this step.")
    elapsed_s: float
    phase: str | None = Field(default=None, description="quantflow's search: default, recipe, types, segments, "
                                                        "bisection or pruning.")
    candidate: str | None = Field(default=None, description="What the candidate puts in float.")
    base: str | None = Field(default=None, description="The calibration it edits: default or a recipe.")
    in_float: int | None = Field(default=None, description="Quantizer groups in float.")
    met: bool | None = Field(default=None, description="Whether its drop meets the target.")
    accepted: bool | None = Field(default=None, description="Whether it became the best so far (else rolled back).")


class SearchSummary(Section):
    strategy: str
    base: str
    groups: int
    groups_in_float: int
    evaluations: int
    budget_spent: bool
    seconds: float
    scored_together: list[int] = Field(default_factory=list, description="Sizes of the candidate batches scored "
                                       "at once as Ray tasks (executor: ray); empty when scored one by one.")


class QuantizedCounts(Section):
    before_search: int
    after_search: int


class Quantization(Section):
    algorithm: str
    fake_quantize_nodes: int
    settings: dict[str, Any]
    auto_ignored: list[Operation] = Field(default_factory=list, description="Kept in float by ignored_scope.auto.")
    target: Target | None = None
    ranking_subset_size: int | None = None
    reference_metric: float | None = None
    steps: list[SearchStep] = Field(default_factory=list)
    reverted: list[Operation] = Field(default_factory=list, description="Kept in float by the accuracy-aware search.")
    quantized_operations: QuantizedCounts | None = None
    search: SearchSummary | None = None


class Split(Section):
    images: int
    FP32: float
    INT8: float
    delta: float


class Speed(Section):
    latency_ms_median: float
    latency_ms_p90: float
    latency_threads: int | None = Field(description="None: the runtime's default (TFLite with threads unset).")
    throughput_fps: float
    streams: int
    throughput_threads: int
    requests: int | None = None


class Curve(Section):
    recall: list[float]
    precision: list[float]


class Artifact(Section):
    path: str = Field(description="Under the run folder.")
    bytes: int
    sha256: str = Field(description="Of the weights (.bin) or of the .tflite file.")


class Variant(Section):
    kind: Literal["openvino", "embedded", "tflite"]
    precision: str = Field(description="FP32 / INT8 for OpenVINO models, the converter variant for TFLite.")
    metrics: dict[str, float | None]
    breakdown: dict[str, float | None] = Field(default_factory=dict)
    breakdown_label: tuple[str, str] = ("class", "AP")
    breakdown_higher_is_better: bool | None = Field(default=None, description="The direction of the breakdown "
                                                    "values where it differs from the metric's main value's.")
    results: int = Field(description="Result rows the pass produced (detections, people, pairs).")
    images_per_second: float
    curves: dict[str, Curve] = Field(default_factory=dict)
    speed: Speed | None = None
    artifact: Artifact | None = None
    external_preprocess_ms: float | None = Field(default=None, description="Embedded: the processing it replaces.")
    agreement: dict[str, float] = Field(default_factory=dict, description="Embedded: task figures against external.")
    contents: dict[str, Any] | None = Field(default=None, description="TFLite: what the flatbuffer holds.")


class TFLiteNotes(Section):
    kept_in_float: dict[str, float] = Field(default_factory=dict)
    mixed_range_outputs: list[str] = Field(default_factory=list)
    converted_via: str | None = Field(default=None, description="NCHW sources: the converter to an NHWC SavedModel.")
    conversion_s: float | None = Field(default=None, description="Seconds that conversion took.")


class ColorScale(Section):
    """How a colour-mapped picture turns values into colours, so a page can draw its colour bar."""

    colormap: str = Field(description="matplotlib's name of the colour map (OpenCV's turbo and inferno are the same).")
    low: float
    high: float = Field(description="The value drawn in the map's last colour (and everything above it).")
    label: str = Field(description="What the colours measure, with the unit: 'disparity, px'.")


class Picture(Section):
    sample: str
    images: dict[str, str] = Field(description="kind → PNG path under the run folder.")
    caption: str
    figures: dict[str, float] = Field(default_factory=dict)
    scales: dict[str, ColorScale] = Field(default_factory=dict, description="kind → colour scale, for the images "
                                                                            "that colour-map a value.")


class Pictures(Section):
    title: str = ""
    note: str = ""
    entries: list[Picture] = Field(default_factory=list)


class Change(Section):
    sample: str
    reference: str = Field(description="The sample's label (what the metric scores against).")
    FP32: str
    INT8: str


class Changes(Section):
    """The samples whose result INT8 changes (classification: top-1 class), listed for a person to look at."""

    title: str = ""
    note: str = ""
    total: int = 0
    entries: list[Change] = Field(default_factory=list)


class Report(Section):
    schema_: Literal["quantflow.run/2"] = Field(default=RUN_SCHEMA, alias="schema")
    created: str
    model: ModelInfo
    config_hash: str
    config: dict[str, Any]
    versions: dict[str, str]
    plugins: list[dict[str, str | None]]
    cpu: Cpu
    dataset: DatasetInfo
    metric: MetricInfo
    calibration: CalibrationInfo
    quantization: Quantization
    splits: dict[str, Split] = Field(default_factory=dict)
    results: dict[str, Variant]
    delta: dict[str, float | None] = Field(description="INT8 − FP32 of every summary value.")
    tflite: TFLiteNotes | None = None
    pictures: Pictures = Field(default_factory=Pictures)
    changes: Changes = Field(default_factory=Changes)
    fp32_from_cache: bool
    timings_s: dict[str, float]

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def of_kind(self, kind: str) -> dict[str, Variant]:
        return {name: v for name, v in self.results.items() if v.kind == kind}

    def to_json(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def read(cls, path: Path) -> Report:
        return cls.model_validate(json.loads(path.read_text()))


def metric_deltas(reference: dict[str, float | None], values: dict[str, float | None]) -> dict[str, float | None]:
    """Each value minus the reference's (`Report.delta`: INT8 − FP32), None where either is undefined."""
    return {k: (v - reference[k] if v is not None and reference.get(k) is not None else None)
            for k, v in values.items()}


def report_schema() -> dict:
    """The JSON Schema of report.json."""
    return Report.model_json_schema(by_alias=True)
