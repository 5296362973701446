"""A TorchScript archive (`torch.jit.save`), converted in the torch worker with example inputs of the
`model.inputs` shapes."""

from __future__ import annotations

from quantflow.backends.openvino.sources import SOURCES, ModelSource
from quantflow.backends.openvino.sources.torch_worker import convert_in_worker


@SOURCES.register("torchscript")
class TorchScriptSource(ModelSource):
    format = "TorchScript"
    tflite_route = "pytorch"
    accepted = suffix = ".pt"

    def load(self, config):
        return convert_in_worker(config)
