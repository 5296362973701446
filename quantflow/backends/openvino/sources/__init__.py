"""Model sources: each format one module here (IR, ONNX, TF SavedModel, frozen TF graph, TFLite, TorchScript,
torch.export, python: factories), all → one `openvino.Model` with static inputs; and what every source shares
(input conformance, outputs, saving)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from quantflow.core.config_base import StrictModel
from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError, shown
from quantflow.core.provenance import file_sha256
from quantflow.core.registry import Registry
from quantflow.preprocessing import TensorSpec

ELEMENT_TYPES = {"f32": "float32", "f16": "float16", "f64": "float64", "u8": "uint8", "i8": "int8", "u16": "uint16",
                 "i16": "int16", "u32": "uint32", "i32": "int32", "i64": "int64"}
SOURCES: Registry = Registry("model format", package="quantflow.backends.openvino.sources")


class ModelSource:
    """One model format (one module of this package): how to recognise a path of it and turn it into an
    `openvino.Model`. `tensorflow`: a TensorFlow model, so the TFLite converter can read it directly."""

    format: str = ""  # the name reports and messages use
    accepted: str = ""  # how the refusal of an unknown path names this format
    suffix: str = ""  # a file format's suffix, for the default `matches`
    tensorflow: bool = False
    tflite_route: str = ""  # how the TFLite variants are made: "tensorflow", "onnx" (onnx2tf), "pytorch" (via ONNX)

    def matches(self, path: Path) -> bool:
        return bool(self.suffix) and path.suffix == self.suffix and path.is_file()

    def check(self, path: Path) -> None:
        """Refuse a path of this format that cannot be read (an IR without its weights)."""

    def load(self, config: StrictModel):
        """The `openvino.Model` of `config.source`; `inputs` shapes are applied at conversion (frozen graphs need
        them there) and `outputs` cut the graph."""
        import openvino as ov

        inputs = [(name, shape) for name, shape in config.inputs.items()] or None
        return ov.convert_model(config.source, input=inputs, output=list(config.outputs) or None)


def find_source(path: Path) -> ModelSource:
    """The format of `path`, or a clear error naming what is accepted."""
    sources = [SOURCES.get(name, "model.source")() for name in SOURCES.names()]
    for source in sources:
        if source.matches(path):
            source.check(path)
            return source
    accepted = ", ".join(s.accepted for s in sources)
    if path.is_dir():
        raise UserInputError(f"model.source: folder {shown(path.name)} is not a TF SavedModel (no saved_model.pb); "
                             f"quantflow reads {accepted}")
    raise UserInputError(f"model.source: unsupported model {shown(path.name)}; expected {accepted}")


def source_format(path: Path) -> str:
    """Human name of the model format."""
    return find_source(path).format


def load_model(config: StrictModel):
    """Read or convert the model named by a `model` config section."""
    path: Path = config.source
    source = find_source(path)
    try:
        return source.load(config)
    except UserInputError:
        raise
    except Exception as exc:  # conversion raises many unrelated types; the message is what the user needs
        raise UserInputError(f"model.source: cannot read {source.format} {shown(path.name)}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """The line of an OpenVINO exception that says what is wrong, not where in OpenVINO's sources it was raised."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(("Exception from src/", "Check '"))]
    return (telling or lines or [type(exc).__name__])[0]


def ov_partial_shape(shape: tuple[int, ...]):
    import openvino as ov

    return ov.PartialShape(list(shape))


def conform_input(model, spec: TensorSpec, count: int = 1, variable_size: bool = False) -> None:
    """Fix dynamic input dims from the preprocessing output, and refuse a shape or dtype that does not match.

    `count` inputs all take `spec` (stereo views fed separately). `variable_size`: the preprocessing pads to a
    multiple instead of resizing, so height and width stay dynamic.
    """
    if len(model.inputs) != count:
        names = ", ".join(sorted(i.get_any_name() for i in model.inputs))
        wanted = "a single-input model" if count == 1 else f"a model with {count} inputs"
        raise UserInputError(f"model.source: expected {wanted} for this task, got inputs {names}")
    for port in model.inputs:
        _conform_port(model, port, spec, variable_size)


