"""A frozen TensorFlow graph (.pb); frozen graphs need their input shapes (`model.inputs`) at conversion."""

from __future__ import annotations

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("frozen_graph")
class FrozenGraphSource(ModelSource):
    format = "frozen TF graph"
    tflite_route = "tensorflow"
    accepted = suffix = ".pb"
    tensorflow = True
