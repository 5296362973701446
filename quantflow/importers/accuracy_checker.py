"""Accuracy Checker (AC) model entries → quantflow's dataset, preprocessing, decoder, metric and evaluation.

POT evaluated and calibrated through AC: a model entry holds launchers (the OpenVINO one's `adapter` decodes
the outputs) and datasets (annotation converter, preprocessing, postprocessing, metrics). AC resolved
`data_source` and `annotation_file` against its command-line roots, so they are kept as written or put under
`data_root`, and listed to be checked.
"""

from __future__ import annotations

from typing import Any

from quantflow.core.errors import UserInputError
from quantflow.importers import Where, leftovers, required_list, under, unmapped

OPENVINO_FRAMEWORKS = ("dlsdk", "openvino")
CONVERTERS = {"mscoco_detection": "coco_detection", "mscoco_keypoints": "coco_keypoints", "imagenet": "image_labels",
              "voc_segmentation": "index_masks", "common_semantic_segmentation": "index_masks",
              "cityscapes": "index_masks", "salient_object_detection": "salient_masks"}
# dataset type → (quantflow metric, AC metrics it replaces)
METRICS = {
    "coco_detection": ("coco_ap", {"coco_precision", "coco_orig_precision"}),
    "image_folder": ("coco_ap", {"coco_precision", "coco_orig_precision"}),
    "coco_keypoints": ("coco_keypoints_ap",
                       {"coco_precision", "coco_keypoints_precision", "coco_orig_keypoints_precision"}),
    "image_labels": ("accuracy", {"accuracy", "accuracy_per_class"}),
    "index_masks": ("mean_iou", {"segmentation_accuracy", "mean_iou", "mean_accuracy",
                                 "frequency_weighted_accuracy"}),
    "salient_masks": ("saliency", {"mae", "f-measure", "s-measure", "e-measure"}),
}
MASK_POSTPROCESSING = {
    "resize_segmentation_mask": "handled: quantflow resizes predicted maps back to each image",
    "encode_segmentation_mask": "handled: quantflow reads masks as class indices (palette PNGs included)"}
# AC adapter → quantflow decoder, for the tasks whose adapters take no settings quantflow needs
PLAIN_ADAPTERS = {"classification": "class_scores", "segmentation": "class_map",
                  "salient_object_detection": "foreground_map"}
COCO_IOU_RANGE = {".5:.05:.95", ".50:.05:.95", "0.5:0.05:0.95"}
INTERPOLATIONS = {"nearest": "nearest", "linear": "linear", "bilinear": "linear", "cubic": "cubic",
                  "bicubic": "cubic", "area": "area", "lanczos": "lanczos", "lanczos4": "lanczos"}
# AC's named normalization values; AC uses the same numbers for `mean` and `std`.
NORMALIZATION_PRESETS = {"imagenet": [104.00698793, 116.66876762, 122.67891434],
                         "cifar10": [125.307, 122.961, 113.8575]}
PAD_POSITIONS = {"center": "center", "right_bottom": "top_left"}  # AC pads where; quantflow puts the image where

DATASET_KEYS = {"name", "data_source", "annotation_conversion", "preprocessing", "postprocessing", "metrics",
                "subsample_size", "subsample_seed", "reader", "segmentation_masks_source"}
DATASET_REASONS = {"annotation": "not needed: quantflow reads the annotation json itself",
                   "dataset_meta": "not needed: quantflow reads the categories from the annotation json"}
CONVERSION_REASONS = {
    "sort_annotations": "no effect: quantflow orders images by id",
    "sort_key": "no effect: quantflow orders images by id",
    "images_dir": "not needed: AC used it only to check that the images exist (dataset.images)",
    "dataset_meta_file": "not mapped: write the model's label → category id mapping as dataset.label_map",
    "convert_COCO_to_VOC_labels": "not mapped: write the model's label → category id mapping as dataset.label_map",
}
STEP_REASONS = {
    "auto_resize": "not mapped: add a resize step with the model's input size",
    "padding": "not mapped: quantflow pads only inside a keep_aspect resize or to a multiple (pad)",
    "crop": "not mapped: no size (size, or dst_height and dst_width)",
    "normalization": "not mapped: mean or std is not a number, a list or comma-separated numbers",
}
LAUNCHER_REASONS = {"model": "not used: POT quantized the model of its own model section",
                    "weights": "not used: POT quantized the model of its own model section"}
