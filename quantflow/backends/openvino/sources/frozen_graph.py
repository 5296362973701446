"""A frozen TensorFlow graph (.pb); frozen graphs need their input shapes (`model.inputs`) at conversion."""

from __future__ import annotations

from pathlib import Path

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("frozen_graph")
class FrozenGraphSource(ModelSource):
    format = "frozen TF graph"
    accepted = ".pb"
    tensorflow = True

    def matches(self, path: Path) -> bool:
        return path.suffix == ".pb" and path.is_file()
