"""The config's schema: typed, validated, frozen sections.

Every section is validated before any work starts. Provider sections (dataset, preprocessing steps, decoder,
metric, quantization algorithm) are validated against the typed config their provider declares, so an error
always carries the dotted key path, e.g. ``dataset.annotations: file not found: val.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from quantflow.backends.openvino.speed import SpeedConfig
from quantflow.backends.tflite.config import TFLiteConfig
from quantflow.core.adapter import ADAPTERS
from quantflow.core.config_base import (
    ExistingFolder,
    ExistingPath,
    OutputFolder,
    OutputPath,
    ProviderConfig,
    StrictModel,
    read_paths,
)
from quantflow.core.decoder import DECODERS
from quantflow.core.metric import METRICS
from quantflow.core.plugins import loaded_plugins
from quantflow.core.registry import Registry
from quantflow.executors.settings import ExecutorConfig
from quantflow.preprocessing import STEPS
from quantflow.quantizers import QUANTIZERS


def default_cache_dir() -> Path:
    """Where FP32 reference predictions are cached unless the config says otherwise."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quantflow"


def provider_field(registry: Registry, key: str = "type", default: str | None = None) -> Any:
    """A field validated by the config class of the provider that `key` names (a bare string is `{key: ...}`;
    a mapping without `key` means `default`, when there is one)."""

    def validate(value: Any, info: ValidationInfo) -> StrictModel:
        if isinstance(value, StrictModel):
            return value
        if isinstance(value, str):
            value = {key: value}
        if isinstance(value, dict) and key not in value and default:
            value = {key: default, **value}
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"expected a mapping with a {key!r} key ({', '.join(registry.names())})")
        if value[key] not in registry:
            raise ValueError(f"unknown {registry.kind} {value[key]!r}; known: {', '.join(registry.names())}")
        return registry.get(value[key], "").Config.model_validate(value, context=info.context)

    return Annotated[SerializeAsAny[StrictModel], BeforeValidator(validate)]


def step_field(registry: Registry) -> Any:
    """A preprocessing step written as a one-key mapping, `{resize: {size: [160, 160]}}` or `{color: rgb}`."""

    def validate(value: Any, info: ValidationInfo) -> ProviderConfig:
        if isinstance(value, ProviderConfig):
            return value
        if isinstance(value, str):
            value = {value: {}}
        if isinstance(value, dict) and value.get("type") in registry:  # the dumped form, as reports store it
            return registry.get(value["type"], "").Config.model_validate(value, context=info.context)
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError(f"expected one step as a one-key mapping ({', '.join(registry.names())})")
        (name, params), = value.items()
        if name not in registry:
            raise ValueError(f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}")
        config_cls = registry.get(name, "").Config
        shorthand = not isinstance(params, dict)
        if shorthand:
            first_field = next(iter(f for f in config_cls.model_fields if f != "type"))
            params = {first_field: params}
        try:
            return config_cls.model_validate({"type": name, **params}, context=info.context)
        except ValidationError as exc:  # name the keys as written: `resize.size`, or `dtype` for `{dtype: x}`
            raise ValidationError.from_exception_data(exc.title, [
                {"type": e["type"], "input": e["input"], "ctx": e.get("ctx", {}),
                 "loc": (name, *e["loc"][1:]) if shorthand else (name, *e["loc"])} for e in exc.errors()]) from None

    return Annotated[SerializeAsAny[ProviderConfig], BeforeValidator(validate)]


def _python_module_file(module: str, base_dir: Path) -> Path:
    """The file of `module` (importable from the config's folder or sys.path), found without running it."""
    import importlib.util
    import sys

    sys.path.insert(0, str(base_dir))
    importlib.invalidate_caches()  # files written since the last import must be seen
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"python:{module}: cannot be found ({exc})") from None
    finally:
        sys.path.remove(str(base_dir))
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"python:{module}: no such Python module (looked in {base_dir} and sys.path)")
    return Path(spec.origin)


class ModelConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="Used for artifact and folder names.")
    source: ExistingPath = Field(
        description="IR .xml, .onnx, SavedModel folder, frozen .pb, .tflite, TorchScript .pt, torch.export .pt2, "
        "or python:package.module:factory (a function returning a torch nn.Module).")
    inputs: dict[str, list[int]] = Field(
        default_factory=dict, description="Input name → static shape; fixes dynamic dims, names frozen-graph inputs "
        "and PyTorch inputs (TorchScript and python: sources need it).")
    outputs: list[str] = Field(default_factory=list, description="Output tensor names to cut a frozen graph at; "
                               "for PyTorch sources, names given to the outputs in order.")
    factory: str | None = Field(default=None, description="Set from source: python:package.module:factory.")

    @model_validator(mode="before")
    @classmethod
    def _python_factory(cls, data: Any, info: ValidationInfo) -> Any:
        """`source: python:package.module:factory` → the module's file as `source` (so the cache and the report
        see the code) and `package.module:factory` as `factory`."""
        source = data.get("source") if isinstance(data, dict) else None
        if not (isinstance(source, str) and source.startswith("python:")):
            return data
        module, _, function = source.removeprefix("python:").strip().partition(":")
        if not module or not function.isidentifier():
            raise ValueError(f"source: expected python:package.module:factory, got {source!r}")
        base_dir = Path((info.context or {}).get("base_dir", "."))
        return {**data, "source": str(_python_module_file(module, base_dir)), "factory": f"{module}:{function}"}


def _steps_only(value: Any) -> Any:
    """A bare list of steps is the common form: `preprocessing: [...]` means `preprocessing: {steps: [...]}`."""
    return {"steps": value} if isinstance(value, list) else value


class PreprocessingConfig(StrictModel):
    steps: list[step_field(STEPS)] = Field(min_length=1, description="Ordered steps from BGR image to model input.")
    pack: Literal["channels", "inputs"] = Field(
        default="channels", description="Stereo pairs: views concatenated along channels, or one model input each."
    )
    embed: bool = Field(
        default=False, description="Also build models taking raw uint8 BGR images with the steps inside the graph "
        "(and a heatmap argmax, for pose); the report compares them with external processing."
    )


class CalibrationConfig(StrictModel):
    images: ExistingFolder | None = Field(
        default=None, description="Folder of calibration images; default: a subset of the dataset itself."
    )
    dataset: provider_field(ADAPTERS) | None = Field(
        default=None, description="A dataset section to calibrate on instead (e.g. person crops for top-down pose)."
    )
    subset_size: int = Field(default=300, gt=0, description="Number of calibration images.")
    seed: int = Field(default=0, description="Seed of the calibration subset draw.")

    @model_validator(mode="after")
    def _one_source(self) -> "CalibrationConfig":
        if self.images and self.dataset:
            raise ValueError("set either images or dataset, not both")
        return self


class EvaluationConfig(StrictModel):
    device: str = Field(default="CPU", description="OpenVINO device for evaluation.")
    max_images: int | None = Field(default=None, gt=0, description="Evaluate a seeded subset of this size.")
    seed: int = 0
    cache_dir: OutputFolder | None = Field(
        default_factory=default_cache_dir, description="FP32 reference cache; null disables it."
    )
    input_cache_mb: int = Field(default=2048, ge=0, description="Disk for decoded, preprocessed inputs kept across "
                                "the passes of an accuracy-aware search (removed after the run); 0 disables it.")
    speed: SpeedConfig = Field(default_factory=SpeedConfig)
    maps: int = Field(default=3, ge=0, description="Samples the task draws pictures of for the reports (stereo: "
                      "disparity and error maps).")


class QuantizationConfig(StrictModel):
    openvino: provider_field(QUANTIZERS, key="algorithm", default="default") = Field(
        default_factory=lambda: QUANTIZERS.get("default", "").Config()
    )
    tflite: TFLiteConfig | None = Field(default=None, description="TFLite variants (TF sources only).")


class Config(StrictModel):
    plugins: list[str] = Field(
        default_factory=list, description="Modules (mypkg.decoders) or .py files (relative to the config file) "
        "imported before the rest is validated; they register providers the config can then name."
    )
    model: ModelConfig
    dataset: provider_field(ADAPTERS)
    preprocessing: Annotated[PreprocessingConfig, BeforeValidator(_steps_only)]
    decoder: provider_field(DECODERS)
    metric: provider_field(METRICS)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    output: OutputPath
    _file: Path | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        """The YAML file this config was read from (None when built in code)."""
        return self._file

    def inputs(self) -> dict[str, Path]:
        """Every path the run reads, by the key that names it (`--config` for the config file itself):
        an output must never replace, hold or sit inside one of them."""
        found = dict(read_paths(self))
        if self.model.source.suffix == ".xml":
            found["model.source (weights)"] = self.model.source.with_suffix(".bin")
        found.update({f"plugins ({p['module']})": Path(p["file"]) for p in loaded_plugins() if p["file"]})
        return {"--config": self._file, **found} if self._file else found

    def digest(self) -> str:
        """sha256 of the resolved config, so reports can tell recipes apart; where the work runs and where it is
        written (`executor`, `output`) change no result, so they are left out."""
        canonical = json.dumps(self.model_dump(mode="json", exclude={"executor", "output"}), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()