METRIC_REASONS = {"reference": "not mapped: AC's expected FP32 value; compare it with report.md",
                  "abs_threshold": "not mapped: quantflow does not check against a reference value",
                  "rel_threshold": "not mapped: quantflow does not check against a reference value",
                  "presenter": "no effect: the report shows every value",
                  "top_k": "handled: quantflow reports top-1 and top-5",
                  "use_argmax": "handled: class_map takes the argmax"}


def first_entry(parent: dict, key: str, where: Where) -> tuple[dict, Where, list[str]]:
    """`parent[key][0]`: POT used the first model and dataset of an AC config; the others are listed."""
    items = required_list(parent, key, where)
    notes = [unmapped(where / key / index, item.get("name"), "not imported: POT used the first one")
             for index, item in enumerate(items[1:], start=1)]
    return items[0], where / key / 0, notes


def import_model(model: dict, where: Where, data_root: str | None, *, pseudo_label_threshold: float | None = None,
                 fallback_images: str | None = None) -> tuple[dict, list[str]]:
    """The quantflow sections an AC model entry describes, and what did not map.

    `pseudo_label_threshold` (POT's annotation-free mode) evaluates on the AC images against FP32 predictions;
    `fallback_images` (POT's simplified engine) is the annotation-free dataset when AC names no annotations.
    """
    launcher, launcher_at, notes = _pick_launcher(model, where)
    decoder, more = decoder_section(launcher, launcher_at)
    notes += more
    dataset, dataset_at, more = first_entry(model, "datasets", where)
    notes += more
    section, more = _evaluation_dataset(dataset, dataset_at, data_root, pseudo_label_threshold, fallback_images)
    notes += more
    if section.pop("_background_offset", None) and decoder["type"] == "class_scores":
        decoder["background_offset"] = 1
    layout, evaluation, more = _launcher_settings(launcher, launcher_at)
    notes += more
    steps, more = preprocessing_steps(_list(dataset, "preprocessing", dataset_at), dataset_at / "preprocessing",
                                      layout)
    notes += more
    notes += postprocessing_notes(_list(dataset, "postprocessing", dataset_at), dataset_at / "postprocessing")
    metric, more = metric_section(_list(dataset, "metrics", dataset_at), section["type"], dataset_at / "metrics")
    notes += more
    more_evaluation, more = _subsample(dataset, dataset_at)
    notes += more + _reader_notes(dataset, dataset_at)
    notes += leftovers(dataset, DATASET_KEYS, dataset_at, DATASET_REASONS)
    notes += leftovers(model, {"name", "launchers", "datasets"}, where)
    sections = {"dataset": section, "preprocessing": steps, "decoder": decoder, "metric": metric}
    if evaluation or more_evaluation:
        sections["evaluation"] = {**evaluation, **more_evaluation}
    return sections, notes


def _evaluation_dataset(dataset: dict, where: Where, data_root: str | None, pseudo_label_threshold: float | None,
                        fallback_images: str | None) -> tuple[dict, list[str]]:
    """The annotated AC dataset, or an annotation-free image folder judged against FP32 predictions."""
    if pseudo_label_threshold is not None:
        section = {"type": "image_folder", "images": _images(dataset, where, data_root),
                   "pseudo_label_threshold": pseudo_label_threshold}
        notes = [unmapped(where / "data_source", dataset.get("data_source"), _path_reason(data_root))]
        if "annotation_conversion" in dataset:
            notes.append(unmapped(where / "annotation_conversion", dataset["annotation_conversion"],
                                  "not used: annotation_free evaluates against the FP32 model's predictions"))
        return section, notes
    if "annotation_conversion" in dataset or fallback_images is None:
        return dataset_section(dataset, where, data_root)
    return {"type": "image_folder", "images": fallback_images}, [unmapped(
        where, dataset.get("name"), "no annotation_conversion: evaluated annotation-free on the simplified engine's "
        "images against the FP32 model's predictions")]


