"""A TensorFlow SavedModel folder, converted by `openvino.convert_model`."""

from __future__ import annotations

from pathlib import Path

from quantflow.backends.openvino.sources import SOURCES, ModelSource


@SOURCES.register("saved_model")
class SavedModelSource(ModelSource):
    format = "TF SavedModel"
    tflite_route = "tensorflow"
    accepted = "a SavedModel folder (with saved_model.pb)"
    tensorflow = True

    def matches(self, path: Path) -> bool:
        return path.is_dir() and (path / "saved_model.pb").is_file()
