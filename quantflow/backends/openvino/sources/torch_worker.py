"""PyTorch sources converted in a child process (`python -m quantflow.backends.openvino.sources.torch_worker`):
torch is the optional `torch` extra and is imported only there, and torch and TensorFlow in one process crash
each other (torch.export segfaults once TensorFlow is loaded). The child converts with `openvino.convert_model`,
names inputs and outputs from the config (PyTorch graphs carry no names) and saves an IR the parent reads."""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from quantflow.core.errors import UserInputError, one_line, shown
from quantflow.core.worker import run_worker, serve

WORKER = "quantflow.backends.openvino.sources.torch_worker"


KINDS = {".pt": "torchscript", ".pt2": "torch_export", ".py": "python_factory"}


def job_for(config) -> dict:
    return {"kind": KINDS[config.source.suffix], "source": str(config.source), "factory": config.factory,
            "inputs": config.inputs, "outputs": list(config.outputs)}


def export_onnx_in_worker(config, onnx_path: Path) -> None:
    """Write the PyTorch source named by `config` as ONNX to `onnx_path`."""
    job = {**job_for(config), "onnx": str(onnx_path)}
    run_worker(WORKER, job, onnx_path.parent, f"model.source: ONNX export of {shown(config.source.name)} failed")


def convert_in_worker(config) -> Any:
    """The openvino.Model of a PyTorch source (TorchScript .pt, torch.export .pt2 or a python: factory)."""
    import openvino as ov

    job = job_for(config)
    with tempfile.TemporaryDirectory(prefix="quantflow_torch_") as tmp:
        job["ir"] = str(Path(tmp) / "model.xml")
        run_worker(WORKER, job, Path(tmp), f"model.source: cannot convert {shown(config.source.name)}")
        return ov.Core().read_model(job["ir"])


def import_torch():
    try:
        import torch
    except ImportError:
        raise UserInputError("model.source: PyTorch models need torch; install quantflow[torch]") from None
    return torch


def example_inputs(torch, job: dict, kind: str) -> tuple:
    """Zeros of each `model.inputs` shape: a TorchScript or nn.Module graph has no shapes of its own."""
    if not job["inputs"]:
        raise UserInputError(f"model.inputs: a {kind} needs its input shapes, e.g. inputs: {{image: [1, 3, 224, 224]}}")
    return tuple(torch.zeros(shape) for shape in job["inputs"].values())


def import_root(path: Path, module: str) -> Path:
    """The folder `module` is imported from, given its file."""
    root = path.parent.parent if path.name == "__init__.py" else path.parent
    for _ in range(module.count(".")):
        root = root.parent
    return root


def torchscript(torch, job: dict):
    example = example_inputs(torch, job, "TorchScript model")
    try:
        module = torch.jit.load(job["source"], map_location="cpu")
    except RuntimeError:
        raise UserInputError(f"model.source: {shown(Path(job['source']).name)} is not a TorchScript archive "
                             "(torch.jit.save); a state_dict needs its model's code: use "
                             "source: python:package.module:factory") from None
    return module.eval(), example


def torch_export(torch, job: dict):
    try:
        return torch.export.load(job["source"]), None
    except Exception as exc:  # a damaged archive raises zip, pickle or runtime errors
        raise UserInputError(f"model.source: {shown(Path(job['source']).name)} is not a torch.export archive "
                             f"({shown(exc)})") from None


def python_factory(torch, job: dict):
    where = f"model.source: python:{job['factory']}"
    if not job["factory"]:
        raise UserInputError("model.source: a .py file is read as source: python:package.module:factory")
    module_name, _, function = job["factory"].partition(":")
    example = example_inputs(torch, job, "python factory")
    sys.path.insert(0, str(import_root(Path(job["source"]), module_name)))
    try:
        factory = getattr(importlib.import_module(module_name), function, None)
        if not callable(factory):
            raise UserInputError(f"{where}: the module has no function {function}")
        module = factory()
    except UserInputError:
        raise
    except Exception as exc:  # the user's code may raise anything while importing or building
        raise UserInputError(f"{where} failed: {type(exc).__name__}: {one_line(exc)}") from None
    if not isinstance(module, torch.nn.Module):
        raise UserInputError(f"{where} returned {type(module).__name__}, expected a torch.nn.Module")
    return module.eval(), example


READERS = {"torchscript": torchscript, "torch_export": torch_export, "python_factory": python_factory}


def export_onnx(torch, graph, example: tuple | None, job: dict) -> None:
    """The source as ONNX (opset 17, TorchScript exporter), the first step of the TFLite variants' conversion."""
    if example is None:  # an ExportedProgram: its module, with the example inputs it was exported with
        graph, example = graph.module(), tuple(graph.example_inputs[0])
    with torch.no_grad():
        torch.onnx.export(graph, example, job["onnx"], input_names=list(job["inputs"]) or None,
                          output_names=job["outputs"] or None, opset_version=17, dynamo=False)


def work(job: dict) -> None:
    import openvino as ov

    torch = import_torch()
    graph, example = READERS[job["kind"]](torch, job)
    if job.get("onnx"):
        return export_onnx(torch, graph, example, job)
    with torch.no_grad():
        model = ov.convert_model(graph, example_input=example) if example is not None else ov.convert_model(graph)
    for port, name in zip(model.inputs, job["inputs"]):
        port.get_tensor().set_names({name})
    if job["outputs"]:
        if len(job["outputs"]) != len(model.outputs):
            raise UserInputError(f"model.outputs: names {len(job['outputs'])} outputs, the PyTorch model has "
                                 f"{len(model.outputs)}")
        for port, name in zip(model.outputs, job["outputs"]):
            port.get_tensor().set_names({name})
    if job["inputs"] and job["kind"] == "torch_export":
        model.reshape({port: shape for port, shape in zip(model.inputs, job["inputs"].values())})
    ov.save_model(model, job["ir"], compress_to_fp16=False)


if __name__ == "__main__":
    serve(work)