def _list(parent: dict, key: str, where: Where) -> list:
    value = parent.get(key) or []
    if not isinstance(value, list):
        raise UserInputError(f"{where / key}: expected a list")
    return value


def _pick_launcher(model: dict, where: Where) -> tuple[dict, Where, list[str]]:
    """POT ran the IR with OpenVINO: the first dlsdk/openvino launcher counts, the others are listed."""
    launchers = required_list(model, "launchers", where)
    index = next((i for i, item in enumerate(launchers) if item.get("framework") in OPENVINO_FRAMEWORKS), 0)
    notes = [unmapped(where / "launchers" / i, item.get("framework"), "not imported: POT ran the IR with OpenVINO")
             for i, item in enumerate(launchers) if i != index]
    launcher, at = launchers[index], where / "launchers" / index
    if launcher.get("framework") not in OPENVINO_FRAMEWORKS:
        notes.append(unmapped(at / "framework", launcher.get("framework"),
                              "POT ran the IR with OpenVINO whatever the launcher said; its adapter is used"))
    return launcher, at, notes


def decoder_section(launcher: dict, where: Where) -> tuple[dict, list[str]]:
    """The adapter that turned raw outputs into detections → the quantflow decoder that does the same.

    quantflow cannot evaluate without a decoder, so an adapter it has none for is refused, not listed.
    """
    adapter = launcher.get("adapter")
    params = adapter if isinstance(adapter, dict) else {"type": adapter}
    at = where / "adapter"
    kind = params.get("type")
    if kind == "ssd":
        return {"type": "detection_output"}, leftovers(params, {"type"}, at)
    if kind == "tf_object_detection":
        names = {"boxes_out": "boxes", "classes_out": "classes", "scores_out": "scores",
                 "num_detections_out": "num_detections"}
        section = {"type": "tf_od_api", **{names[key]: value for key, value in params.items() if key in names}}
        return section, leftovers(params, {"type", *names}, at)
    if kind in PLAIN_ADAPTERS:
        section = {"type": PLAIN_ADAPTERS[kind]}
        if isinstance(params.get("salient_map_output"), str):
            section["output"] = params["salient_map_output"]
        reasons = {"make_argmax": "handled: class_map takes the argmax", "label_as_array": "no effect"}
        return section, leftovers(params, {"type", "salient_map_output"}, at, reasons)
    if kind is None:
        raise UserInputError(f"{at}: required key is missing")
    raise UserInputError(f"{at}: adapter {kind!r} has no quantflow decoder (ssd → detection_output, "
                         "tf_object_detection → tf_od_api, classification → class_scores, segmentation → class_map, "
                         "salient_object_detection → foreground_map); write the decoder section by hand "
                         "(README: Config reference)")


def _launcher_settings(launcher: dict, where: Where) -> tuple[str, dict, list[str]]:
    """The input layout AC fed (NCHW unless an input says otherwise) and the evaluation device."""
    layout, notes = "nchw", []
    for index, entry in enumerate(_list(launcher, "inputs", where)):
        at = where / "inputs" / index
        if not isinstance(entry, dict) or entry.get("type", "INPUT") != "INPUT":
            notes.append(unmapped(at, entry, "not mapped: quantflow feeds one image input"))
            continue
        if str(entry.get("layout", "")).lower() in ("nchw", "nhwc"):
            layout = entry["layout"].lower()
        elif "layout" in entry:
            notes.append(unmapped(at / "layout", entry["layout"], "not mapped: quantflow feeds NCHW or NHWC"))
        notes += leftovers(entry, {"name", "type", "layout"}, at)
    evaluation = {"device": launcher["device"]} if isinstance(launcher.get("device"), str) else {}
    notes += leftovers(launcher, {"framework", "adapter", "inputs", "device"}, where, LAUNCHER_REASONS)
    return layout, evaluation, notes


def _images(dataset: dict, where: Where, data_root: str | None) -> str:
    source = dataset.get("data_source")
    if not isinstance(source, str) or not source:
        raise UserInputError(f"{where / 'data_source'}: required key is missing (the images folder)")
    return under(data_root, source)