def _conform_port(model, port, spec: TensorSpec, variable_size: bool) -> None:
    name = port.get_any_name()
    shape = port.get_partial_shape()
    compatible = shape.rank.is_static and shape.rank.get_length() == len(spec.shape) and \
        shape.compatible(ov_partial_shape(spec.shape))
    if shape.is_dynamic:
        if -1 in spec.shape and not variable_size:
            raise UserInputError(f"model.inputs: input {name} has dynamic shape {shape}; add a resize step or set it")
        if not compatible:
            raise UserInputError(f"preprocessing: produces {list(spec.shape)} but model input {name} is {shape}")
        model.reshape({port: ov_partial_shape(spec.shape)})
        shape = port.get_partial_shape()
    if shape.is_static and -1 not in spec.shape and tuple(shape.to_shape()) != spec.shape:
        raise UserInputError(
            f"preprocessing: produces {spec.layout.upper()} {list(spec.shape)} but model input {name} expects "
            f"{list(shape.to_shape())} (check resize size and layout)"
        )
    if shape.is_static and not compatible:
        raise UserInputError(f"preprocessing: produces {list(spec.shape)} but model input {name} is {shape}")
    element = ELEMENT_TYPES.get(port.get_element_type().get_type_name(), port.get_element_type().get_type_name())
    if element != spec.dtype:
        raise UserInputError(
            f"preprocessing: produces {spec.dtype} but model input {name} expects {element} (add a dtype step)"
        )


def input_element_type(model) -> str | None:
    """The numpy name of the element type every model input declares alike, or None (dynamic, mixed, unknown)."""
    names = {port.get_element_type().get_type_name() for port in model.inputs}
    return ELEMENT_TYPES.get(names.pop()) if len(names) == 1 else None


def output_infos(model) -> list[OutputInfo]:
    """Names and shapes of the model outputs, for decoders to bind to."""
    infos = []
    for index, port in enumerate(model.outputs):
        shape = port.get_partial_shape()
        dims = tuple(-1 if d.is_dynamic else d.get_length() for d in shape) if shape.rank.is_static else ()
        infos.append(OutputInfo(index, frozenset(port.get_names()), dims))
    return infos


def ir_artifact(xml: Path, root: Path) -> dict:
    """A saved IR as reports list it: path under `root`, size of .xml + .bin, sha256 of the weights."""
    bin_path = xml.with_suffix(".bin")
    return {"path": str(xml.relative_to(root)), "bytes": xml.stat().st_size + bin_path.stat().st_size,
            "sha256": file_sha256(bin_path)}


def save_ir(model, path: Path, compress_to_fp16: bool = False, reference=None) -> None:
    """Save an IR whose bytes do not depend on what the process did before. Nodes OpenVINO names from its
    process-wide counter (`Constant_257330`) are renamed from their place in the graph when they are new: not in
    `reference` (the model this one was made from: FP32 for an INT8 model), or, compressed to FP16, added by the
    compression. So a zoo built twice, with or without a cached FP32 pass, here or on a cluster, has the same
    hashes."""
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, path, compress_to_fp16=compress_to_fp16)
    if reference is None and not compress_to_fp16:
        return
    known = {op.get_friendly_name() for op in (reference or model).get_ops()}
    saved = ov.Core().read_model(path)
    added = [op for op in saved.get_ordered_ops() if op.get_friendly_name() not in known
             and re.fullmatch(rf"{op.get_type_name()}_\d+", op.get_friendly_name())]
    for k, op in enumerate(added):
        op.set_friendly_name(f"{op.get_type_name()}_{'fp16' if compress_to_fp16 else 'new'}_{k}")
    if added:  # written beside and renamed over: `saved` maps the weights file it was read from; `serialize`
        renamed = path.with_name(f".{path.stem}.renamed.xml")  # writes the graph as it is (save_model transforms)
        ov.serialize(saved, str(renamed), str(renamed.with_suffix(".bin")))
        del saved
        os.replace(renamed.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(renamed, path)
