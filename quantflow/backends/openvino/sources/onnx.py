"""ONNX, converted by `openvino.convert_model`."""

from __future__ import annotations

from pathlib import Path

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("onnx")
class OnnxSource(ModelSource):
    format = "ONNX"
    accepted = ".onnx"

    def matches(self, path: Path) -> bool:
        return path.suffix == ".onnx" and path.is_file()