def _path_reason(data_root: str | None) -> str:
    """AC read data paths against its own roots; say where they now point, to be checked."""
    if data_root is None:
        return ("kept as written: AC resolved it against its --source root, quantflow against the written file's "
                "folder; check it, or import again with --data-root")
    return "put under --data-root; check that it exists"


def dataset_section(dataset: dict, where: Where, data_root: str | None) -> tuple[dict, list[str]]:
    """An AC COCO annotation converter → a quantflow COCO dataset with the same model-label numbering."""
    conversion = dataset.get("annotation_conversion")
    at = where / "annotation_conversion"
    if not isinstance(conversion, dict):
        raise UserInputError(f"{at}: required key is missing (a dataset named only by `name` is defined in AC's "
                             "dataset_definitions.yml: copy its entry into the config)")
    converter = conversion.get("converter")
    if converter not in CONVERTERS:
        raise UserInputError(f"{at / 'converter'}: {converter!r} is not supported; quantflow reads COCO json "
                             f"({', '.join(CONVERTERS)})")
    kind = CONVERTERS[converter]
    if kind in MASK_DATASETS:
        return MASK_DATASETS[kind](conversion, dataset, where, data_root)
    annotation_file = conversion.get("annotation_file")
    if not isinstance(annotation_file, str) or not annotation_file:
        raise UserInputError(f"{at / 'annotation_file'}: required key is missing")
    if kind == "image_labels":
        return _imagenet(conversion, annotation_file, dataset, where, data_root)
    section = {"type": kind, "annotations": under(data_root, annotation_file),
               "images": _images(dataset, where, data_root)}
    notes = [unmapped(where / "data_source", dataset["data_source"], _path_reason(data_root)),
             unmapped(at / "annotation_file", annotation_file, _path_reason(data_root))]
    handled = {"converter", "annotation_file"}
    if kind == "coco_detection":
        section["label_map"] = label_map(conversion)
        handled |= {"has_background", "use_full_label_map"}
    else:
        notes.append(unmapped(at / "converter", converter, "quantflow evaluates pose top-down on ground-truth person "
                              "boxes (dataset.detections: a detector's boxes instead)"))
    return section, notes + leftovers(conversion, handled, at, CONVERSION_REASONS)


def _imagenet(conversion: dict, annotation_file: str, dataset: dict, where: Where,
              data_root: str | None) -> tuple[dict, list[str]]:
    """AC's `imagenet` converter: `file label` lines and a synset-words labels file; `has_background` means
    the model's score 0 is a background class (decoder.background_offset: 1)."""
    at = where / "annotation_conversion"
    section = {"type": "image_labels", "images": _images(dataset, where, data_root),
               "labels": under(data_root, annotation_file)}
    notes = [unmapped(where / "data_source", dataset["data_source"], _path_reason(data_root)),
             unmapped(at / "annotation_file", annotation_file, _path_reason(data_root))]
    if isinstance(conversion.get("labels_file"), str):
        section["classes"] = under(data_root, conversion["labels_file"])
        notes.append(unmapped(at / "labels_file", conversion["labels_file"], _path_reason(data_root)))
    if conversion.get("has_background"):
        section["_background_offset"] = 1
    return section, notes + leftovers(conversion, {"converter", "annotation_file", "labels_file", "has_background"},
                                      at, CONVERSION_REASONS)


def _path_value(conversion: dict, key: str, at: Where, data_root: str | None, notes: list[str]) -> str:
    value = conversion.get(key)
    if not isinstance(value, str) or not value:
        raise UserInputError(f"{at / key}: required key is missing")
    notes.append(unmapped(at / key, value, _path_reason(data_root)))
    return under(data_root, value)


