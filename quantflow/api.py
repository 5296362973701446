"""The Python API beside the CLI: the same flows, taking a config file or a `Config` and returning typed results.

    from quantflow import api
    report = api.quantize("configs/ssd.yml", ["evaluation.max_images=50"])
    print(report.results["INT8"].metrics["AP"], report.delta["AP"])

Errors are the CLI's: `UserInputError` for bad input (exit 2 there), `TargetNotReachedError` when an accuracy
target is missed (the run folder and its report are written first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quantflow.config import Config, load_config
from quantflow.report.model import Report


def _config(config: Config | str | Path, overrides: list[str]) -> Config:
    if isinstance(config, Config):
        if overrides:
            raise TypeError("overrides apply to a config file; change a Config with model_copy(update=...)")
        return config
    return load_config(config, overrides)


@dataclass(frozen=True)
class CheckResult:
    """What `check` found ready: the samples it read and the model input it checked against."""

    config: Config
    evaluation_samples: int
    calibration_samples: int
    sample_noun: str  # what one evaluation sample is: images, person crops, stereo pairs
    calibration_noun: str
    samples_read: int
    input_shape: tuple[int, ...]
    input_dtype: str


def check(config: Config | str | Path, overrides: list[str] = ()) -> CheckResult:
    """Validate config, output folder, data, model and decoder, and read every sample, without running a model."""
    from quantflow.core.output_safety import check_run_output
    from quantflow.pipeline.workflow import build_stages, check_every_sample, prepare_model

    config = _config(config, list(overrides))
    check_run_output(config.output, config.inputs())
    stages = build_stages(config)
    prepare_model(config, stages)
    read = check_every_sample(stages)
    return CheckResult(config, len(stages.evaluation_ids), len(stages.calibration_ids), stages.dataset.sample_noun,
                       stages.calibration_source.sample_noun, read,
                       tuple(stages.pipeline.spec.shape), str(stages.pipeline.spec.dtype))


def quantize(config: Config | str | Path, overrides: list[str] = ()) -> Report:
    """The whole flow of `quantflow quantize`; returns the report it wrote into the run folder."""
    from quantflow.pipeline.workflow import run_quantize

    return run_quantize(_config(config, list(overrides)))


def read_report(run_folder: str | Path) -> Report:
    """The typed report of a finished run folder."""
    return Report.read(Path(run_folder) / "report.json")
