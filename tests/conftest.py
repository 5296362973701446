"""Shared fixtures: real images from scikit-image, a tiny real ONNX model, and a CLI runner."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Hand-drawn person boxes [x, y, w, h] on scikit-image's photographs (looked up by eye on the images).
PERSON_BOXES = {"astronaut": [18, 14, 347, 498], "camera": [0, 65, 330, 447]}
NO_PERSON = ("coffee", "rocket", "chelsea")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e runs a whole flow: all are `slow`, so `-m "not slow"` is the fast tier."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory) -> Path:
    """Keep the FP32 reference cache of every test (and CLI subprocess) out of the user's home."""
    import os

    folder = tmp_path_factory.mktemp("cache_home")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    return folder


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m quantflow` as a user would, capturing output and exit code."""
    return subprocess.run([sys.executable, "-m", "quantflow", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


FAST_SPEED = "evaluation.speed={latency_runs: 10, throughput_seconds: 0.5}"  # timing is not what these tests check


def quantize_sample(config: str, out: Path, *overrides: str, exit_code: int = 0) -> dict:
    """`quantflow quantize` on a shipped config (`configs/<config>`) into `out` with quick timing; its report."""
    result = run_cli("quantize", "--config", str(ROOT / "configs" / config), "--set", f"output={out}",
                     "--set", FAST_SPEED, *(arg for o in overrides for arg in ("--set", o)))
    assert result.returncode == exit_code, result.stderr
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="session")
def person_images(tmp_path_factory) -> Path:
    """Two photographs of people and three without, written as the files a user would have."""
    import skimage.data

    folder = tmp_path_factory.mktemp("person_images")
    for name in (*PERSON_BOXES, *NO_PERSON):
        image = getattr(skimage.data, name)()
        if image.ndim == 3:
            image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


@pytest.fixture(scope="session")
def person_coco(person_images: Path) -> Path:
    """A COCO instances file for `person_images` with the full COCO-style category list (sparse ids)."""
    images, annotations = [], []
    for image_id, path in enumerate(sorted(person_images.glob("*.jpg")), start=1):
        height, width = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape[:2]
        images.append({"id": image_id, "file_name": path.name, "width": width, "height": height})
        if path.stem in PERSON_BOXES:
            x, y, w, h = PERSON_BOXES[path.stem]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": 1, "name": "person", "supercategory": "person"},
                  {"id": 3, "name": "car", "supercategory": "vehicle"},
                  {"id": 18, "name": "dog", "supercategory": "animal"}]
    path = person_images.parent / "person_val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    """A real 1-conv ONNX model: input `image` [1,3,32,32] float32, output `features` [1,4,32,32]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["image", "w"], ["features"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4, 32, 32])],
                              initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(model, path)
    return path


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Bad input as promised: exit code 2, no traceback, exactly one `quantflow:` line, an error naming every
    fragment (the key or file, and what was expected)."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("quantflow:")]
    assert len(lines) == 1 and lines[0].startswith("quantflow: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def html_parts(path: Path) -> tuple[Counter, list[str]]:
    """Tag counts and every src/href (and SVG xlink:href) of an HTML file, parsed with the standard library's
    parser."""
    from html.parser import HTMLParser

    tags, links = Counter(), []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags[tag] += 1
            links.extend(value for name, value in attrs if name in ("src", "href", "xlink:href") and value)

    Collector().feed(path.read_text())
    return tags, links


PINS = ROOT / "tests" / "data" / "pinned_metrics.json"
FLOAT_ROWS = ("FP32", "FP32 embedded")


def _same_figures(got: dict | None, pinned: dict | None) -> bool:
    """The same keys and values, equal up to the last bits of float rounding: sums pooled over samples in the
    order they finish (stereo's squared errors) may round differently from one run to the next."""
    if got is None or pinned is None:
        return got is pinned
    def same(a: float | None, b: float | None) -> bool:
        return a is b if a is None or b is None else math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)

    return got.keys() == pinned.keys() and all(same(got[k], pinned[k]) for k in got)


def assert_pinned(report: dict, config: str) -> None:
    """Every metric (and per-class / per-keypoint figure) of a shipped config's run equals the figures pinned in
    tests/data/pinned_metrics.json. Float rows are compared on any machine; INT8 rows, the FakeQuantize count and
    the INT8 weights' sha256 only where the CPU's ISA flags and the OpenVINO/NNCF versions are the ones the pins
    were recorded with (INT8 kernels differ with VNNI, and NNCF releases change results)."""
    pins = json.loads(PINS.read_text())
    pinned = pins["configs"][config]
    recorded = pins["recorded_with"]
    same_machine = (sorted(k for k, v in report["cpu"]["isa"].items() if v) == recorded["isa"]
                    and all(report["versions"][k] == recorded[k] for k in ("openvino", "nncf")))
    rows = [name for name in pinned["results"] if same_machine or name in FLOAT_ROWS]
    assert set(report["results"]) == set(pinned["results"])
    for name in rows:
        got = report["results"][name]
        for part in ("metrics", "breakdown"):
            assert _same_figures(got.get(part), pinned["results"][name][part]), \
                f"{config} {name} {part} moved: {got.get(part)}"
    for precision in ("FP32", "INT8") if same_machine else ("FP32",):
        artifact = report["results"][precision]["artifact"]
        assert {"bytes": artifact["bytes"], "sha256": artifact["sha256"]} == pinned["artifacts"][precision]
    if same_machine:
        assert report["quantization"]["fake_quantize_nodes"] == pinned["fake_quantize_nodes"]
