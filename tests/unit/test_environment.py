"""The environment the setup command builds holds one TensorFlow and one OpenCV distribution: two of either share
one import folder, so one's files overwrite the other's and uninstalling either breaks both."""

from __future__ import annotations

from importlib.metadata import distributions

import pytest


def installed(*names: str) -> list[str]:
    found = {(d.metadata["Name"] or "").lower().replace("_", "-") for d in distributions()}
    return sorted(found & set(names))


@pytest.mark.parametrize("family", [("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"),
                                    ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                                     "opencv-contrib-python-headless")], ids=["tensorflow", "opencv"])
def test_one_distribution_per_import_folder(family: tuple[str, ...]) -> None:
    assert len(installed(*family)) <= 1, installed(*family)


def test_a_report_from_an_environment_without_the_optional_packages_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip install -e .` has no TensorFlow, LiteRT, torch or onnx2tf: versions lists what is there, and the
    report built from it validates (the main job runs on that install)."""
    from importlib import metadata

    from quantflow.core import provenance
    from tests.unit.reports import make_report

    real = metadata.version
    optional = {"tensorflow-cpu", "ai-edge-litert", "torch", "onnx2tf"}

    def version(name: str) -> str:
        if name in optional:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(provenance.metadata, "version", version)
    found = provenance.versions()
    assert not optional & set(found) and {"openvino", "nncf", "numpy"} <= set(found)
    report = make_report(["AP"], "AP", {"AP": 0.5}, {"AP": 0.49}).model_copy(update={"versions": found})
    assert type(report).model_validate(report.model_dump(mode="json")).versions == found
