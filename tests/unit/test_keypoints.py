"""Top-down pose pieces on small arrays: crops and their geometry, bad keypoint annotations, heatmap decoding,
and processing embedded in the graph against the same processing done outside."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from quantflow.backends.openvino.embed import embedded
from quantflow.core.decoder import OutputInfo
from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Pipeline
from quantflow.preprocessing.steps import Color, Layout, Normalize, Resize
from quantflow.tasks.keypoints.coco_keypoints import CocoKeypoints, crop_region
from quantflow.tasks.keypoints.heatmap_argmax import heatmap_argmax
from quantflow.tasks.keypoints.heatmaps import Heatmaps, KeypointCoordinates, Keypoints, heatmap_peaks

NAMES = [f"k{i}" for i in range(17)]


def keypoints_file(folder: Path, annotations: list[dict], categories: list[dict] | None = None) -> Path:
    image = np.full((120, 160, 3), 40, np.uint8)
    image[48:53, 68:73] = (0, 0, 255)  # a red block around keypoint 0 of annotation 1, (70, 50)
    cv2.imwrite(str(folder / "a.png"), image)
    cv2.imwrite(str(folder / "b.png"), image)
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 160, "height": 120},
                       {"id": 2, "file_name": "b.png", "width": 160, "height": 120}],
            "annotations": annotations,
            "categories": categories or [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": []}]}
    path = folder / "person_keypoints.json"
    path.write_text(json.dumps(data))
    return path


def annotation(ann_id: int, image_id: int = 1, **changes) -> dict:
    keypoints = [70, 50, 2] + [60, 60, 1] * 16
    entry = {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [55, 30, 30, 60], "area": 1200,
             "iscrowd": 0, "num_keypoints": 17, "keypoints": keypoints}
    entry.update(changes)
    return entry


def open_dataset(folder: Path, annotations: list[dict], **settings) -> CocoKeypoints:
    path = keypoints_file(folder, annotations, settings.pop("categories", None))
    return CocoKeypoints(CocoKeypoints.Config(type="coco_keypoints", annotations=path, images=folder, **settings))


def test_crop_region_by_hand() -> None:
    # w 30 < 0.75 * 80 → w = 60; then × 1.25 → 75 × 100 around the centre (25, 60)
    assert crop_region((10, 20, 30, 80), 0.75, 1.25) == pytest.approx((-12.5, 10, 75, 100))
    # wide box: h = 90 / 0.75 = 120 → 150 × 112.5... before padding 90 × 120, after 112.5 × 150
    assert crop_region((0, 0, 90, 20), 0.75, 1.25) == pytest.approx((45 - 56.25, 10 - 75, 112.5, 150))


def test_crop_pixels_and_geometry_agree(tmp_path: Path) -> None:
    dataset = open_dataset(tmp_path, [annotation(1)])
    crop, geometry = dataset.load_sample(1)
    left, top, width, height = crop_region((55, 30, 30, 60), 0.75, 1.25)
    assert crop.shape[:2] == (round(height), round(width))
    red = np.argwhere(crop[:, :, 2] > 150)
    assert tuple(crop[round(50 - top), round(70 - left)]) == (0, 0, 255)
    assert np.abs(red.mean(axis=0) - [50 - top, 70 - left]).max() < 0.6  # sub-pixel shift blends the edges
    normalized = np.array([[(70 - left) / crop.shape[1], (50 - top) / crop.shape[0]]])
    np.testing.assert_allclose(geometry.points_to_original(normalized), [[70, 50]])


def test_crop_straight_to_the_model_input_follows_hrnet(tmp_path: Path) -> None:
    """crop_size warps in one step with HRNet's affine: x_in = (x − cx)·W/w + W/2, and maps back with its inverse."""
    dataset = open_dataset(tmp_path, [annotation(1)], crop_size=(128, 96))
    crop, geometry = dataset.load_sample(1)
    assert crop.shape == (128, 96, 3)
    left, top, width, height = crop_region((55, 30, 30, 60), 0.75, 1.25)
    cx, cy = left + width / 2, top + height / 2
    x_in, y_in = (70 - cx) * 96 / width + 48, (50 - cy) * 128 / height + 64
    assert tuple(crop[round(y_in), round(x_in)]) == (0, 0, 255)  # inside the (scaled-up) red block
    np.testing.assert_allclose(geometry.points_to_original(np.array([[x_in / 96, y_in / 128]])), [[70, 50]])


def test_pipeline_maps_keypoints_back_through_crop_and_resize(tmp_path: Path) -> None:
    dataset = open_dataset(tmp_path, [annotation(1)])
    pipeline = Pipeline([Resize.Config(type="resize", size=(128, 96))])
    tensor, geometry = pipeline(*dataset.load_sample(1))
    assert tensor.shape == (1, 128, 96, 3)
    y, x = np.argwhere(tensor[0, :, :, 2] > 150).mean(axis=0)  # the red block's centre after the upscale
    back = geometry.points_to_original(np.array([[(x + 0.5) / 96, (y + 0.5) / 128]]))[0]
    np.testing.assert_allclose(back, [70.5, 50.5], atol=0.6)  # pixel (70, 50) covers 70..71 × 50..51