def _segmentation(conversion: dict, dataset: dict, where: Where, data_root: str | None) -> tuple[dict, list[str]]:
    """AC's VOC, Cityscapes and common semantic-segmentation converters → index masks."""
    at, notes = where / "annotation_conversion", []
    converter = conversion["converter"]
    if converter == "cityscapes":
        root = _path_value(conversion, "dataset_root_dir", at, data_root, notes)
        images = f"{root}/{conversion.get('images_subfolder', 'imgsFine/leftImg8bit/val')}"
        masks = f"{root}/{conversion.get('masks_subfolder', 'gtFine/val')}"
        section = {"type": "index_masks", "images": images, "masks": masks,
                   "mask_suffix": f"{conversion.get('masks_suffix', '_gtFine_labelTrainIds')}.png",
                   "image_suffix": conversion.get("images_suffix", "_leftImg8bit")}
        handled = {"dataset_root_dir", "images_subfolder", "masks_subfolder", "masks_suffix", "images_suffix"}
    elif converter == "voc_segmentation":  # since OpenVINO 2020.4: images in data_source, masks beside it
        images = _images(dataset, where, data_root) if "data_source" in dataset else \
            _path_value(conversion, "images_dir", at, data_root, notes)
        masks = under(data_root, dataset["segmentation_masks_source"]) if \
            isinstance(dataset.get("segmentation_masks_source"), str) else \
            _path_value(conversion, "mask_dir", at, data_root, notes)
        section = {"type": "index_masks", "images": images, "masks": masks,
                   "split": _path_value(conversion, "imageset_file", at, data_root, notes)}
        handled = {"images_dir", "mask_dir", "imageset_file"}
    else:
        section = {"type": "index_masks", "images": _path_value(conversion, "images_dir", at, data_root, notes),
                   "masks": _path_value(conversion, "masks_dir", at, data_root, notes)}
        if conversion.get("mask_postfix"):
            section["mask_suffix"] = conversion["mask_postfix"]
        handled = {"images_dir", "masks_dir", "mask_postfix"}
    for key in ("data_source", "segmentation_masks_source"):
        if key in dataset:
            notes.append(unmapped(where / key, dataset[key], _path_reason(data_root)))
    reasons = {**CONVERSION_REASONS, "dataset_meta_file": "not mapped: write the class names one per line and set "
               "dataset.classes (the ignore index is 255)"}
    return section, notes + leftovers(conversion, {"converter", *handled}, at, reasons)


def _salient(conversion: dict, dataset: dict, where: Where, data_root: str | None) -> tuple[dict, list[str]]:
    """AC's salient-object converter: an image folder and a folder of grey masks named as the images."""
    at, notes = where / "annotation_conversion", []
    images = conversion.get("images_dir")
    section = {"type": "salient_masks",
               "images": _path_value(conversion, "images_dir", at, data_root, notes) if images else
               _images(dataset, where, data_root),
               "masks": _path_value(conversion, "masks_dir", at, data_root, notes)}
    return section, notes + leftovers(conversion, {"converter", "images_dir", "masks_dir"}, at, CONVERSION_REASONS)


MASK_DATASETS = {"index_masks": _segmentation, "salient_masks": _salient}


def label_map(conversion: dict) -> str:
    """AC's mscoco_detection numbering: category ids with `use_full_label_map`, else contiguous from 1 when a
    background class comes first, from 0 otherwise."""
    if conversion.get("use_full_label_map"):
        return "category_id"
    return "contiguous_from_1" if conversion.get("has_background") else "contiguous_from_0"


