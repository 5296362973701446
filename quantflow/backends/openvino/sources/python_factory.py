"""`source: python:package.module:factory`: in the torch worker the function is imported (from the config's
folder or sys.path), called without arguments, and the nn.Module it returns converted in eval mode with example
inputs of the `model.inputs` shapes. The module's file stands for the model in caches and reports."""

from __future__ import annotations

from quantflow.backends.openvino.sources import SOURCES, ModelSource
from quantflow.backends.openvino.sources.torch_worker import convert_in_worker


@SOURCES.register("python_factory")
class PythonFactorySource(ModelSource):
    format = "PyTorch (python factory)"
    tflite_route = "pytorch"
    accepted = "python:package.module:factory"
    suffix = ".py"

    def load(self, config):
        return convert_in_worker(config)
