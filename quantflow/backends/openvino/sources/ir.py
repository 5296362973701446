"""OpenVINO IR: read as is (.xml beside its .bin weights); `model.inputs` reshapes it."""

from __future__ import annotations

from pathlib import Path

from quantflow.backends.openvino.sources import SOURCES, ModelSource
from quantflow.core.errors import UserInputError, shown


@SOURCES.register("ir")
class IrSource(ModelSource):
    format = "OpenVINO IR"
    accepted = suffix = ".xml"

    def check(self, path: Path) -> None:
        if not path.with_suffix(".bin").is_file():
            raise UserInputError(f"model.source: file not found: {shown(path.with_suffix('.bin').name)} (IR weights)")

    def load(self, config):
        import openvino as ov

        model = ov.Core().read_model(config.source)
        if config.inputs:
            model.reshape(dict(config.inputs))
        return model