def preprocessing_steps(steps: list, where: Where, layout: str) -> tuple[list[dict], list[str]]:
    """AC preprocessing → quantflow steps in the same order, then the layout and float32 input AC fed."""
    out: list[dict] = []
    notes: list[str] = []
    color = "bgr"  # AC's default reader is OpenCV, as quantflow's
    letterbox: tuple[dict, Where] | None = None  # a fit_to_window resize whose padding may follow
    for index, step in enumerate(steps):
        at = where / index
        kind = step.get("type") if isinstance(step, dict) else None
        if letterbox is not None:
            resize, resize_at = letterbox
            letterbox = None
            if kind == "padding" and _fold_padding(resize, step):
                notes.append(unmapped(at, step, "handled: the padding of the keep_aspect resize before it"))
                continue
            if kind != "padding":
                notes.append(_unpadded(resize_at))
        if kind == "resize":
            resize, more = _resize(step, at)
            notes += more
            if resize is not None:
                out.append({"resize": resize})
                letterbox = (resize, at) if resize.get("keep_aspect") else None
        elif kind == "crop" and (size := _size(step)) is not None and not step.get("use_pillow"):
            out.append({"center_crop": {"size": size}})
            notes += leftovers(step, {"type", "size", "dst_height", "dst_width"}, at)
        elif kind in ("bgr_to_rgb", "rgb_to_bgr"):  # both reverse the channels
            color = "rgb" if color == "bgr" else "bgr"
            out.append({"color": color})
            notes += leftovers(step, {"type"}, at)
        elif kind in ("bgr_to_gray", "rgb_to_gray"):
            out.append({"color": "gray"})
            notes += leftovers(step, {"type"}, at)
        elif kind == "normalization" and (normalize := _normalization(step)) is not None:
            out.append({"normalize": normalize})
            notes += leftovers(step, {"type", "mean", "std"}, at,
                               {"images_only": "no effect: quantflow models take one image input"})
        else:
            notes.append(unmapped(at, step, STEP_REASONS.get(kind, "not mapped: no quantflow preprocessing step")))
    if letterbox is not None:
        notes.append(_unpadded(letterbox[1]))
    return out + [{"layout": layout}, {"dtype": "float32"}], notes


def _unpadded(resize_at: Where) -> str:
    return unmapped(resize_at / "aspect_ratio_scale", "fit_to_window",
                    "AC did not pad after it; quantflow's keep_aspect pads to the full size (centred)")


def _size(step: dict) -> list[int] | None:
    """[height, width] from `size` or `dst_height` and `dst_width`."""
    height, width = (step["size"], step["size"]) if "size" in step else (step.get("dst_height"), step.get("dst_width"))
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        return [height, width]
    return None


def _resize(step: dict, where: Where) -> tuple[dict | None, list[str]]:
    size = _size(step)
    if size is None:
        return None, [unmapped(where, step, "not mapped: no size (size, or dst_height and dst_width)")]
    resize: dict[str, Any] = {"size": size}
    notes = []
    if "interpolation" in step:
        name = INTERPOLATIONS.get(str(step["interpolation"]).lower())
        if name:
            resize["interpolation"] = name
        else:
            notes.append(unmapped(where / "interpolation", step["interpolation"],
                                  "not mapped: quantflow has nearest, linear, cubic, area, lanczos; linear is used"))
    scale = step.get("aspect_ratio_scale")
    if scale == "fit_to_window":
        resize["keep_aspect"] = True
    elif scale == "greater" and size[0] == size[1]:  # AC: the smaller side gets the size, the other follows
        resize = {"shorter_side": size[0], **{k: v for k, v in resize.items() if k != "size"}}
    elif scale is not None:
        notes.append(unmapped(where / "aspect_ratio_scale", scale,
                              "not mapped: quantflow stretches to the size, or letterboxes with keep_aspect"))
    backend = step.get("resize_realization") or ("pillow" if step.get("use_pillow") else
                                                 "tf" if step.get("use_tensorflow") else "opencv")
    if backend != "opencv":
        notes.append(unmapped(where, backend, "not mapped: quantflow resizes with OpenCV"))
    handled = {"type", "size", "dst_height", "dst_width", "interpolation", "aspect_ratio_scale",
               "resize_realization", "use_pillow", "use_tensorflow"}
    return resize, notes + leftovers(step, handled, where)


def _fold_padding(resize: dict, step: dict) -> bool:
    """A padding to the same size right after a fit_to_window resize is quantflow's keep_aspect letterbox."""
    if set(step) - {"type", "size", "dst_height", "dst_width", "pad_type", "pad_value"}:
        return False
    if _size(step) != resize["size"]:
        return False
    position = PAD_POSITIONS.get(step.get("pad_type", "center"))
    value = _channel_values(step.get("pad_value", 0))
    if position is None or value is None or (isinstance(value, list) and len(set(value)) != 1):
        return False
    resize.update(pad_position=position, pad_value=value[0] if isinstance(value, list) else value)
    return True


