"""A `torch.export` archive (`torch.export.save`, .pt2), converted in the torch worker; the exported program
carries its own input shapes (`model.inputs` reshapes it)."""

from __future__ import annotations

from quantflow.backends.openvino.sources import SOURCES, ModelSource
from quantflow.backends.openvino.sources.torch_worker import convert_in_worker


@SOURCES.register("torch_export")
class TorchExportSource(ModelSource):
    format = "torch.export"
    tflite_route = "pytorch"
    accepted = suffix = ".pt2"

    def load(self, config):
        return convert_in_worker(config)
