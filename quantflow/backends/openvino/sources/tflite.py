"""A TFLite flatbuffer, converted by `openvino.convert_model`."""

from __future__ import annotations

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("tflite")
class TfliteSource(ModelSource):
    format = "TFLite"
    accepted = suffix = ".tflite"