def _channel_values(value: Any) -> float | list[float] | None:
    """A number, a list, or AC's comma-separated string → a scalar or per-channel list; None if neither."""
    if isinstance(value, str):
        value = NORMALIZATION_PRESETS.get(value.lower(), value.split(","))
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, list) or not value:
        return None
    try:
        numbers = [float(v) for v in value if not isinstance(v, bool)]
    except (TypeError, ValueError):
        return None
    if len(numbers) != len(value):
        return None
    return numbers[0] if len(numbers) == 1 else numbers


def _normalization(step: dict) -> dict | None:
    """AC `normalization` → quantflow `normalize`; None (listed as is) when a value cannot be read."""
    values = {key: _channel_values(step[key]) for key in ("mean", "std") if key in step}
    if not values or None in values.values():
        return None
    return values


def postprocessing_notes(steps: list, where: Where) -> list[str]:
    """quantflow maps boxes back to the original image itself; any other AC postprocessing is listed."""
    notes = []
    for index, step in enumerate(steps):
        at = where / index
        if isinstance(step, dict) and step.get("type") in MASK_POSTPROCESSING:
            notes.append(unmapped(at, step["type"], MASK_POSTPROCESSING[step["type"]]))
            notes += leftovers(step, {"type", "apply_to"}, at)
        elif isinstance(step, dict) and step.get("type") == "resize_prediction_boxes":
            notes.append(unmapped(at, step["type"], "handled: quantflow maps boxes back to the original image"))
            notes += leftovers(step, {"type"}, at)
        else:
            notes.append(unmapped(at, step, "not mapped: no quantflow postprocessing does this"))
    return notes


def metric_section(metrics: list, dataset_type: str, where: Where) -> tuple[dict, list[str]]:
    """The first AC metric quantflow computes → its metric section; the others are listed."""
    name, accepted = METRICS[dataset_type]
    chosen: dict | None = None
    notes = []
    for index, metric in enumerate(metrics):
        at = where / index
        kind = metric.get("type") if isinstance(metric, dict) else None
        if chosen is not None or kind not in accepted:
            reason = "not imported: quantflow judges one metric" if kind in accepted else \
                f"not mapped: quantflow computes {name} for this dataset"
            notes.append(unmapped(at, metric, reason))
            continue
        chosen = {"type": name}
        if "max_detections" in metric:
            chosen["max_detections"] = metric["max_detections"]
        threshold = metric.get("threshold")
        if threshold is not None and str(threshold).replace(" ", "") not in COCO_IOU_RANGE:
            notes.append(unmapped(at / "threshold", threshold, "not mapped: quantflow's main value is AP@[.5:.95]; "
                                  "AP50 and AP75 are in the report too"))
        notes += leftovers(metric, {"type", "name", "max_detections", "threshold"}, at, METRIC_REASONS)
    if chosen is None:
        chosen = {"type": name}
        notes.append(unmapped(where, [m.get("type") if isinstance(m, dict) else m for m in metrics],
                              f"no metric quantflow computes; {name}, this dataset's COCO metric, is used"))
    return chosen, notes


def _subsample(dataset: dict, where: Where) -> tuple[dict, list[str]]:
    """AC's evaluation subset → evaluation.max_images and seed (quantflow draws its own images)."""
    evaluation, notes = {}, []
    size = dataset.get("subsample_size")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        evaluation["max_images"] = size
    elif size is not None:
        notes.append(unmapped(where / "subsample_size", size, "not mapped: evaluation.max_images takes a number"))
    seed = dataset.get("subsample_seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        evaluation["seed"] = seed
    elif seed is not None:
        notes.append(unmapped(where / "subsample_seed", seed, "not mapped: evaluation.seed takes an integer"))
    return evaluation, notes


def _reader_notes(dataset: dict, where: Where) -> list[str]:
    reader = dataset.get("reader")
    kind = reader.get("type") if isinstance(reader, dict) else reader
    if kind in (None, "opencv_imread"):
        return []
    return [unmapped(where / "reader", reader, "not mapped: quantflow reads images with OpenCV (BGR)")]
