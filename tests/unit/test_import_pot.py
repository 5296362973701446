"""`quantflow import-pot`: POT and Accuracy Checker configs become a quantflow config; whatever does not map is
listed (returned, and written as comments at the top of the file), never dropped; bad input is one line, exit 2.

The fixtures in tests/data/pot/ follow the documented formats: Open Model Zoo's ssd_mobilenet_v2_coco
accuracy-check.yml with its dataset definition inline, and POT json configs in the layout of
tools/pot/configs (comments included, as POT read them with jstyleson).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Callable

import pytest
import yaml

from quantflow.config.schema import PreprocessingConfig, QuantizationConfig
from quantflow.core.errors import UserInputError
from quantflow.importers import Where
from quantflow.importers.accuracy_checker import dataset_section, metric_section
from quantflow.importers.pot import import_pot, import_pot_files, read_config_file
from tests.conftest import ROOT, assert_user_error, run_cli

DATA = ROOT / "tests" / "data" / "pot"
AC = DATA / "ssd_mobilenet_v2_coco.yml"
DEFAULT = DATA / "ssd_mobilenet_v2_coco_default.json"
AWARE = DATA / "ssd_mobilenet_v2_coco_accuracy_aware.json"
SAMPLE = ROOT / "configs" / "ssd.yml"


def load(path: Path) -> dict:
    return read_config_file(path, "test")


def only(notes: list[str], fragment: str) -> str:
    """The one note that mentions `fragment`."""
    found = [note for note in notes if fragment in note]
    assert len(found) == 1, (fragment, notes)
    return found[0]


def with_ac(ac_edit: Callable[[dict], object] | None = None,
            pot_edit: Callable[[dict], object] | None = None) -> tuple[dict, list[str]]:
    """Import the default SSD pair after editing copies of its dicts."""
    pot, ac = load(DEFAULT), load(AC)
    if pot_edit:
        pot_edit(pot)
    if ac_edit:
        ac_edit(ac["models"][0])
    return import_pot(pot, ac, pot_name="pot.json", ac_name="ac.yml")


def test_default_pair_lands_where_the_readme_says(tmp_path: Path) -> None:
    out = tmp_path / "configs" / "ssd.yml"
    notes = import_pot_files(DEFAULT, out)
    config = yaml.safe_load(out.read_text())
    assert config["model"]["name"] == "ssd_mobilenet_v2_coco"
    assert (out.resolve().parent / config["model"]["source"]).resolve() == DATA / "models" / "ssd_mobilenet_v2_coco.xml"
    assert config["dataset"] == {"type": "coco_detection", "annotations": "MSCOCO/annotations/instances_val2017.json",
                                 "images": "MSCOCO/val2017", "label_map": "category_id"}
    assert config["preprocessing"] == [{"resize": {"size": [300, 300]}}, {"layout": "nchw"}, {"dtype": "float32"}]
    assert config["decoder"] == {"type": "detection_output"}
    assert config["metric"] == {"type": "coco_ap", "max_detections": 100}
    assert config["calibration"] == {"subset_size": 300}
    assert config["quantization"] == {"openvino": {"algorithm": "default", "preset": "performance",
                                                   "target_device": "ANY"}}
    assert config["output"] == "../runs/ssd_mobilenet_v2_coco"
    PreprocessingConfig.model_validate({"steps": config["preprocessing"]})
    QuantizationConfig.model_validate(config["quantization"])
    assert "handled" in only(notes, "postprocessing[0]")
    assert "0.249452" in only(notes, "metrics[0].reference")
    assert "--data-root" in only(notes, "datasets[0].data_source")
    assert "--data-root" in only(notes, "annotation_file")


def test_accuracy_aware_pair_maps_the_search_settings(tmp_path: Path) -> None:
    out = tmp_path / "aware.yml"
    notes = import_pot_files(AWARE, out)
    openvino = yaml.safe_load(out.read_text())["quantization"]["openvino"]
    assert openvino == {"algorithm": "nncf_accuracy_control", "max_drop": 0.01, "drop_type": "absolute", "max_iterations": 20,
                        "ranking_subset_size": 300, "tune_hyperparams": False, "preset": "mixed",
                        "target_device": "CPU", "ignored_scope": {"names": ["BoxPredictor_0/ClassPredictor/Conv2D"],
                                                                  "types": ["Add"]}}
    QuantizationConfig.model_validate({"openvino": openvino})
    assert "0.5" in only(notes, "params.metric_subset_ratio")


def test_unmapped_items_are_written_as_comments_at_the_top(tmp_path: Path) -> None:
    out = tmp_path / "aware.yml"
    notes = import_pot_files(AWARE, out)
    text = out.read_text()
    header = text[: text.index("\nmodel:") + 1]
    assert all(line.startswith("#") for line in header.splitlines())
    assert str(AWARE) in header.splitlines()[0] and str(AC) in header.splitlines()[0]
    assert len(notes) >= 5
    for note in notes:
        assert f"#   - {note}\n" in header
    expected, _ = import_pot(load(AWARE), load(AC), pot_root=os.path.relpath(DATA, out.resolve().parent))
    assert yaml.safe_load(text) == expected


def test_data_root_prefixes_the_ac_paths(tmp_path: Path) -> None:
    out = tmp_path / "ssd.yml"
    notes = import_pot_files(DEFAULT, out, data_root=tmp_path / "coco")
    dataset = yaml.safe_load(out.read_text())["dataset"]
    root = (tmp_path / "coco").resolve()
    assert dataset["images"] == str(root / "MSCOCO" / "val2017")
    assert dataset["annotations"] == str(root / "MSCOCO" / "annotations" / "instances_val2017.json")
    assert "put under --data-root" in only(notes, "datasets[0].data_source")


@pytest.mark.parametrize(("has_background", "full", "expected"), [
    (False, True, "category_id"), (True, True, "category_id"),
    (True, False, "contiguous_from_1"), (False, False, "contiguous_from_0"),
])
def test_label_numbering_follows_the_converter(has_background: bool, full: bool, expected: str) -> None:
    def edit(model: dict) -> None:
        model["datasets"][0]["annotation_conversion"].update(has_background=has_background, use_full_label_map=full)

    config, _ = with_ac(edit)
    assert config["dataset"]["label_map"] == expected


def test_tf_object_detection_adapter_names_the_outputs() -> None:
    def edit(model: dict) -> None:
        model["launchers"][0]["adapter"] = {"type": "tf_object_detection", "classes_out": "detection_classes:0",
                                            "boxes_out": "detection_boxes:0", "scores_out": "detection_scores:0",
                                            "num_detections_out": "num_detections:0"}

    config, _ = with_ac(edit)
    assert config["decoder"] == {"type": "tf_od_api", "classes": "detection_classes:0", "boxes": "detection_boxes:0",
                                 "scores": "detection_scores:0", "num_detections": "num_detections:0"}


@pytest.mark.parametrize("adapter", ["yolo_v3", {"type": "ssd_onnx", "bboxes_out": "boxes"}, "human_pose_estimation"])
def test_adapter_without_a_decoder_is_refused(adapter) -> None:
    def edit(model: dict) -> None:
        model["launchers"][0]["adapter"] = adapter

    with pytest.raises(UserInputError) as error:
        with_ac(edit)
    name = adapter if isinstance(adapter, str) else adapter["type"]
    assert f"ac.yml: models[0].launchers[0].adapter: adapter '{name}' has no quantflow decoder" in str(error.value)


def test_openvino_launcher_is_chosen_and_its_input_layout_and_device_used() -> None:
    def edit(model: dict) -> None:
        model["launchers"] = [{"framework": "tf", "model": "frozen.pb", "adapter": "tf_object_detection"},
                              {"framework": "openvino", "device": "GPU", "adapter": "ssd",
                               "inputs": [{"name": "image_tensor", "type": "INPUT", "layout": "NHWC"}]}]

    config, notes = with_ac(edit)
    assert config["decoder"] == {"type": "detection_output"}
    assert config["preprocessing"][-2:] == [{"layout": "nhwc"}, {"dtype": "float32"}]
    assert config["evaluation"] == {"device": "GPU"}
    assert "POT ran the IR with OpenVINO" in only(notes, "launchers[0]")


def test_preprocessing_maps_in_order_and_folds_the_letterbox_padding() -> None:
    steps = [{"type": "resize", "dst_width": 640, "dst_height": 480, "aspect_ratio_scale": "fit_to_window",
              "interpolation": "CUBIC"},
             {"type": "padding", "dst_width": 640, "dst_height": 480, "pad_type": "right_bottom",
              "pad_value": "114,114,114"},
             {"type": "bgr_to_rgb"},
             {"type": "normalization", "mean": "123.675, 116.28, 103.53", "std": [58.395, 57.12, 57.375]},
             {"type": "crop", "size": 224},
             {"type": "resize", "size": 224, "aspect_ratio_scale": "greater", "interpolation": "MAX"}]

    def edit(model: dict) -> None:
        model["datasets"][0]["preprocessing"] = steps

    config, notes = with_ac(edit)
    assert config["preprocessing"] == [
        {"resize": {"size": [480, 640], "interpolation": "cubic", "keep_aspect": True, "pad_position": "top_left",
                    "pad_value": 114.0}},
        {"color": "rgb"},
        {"normalize": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}},
        {"center_crop": {"size": [224, 224]}},
        {"resize": {"shorter_side": 224}},
        {"layout": "nchw"}, {"dtype": "float32"}]
    PreprocessingConfig.model_validate({"steps": config["preprocessing"]})
    assert "handled" in only(notes, "preprocessing[1]")
    assert not [note for note in notes if "preprocessing[4]" in note or "aspect_ratio_scale" in note]
    assert "linear is used" in only(notes, "preprocessing[5].interpolation")


@pytest.mark.parametrize(("normalization", "expected"), [
    ({"mean": 127.5, "std": 127.5}, {"mean": 127.5, "std": 127.5}),
    ({"mean": "127.5"}, {"mean": 127.5}),
    ({"mean": "imagenet", "std": "imagenet"},
     {"mean": [104.00698793, 116.66876762, 122.67891434], "std": [104.00698793, 116.66876762, 122.67891434]}),
    ({"mean": [0.5], "std": "1,2,3"}, {"mean": 0.5, "std": [1.0, 2.0, 3.0]}),
])
def test_normalization_values_in_every_ac_form(normalization: dict, expected: dict) -> None:
    def edit(model: dict) -> None:
        model["datasets"][0]["preprocessing"].append({"type": "normalization", **normalization})

    config, _ = with_ac(edit)
    assert config["preprocessing"][1] == {"normalize": expected}


def test_fit_to_window_without_padding_is_listed() -> None:
    def edit(model: dict) -> None:
        model["datasets"][0]["preprocessing"] = [{"type": "resize", "size": 300, "aspect_ratio_scale": "fit_to_window"},
                                                 {"type": "bgr_to_rgb"}]

    config, notes = with_ac(edit)
    assert config["preprocessing"][:2] == [{"resize": {"size": [300, 300], "keep_aspect": True}}, {"color": "rgb"}]
    assert "AC did not pad" in only(notes, "preprocessing[0].aspect_ratio_scale")


def test_first_mappable_metric_is_used_and_the_others_listed() -> None:
    def edit(model: dict) -> None:
        model["datasets"][0]["metrics"] = [{"type": "map", "integral": "11point"},
                                           {"type": "coco_orig_precision", "threshold": ".5"},
                                           {"type": "coco_precision", "max_detections": 10}]

    config, notes = with_ac(edit)
    assert config["metric"] == {"type": "coco_ap"}
    assert "quantflow computes coco_ap" in only(notes, "metrics[0]")
    assert "AP@[.5:.95]" in only(notes, "metrics[1].threshold")
    assert "judges one metric" in only(notes, "metrics[2]")


def test_subsample_maps_to_max_images_unless_a_percentage() -> None:
    config, _ = with_ac(lambda model: model["datasets"][0].update(subsample_size=500, subsample_seed=7))
    assert config["evaluation"] == {"max_images": 500, "seed": 7}
    config, notes = with_ac(lambda model: model["datasets"][0].update(subsample_size="10%"))
    assert "evaluation" not in config
    assert "10%" in only(notes, "subsample_size")


def test_keypoints_converter_and_metric() -> None:
    dataset = {"name": "ms_coco_keypoints", "data_source": "val2017",
               "annotation_conversion": {"converter": "mscoco_keypoints",
                                         "annotation_file": "person_keypoints_val2017.json", "sort_key": "image_size"}}
    section, notes = dataset_section(dataset, Where("ac.yml", "models[0].datasets[0]"), "/data/coco")
    assert section == {"type": "coco_keypoints", "annotations": "/data/coco/person_keypoints_val2017.json",
                       "images": "/data/coco/val2017"}
    assert "top-down" in only(notes, "converter")
    assert "no effect" in only(notes, "sort_key")
    metric, _ = metric_section([{"name": "AP", "type": "coco_precision", "max_detections": 20}], "coco_keypoints",
                               Where("ac.yml", "models[0].datasets[0].metrics"))
    assert metric == {"type": "coco_keypoints_ap", "max_detections": 20}


def test_pot_settings_without_a_quantflow_equivalent_are_listed() -> None:
    def edit(pot: dict) -> None:
        pot["model"]["weights"] = "models/ssd_v2_fp32.bin"
        pot["compression"].update(target_device="VPU", inplace_statistics=True)
        params = pot["compression"]["algorithms"][0]["params"]
        del params["stat_subset_size"]
        params.update(preset="accuracy", use_layerwise_tuning=True, activations={"granularity": "perchannel"},
                      range_estimator={"preset": "quantile"}, use_fast_bias=False,
                      ignored={"scope": ["conv1"], "operations": [{"type": "Convolution", "attributes": {"group": 1}},
                                                                  {"type": "Multiply"}]})

    config, notes = with_ac(pot_edit=edit)
    assert config["quantization"]["openvino"] == {"algorithm": "default", "fast_bias_correction": False,
                                                  "preset": "mixed",
                                                  "ignored_scope": {"names": ["conv1"], "types": ["Multiply"]}}
    assert "calibration" not in config or "subset_size" not in config["calibration"]
    assert "ssd_mobilenet_v2_coco.bin" in only(notes, "model.weights")
    assert "VPU" in only(notes, "target_device")
    assert "mapped to mixed" in only(notes, "params.preset")
    assert "whole dataset" in only(notes, "params.stat_subset_size")
    assert "layer-wise" in only(notes, "params.use_layerwise_tuning")
    assert "perchannel" in only(notes, "params.activations")
    assert "quantile" in only(notes, "params.range_estimator")
    assert "attributes" in only(notes, "ignored.operations[0]")
    assert "no effect" in only(notes, "compression.inplace_statistics")


def test_simplified_engine_calibrates_on_its_folder() -> None:
    def edit(pot: dict) -> None:
        pot["engine"] = {"type": "simplified", "data_source": "calib/*.jpg"}

    config, notes = with_ac(pot_edit=edit)
    assert config["calibration"] == {"subset_size": 300, "images": "calib"}
    assert config["dataset"]["type"] == "coco_detection"
    assert "every image in calib" in only(notes, "engine.data_source")
    pot = load(DEFAULT)
    pot["engine"] = {"type": "simplified", "data_source": "calib"}
    ac = load(AC)
    del ac["models"][0]["datasets"][0]["annotation_conversion"]
    config, _ = import_pot(pot, ac, pot_root="../pot")
    assert config["dataset"] == {"type": "image_folder", "images": "../pot/calib"}
    assert config["calibration"]["images"] == "../pot/calib"
    with pytest.raises(UserInputError, match=r"pot.json: engine.type: simplified .* --ac"):
        import_pot(pot, None, pot_name="pot.json")


def test_annotation_free_search_evaluates_against_fp32_predictions() -> None:
    def edit(pot: dict) -> None:
        algorithm = pot["compression"]["algorithms"][0]
        algorithm["name"] = "AccuracyAwareQuantization"
        algorithm["params"].update(annotation_free=True, annotation_conf_threshold=0.4, maximal_drop=0.02)

    config, notes = with_ac(pot_edit=edit)
    assert config["dataset"] == {"type": "image_folder", "images": "MSCOCO/val2017", "pseudo_label_threshold": 0.4}
    assert config["metric"] == {"type": "coco_ap", "max_detections": 100}
    assert config["quantization"]["openvino"]["max_drop"] == 0.02
    assert "annotation_free" in only(notes, "annotation_conversion =")


def test_engine_without_an_ac_file_uses_its_inline_launchers_and_datasets() -> None:
    pot, ac = load(DEFAULT), load(AC)
    pot["engine"] = {"stat_requests_number": 8, **ac["models"][0]}
    config, notes = import_pot(pot, None, pot_name="pot.json")
    assert config["decoder"] == {"type": "detection_output"}
    assert "pot.json: engine.datasets[0].data_source" in " ".join(notes)
    assert "no effect" in only(notes, "engine.stat_requests_number")


def test_json_comments_and_trailing_commas_are_read_as_pot_did(tmp_path: Path) -> None:
    path = tmp_path / "pot.json"
    path.write_text('/* header */ {"model": {"model": "http://x//y.xml", // note\n "a": "/* kept */",}, }')
    assert read_config_file(path, "POT.json") == {"model": {"model": "http://x//y.xml", "a": "/* kept */"}}


VALID_POT = json.dumps({"model": {"model": "m.xml"}, "engine": {"config": "ac.yml"},
                        "compression": {"algorithms": [{"name": "DefaultQuantization"}]}})


@pytest.mark.parametrize(("pot", "ac", "fragments"), [
    ('{"model": {"model": "m.xml"},\n "compression": ', None, ("pot.json: line 2", "malformed JSON")),
    (json.dumps({"compression": {"algorithms": [{"name": "DefaultQuantization"}]}}), None,
     ("pot.json: model: required key is missing",)),
    (json.dumps({"model": {"model": "m.xml"}, "engine": {"config": "ac.yml"}}), "models: []\n",
     ("pot.json: compression: required key is missing",)),
    (VALID_POT, "datasets: []\n", ("ac.yml: models: required key is missing",)),
    (VALID_POT, "models: [unclosed\n", ("ac.yml: line 2", "malformed YAML")),
    (VALID_POT.replace("DefaultQuantization", "MinMaxQuantization"), "models: []\n",
     ("pot.json: compression.algorithms[0].name: unknown algorithm 'MinMaxQuantization'",)),
    (VALID_POT.replace("ac.yml", "missing.yml"), None, ("pot.json: engine.config: file not found", "missing.yml")),
])
def test_bad_input_is_one_line_naming_the_file_and_key(tmp_path: Path, pot: str, ac: str | None,
                                                       fragments: tuple[str, ...]) -> None:
    (tmp_path / "pot.json").write_text(pot)
    if ac is not None:
        (tmp_path / "ac.yml").write_text(ac)
    out = tmp_path / "out.yml"
    out.write_text("# an earlier import\n")
    with pytest.raises(UserInputError) as error:
        import_pot_files(tmp_path / "pot.json", out)
    message = str(error.value)
    assert "\n" not in message and error.value.exit_code == 2
    for fragment in fragments:
        assert fragment in message, message
    assert out.read_text() == "# an earlier import\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _cli_has_import_pot() -> bool:
    from quantflow.cli import _parser

    return any(isinstance(action, argparse._SubParsersAction) and "import-pot" in action.choices
               for action in _parser()._actions)


@pytest.mark.skipif(not _cli_has_import_pot(), reason="quantflow/cli.py has no import-pot subcommand yet")
def test_cli_import_pot_writes_the_config_and_reports_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "ssd.yml"
    result = run_cli("import-pot", str(DEFAULT), "--data-root", str(tmp_path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "0.249452" in result.stderr and out.is_file()
    assert_user_error(run_cli("import-pot", str(tmp_path / "nope.json"), "-o", str(out)), "file not found")


@pytest.mark.slow
def test_imported_ssd_config_passes_quantflow_check_on_the_sample(tmp_path: Path) -> None:
    """The imported SSD pair, with its data under --data-root, checks out on the shipped sample once the model
    is swapped. The overrides are needed because the AC file describes a different model than the sample: an IR
    whose DetectionOutput ([1, 1, N, 7], 91-class COCO ids) decodes inside the graph and that takes NCHW 300×300
    pixels, while the sample is a TF SavedModel taking NHWC 160×160 RGB scaled to [-1, 1] whose raw box encodings
    and class scores need `decoder: ssd_raw` with its anchors, and whose classes count 1..C in category order."""
    root = tmp_path / "data" / "MSCOCO"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").symlink_to(ROOT / "datasets" / "shapes" / "val")
    (root / "annotations" / "instances_val2017.json").symlink_to(ROOT / "datasets" / "shapes" / "val.json")
    out = tmp_path / "configs" / "ssd.yml"
    import_pot_files(DEFAULT, out, data_root=tmp_path / "data")

    sample = yaml.safe_load(SAMPLE.read_text())
    decoder = {**sample["decoder"], "anchors": str((SAMPLE.parent / sample["decoder"]["anchors"]).resolve())}
    overrides = ["--set", f"model.source={(SAMPLE.parent / sample['model']['source']).resolve()}",
                 "--set", f"decoder={json.dumps(decoder)}",
                 "--set", f"preprocessing={json.dumps(sample['preprocessing'])}",
                 "--set", f"dataset.label_map={sample['dataset']['label_map']}"]
    result = run_cli("check", "--config", str(out), *overrides)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok") and "200 images to evaluate" in result.stdout
    run = tmp_path / "run"
    result = run_cli("quantize", "--config", str(out), *overrides, "--set", f"output={run}",
                     "--set", "evaluation.speed.enabled=false")
    assert result.returncode == 0, result.stderr
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["FP32"]["metrics"]["AP"] > 0.5 and report["quantization"]["fake_quantize_nodes"] > 10
    imported = yaml.safe_load(out.read_text())
    assert imported["quantization"]["openvino"]["target_device"] == "ANY"
    assert imported["dataset"]["images"] == str((tmp_path / "data").resolve() / "MSCOCO" / "val2017")
