"""A TFLite flatbuffer, converted by `openvino.convert_model`."""

from __future__ import annotations

from pathlib import Path

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("tflite")
class TfliteSource(ModelSource):
    format = "TFLite"
    accepted = ".tflite"

    def matches(self, path: Path) -> bool:
        return path.suffix == ".tflite" and path.is_file()