def test_samples_skip_crowd_and_unlabelled(tmp_path: Path) -> None:
    unlabelled = [0.0] * 51
    dataset = open_dataset(tmp_path, [annotation(1), annotation(2, iscrowd=1),
                                      annotation(3, num_keypoints=0, keypoints=unlabelled), annotation(5, image_id=2)])
    assert dataset.ids() == [1, 5]
    assert dataset.ground_truth().image_of == {1: 1, 5: 2}
    assert dataset.file_of(5).name == "b.png"


def test_detections_give_the_crops(tmp_path: Path) -> None:
    detections = tmp_path / "detections.json"
    detections.write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "bbox": [50, 25, 40, 70], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 40], "score": 0.05},
        {"image_id": 2, "category_id": 3, "bbox": [10, 10, 20, 40], "score": 0.95},
    ]))
    dataset = open_dataset(tmp_path, [annotation(1)], detections=detections, detection_threshold=0.1)
    assert dataset.ids() == [1]
    assert dataset.samples[1].score == 0.9
    points = Keypoints(np.full((1, 17, 2), 0.5), np.array([[0.9] * 8 + [0.1] * 9]))
    row = dataset.rows(1, points, dataset.load_sample(1)[1])[0]
    assert row[:3].tolist() == [1, 1, 1]
    assert row[3] == pytest.approx(0.9 * 0.9)  # box score × mean of the keypoint scores above 0.2


def test_detections_for_unknown_images_are_refused(tmp_path: Path) -> None:
    detections = tmp_path / "detections.json"
    detections.write_text(json.dumps([{"image_id": 9, "bbox": [1, 1, 5, 5], "score": 0.9}]))
    with pytest.raises(UserInputError, match=r"dataset.detections: \[0\] image_id 9 is not in the annotations"):
        open_dataset(tmp_path, [annotation(1)], detections=detections)


@pytest.mark.parametrize(("changes", "message"), [
    ({"keypoints": [1, 2, 2] * 16}, r"annotations\[0\] \(id 1\): keypoints has 48 values, expected 51"),
    ({"keypoints": None}, r"annotations\[0\] \(id 1\): keypoints has no values, expected 51"),
    ({"keypoints": [1, 2, 3] * 17}, r"visibility flags must be 0, 1 or 2, got \[3\]"),
    ({"bbox": [1, 2, 3]}, r"annotations\[0\] \(id 1\): bbox must be four finite numbers \[x, y, width, height\]"),
])
def test_bad_keypoint_annotations_are_named(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        open_dataset(tmp_path, [annotation(1, **changes)])


def test_missing_fields_are_named(tmp_path: Path) -> None:
    for field, message in (("bbox", r"annotations\[0\] \(id 1\): lacks bbox"),
                           ("num_keypoints", "num_keypoints must count the labelled keypoints")):
        broken = annotation(1)
        del broken[field]
        with pytest.raises(UserInputError, match=message):
            open_dataset(tmp_path, [broken])


def test_a_detection_file_is_not_a_keypoint_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="expected one category with a 'keypoints' list"):
        open_dataset(tmp_path, [annotation(1)], categories=[{"id": 1, "name": "person"}])


def test_quarter_shift_toward_the_higher_neighbour() -> None:
    heatmaps = np.zeros((2, 16, 12), np.float32)
    heatmaps[0, 7, 5], heatmaps[0, 7, 6], heatmaps[0, 6, 5] = 1.0, 0.5, 0.3  # right and up are higher
    heatmaps[1, 0, 11] = 0.8  # a corner peak has no neighbours to compare: no shift
    coords, peaks = heatmap_peaks(heatmaps, "quarter")
    np.testing.assert_allclose(coords, [[5.25, 6.75], [11, 0]])
    np.testing.assert_allclose(peaks, [1.0, 0.8])
    np.testing.assert_allclose(heatmap_peaks(heatmaps, "none")[0], [[5, 7], [11, 0]])


def test_dark_recovers_a_subpixel_gaussian_centre() -> None:
    ys, xs = np.mgrid[0:32, 0:24]
    heatmap = np.exp(-((xs - 10.3) ** 2 + (ys - 12.6) ** 2) / (2 * 2.0 ** 2))[None]
    dark = heatmap_peaks(heatmap, "dark")[0][0]
    quarter = heatmap_peaks(heatmap, "quarter")[0][0]
    assert np.abs(dark - [10.3, 12.6]).max() < 0.05
    assert np.abs(dark - [10.3, 12.6]).max() < np.abs(quarter - [10.3, 12.6]).max()


