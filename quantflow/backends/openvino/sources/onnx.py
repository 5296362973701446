"""ONNX, converted by `openvino.convert_model`."""

from __future__ import annotations

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("onnx")
class OnnxSource(ModelSource):
    format = "ONNX"
    tflite_route = "onnx"
    accepted = suffix = ".onnx"