def heatmap_decoder(layout: str = "nchw", refine: str = "quarter") -> Heatmaps:
    decoder = Heatmaps(Heatmaps.Config(type="heatmaps", layout=layout, refine=refine))
    shape = (1, 17, 32, 24) if layout == "nchw" else (1, 32, 24, 17)
    decoder.bind([OutputInfo(0, frozenset({"heatmaps"}), shape)])
    return decoder


def test_heatmap_decoder_normalizes_to_the_model_input_in_both_layouts() -> None:
    heatmaps = np.random.default_rng(0).random((1, 17, 32, 24), dtype=np.float32)
    nchw = heatmap_decoder("nchw").decode([heatmaps])
    nhwc = heatmap_decoder("nhwc").decode([heatmaps.transpose(0, 2, 3, 1)])
    np.testing.assert_array_equal(nchw.points, nhwc.points)
    coords, _ = heatmap_peaks(heatmaps[0], "quarter")
    np.testing.assert_allclose(nchw.points[0], coords / [24, 32])


def test_coordinate_decoder_reads_movenet_style_yx() -> None:
    decoder = KeypointCoordinates(KeypointCoordinates.Config(type="keypoint_coordinates", order="yx"))
    decoder.bind([OutputInfo(0, frozenset({"output_0"}), (1, 1, 17, 3))])
    values = np.random.default_rng(1).random((1, 1, 17, 3))
    result = decoder.decode([values])
    np.testing.assert_allclose(result.points[0], values[0, 0, :, 1::-1])
    np.testing.assert_allclose(result.confidences[0], values[0, 0, :, 2])


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_embedded_argmax_equals_the_numpy_decoder(layout: str) -> None:
    import openvino as ov
    import openvino.opset13 as ops

    shape = [1, 17, 32, 24] if layout == "nchw" else [1, 32, 24, 17]
    parameter = ops.parameter(shape, np.float32)
    compiled = ov.Core().compile_model(ov.Model([ops.result(heatmap_argmax(parameter.output(0), layout))],
                                                [parameter]), "CPU")
    heatmaps = np.random.default_rng(2).random(shape, dtype=np.float32)
    got = compiled(heatmaps)[0][0]
    expected = heatmap_decoder(layout).decode([heatmaps])
    np.testing.assert_allclose(got[:, :2], expected.points[0], atol=1e-6)
    np.testing.assert_allclose(got[:, 2], expected.confidences[0], atol=1e-6)


def conv_heatmap_model(layout: str):
    """A fixed random convolution from an HRNet-sized input to 17 stride-4 heatmaps."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(4)
    shape = [1, 3, 128, 96] if layout == "nchw" else [1, 128, 96, 3]
    image = ops.parameter(shape, np.float32, name="image")
    x = image if layout == "nchw" else ops.transpose(image, ops.constant(np.array([0, 3, 1, 2])))
    weights = ops.constant(rng.normal(0, 0.2, (17, 3, 4, 4)).astype(np.float32))
    heatmaps = ops.convolution(x, weights, [4, 4], [0, 0], [0, 0], [1, 1])
    heatmaps.output(0).set_names({"heatmaps"})
    return ov.Model([ops.result(heatmaps)], [image])


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_embedded_processing_agrees_with_external(tmp_path: Path, layout: str) -> None:
    import openvino as ov
    from skimage import data

    from quantflow.backends.openvino.sources import output_infos

    pipeline = Pipeline([Resize.Config(type="resize", size=(128, 96)), Color.Config(type="color", order="rgb"),
                         Normalize.Config(type="normalize", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
                         Layout.Config(type="layout", order=layout)])
    model = conv_heatmap_model(layout)
    decoder = heatmap_decoder()
    decoder.bind(output_infos(model))
    merged, merged_decoder = embedded(model, pipeline, decoder)
    assert merged.inputs[0].get_element_type() == ov.Type.u8 and merged.inputs[0].get_partial_shape().is_dynamic
    crop = cv2.cvtColor(data.astronaut()[40:260, 150:320], cv2.COLOR_RGB2BGR)  # 220 × 170, not the input size
    core = ov.Core()
    external = core.compile_model(model, "CPU")(pipeline(crop)[0])
    internal = core.compile_model(merged, "CPU")(crop[None])
    points = decoder.decode([external[0]]).points[0]
    merged_points = merged_decoder.decode([internal[0]]).points[0]
    shift = np.abs(points - merged_points) * [170, 220]  # in crop pixels
    assert shift.max() < 1.0, shift  # resize in float inside the graph vs on uint8 outside: sub-pixel at most


def test_letterbox_cannot_be_embedded() -> None:
    pipeline = Pipeline([Resize.Config(type="resize", size=(128, 96), keep_aspect=True)])
    model = conv_heatmap_model("nhwc")
    decoder = heatmap_decoder()
    with pytest.raises(UserInputError, match=r"preprocessing step 0 \(resize\): only a plain .*\(no keep_aspect\)"):
        embedded(model, pipeline, decoder)
