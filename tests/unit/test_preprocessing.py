"""Preprocessing steps, their geometry bookkeeping and the Pipeline, checked against hand-computed values."""

from __future__ import annotations

import re

import numpy as np
import pytest

from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Geometry, Pipeline
from quantflow.preprocessing.steps import CenterCrop, Color, Dtype, Layout, Normalize, Resize


def resize(size: tuple[int, int], **options) -> Resize.Config:
    """A resize step config."""
    return Resize.Config(type="resize", size=size, **options)


def color(order: str) -> Color.Config:
    """A color step config."""
    return Color.Config(type="color", order=order)


def normalize(mean, std) -> Normalize.Config:
    """A normalize step config."""
    return Normalize.Config(type="normalize", mean=mean, std=std)


def solid(height: int, width: int, bgr: tuple[int, int, int] = (10, 20, 30)) -> np.ndarray:
    """A uint8 BGR image of one color."""
    return np.broadcast_to(np.array(bgr, np.uint8), (height, width, 3)).copy()


def bright_extent(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) pixel-edge extent of the pixels above mid-gray (x2/y2 exclusive)."""
    mask = pixels.reshape(pixels.shape[0], pixels.shape[1], -1).max(axis=2) > 127
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


# --- resize -------------------------------------------------------------------------------------------------


def test_stretch_resize_shape_geometry_and_box_round_trip() -> None:
    # 100 x 200 (h x w) → 160 x 160: sy = 1.6, sx = 0.8, no padding.
    tensor, geometry = Pipeline([resize((160, 160))])(solid(100, 200))
    assert tensor.shape == (1, 160, 160, 3)
    assert tensor.dtype == np.uint8
    assert (tensor == np.array([10, 20, 30], np.uint8)).all()
    assert geometry.orig_size == (100, 200) and geometry.size == (160, 160)
    assert geometry.scale == pytest.approx((1.6, 0.8)) and geometry.pad == (0, 0)
    # Original box x 50..150, y 25..75 → model x 40..120, y 40..120 → normalized 0.25..0.75 on both axes.
    back = geometry.boxes_to_original(np.array([[0.25, 0.25, 0.75, 0.75]]))
    np.testing.assert_allclose(back, [[50, 25, 150, 75]], atol=1e-6)


def test_letterbox_center_pads_top_and_bottom() -> None:
    # 100 x 200 → 160 x 160 keeping aspect: s = min(1.6, 0.8) = 0.8 → 80 x 160 content, 40 rows of padding each side.
    tensor, geometry = Pipeline([resize((160, 160), keep_aspect=True, pad_value=114)])(solid(100, 200, (200, 200, 200)))
    assert tensor.shape == (1, 160, 160, 3)
    image = tensor[0]
    assert (image[:40] == 114).all() and (image[120:] == 114).all()
    assert (image[40:120] == 200).all()
    assert geometry.scale == pytest.approx((0.8, 0.8)) and geometry.pad == (40, 0)
    # Box x 50..150, y 25..75 → model x 40..120, y 25*0.8+40 = 60 .. 75*0.8+40 = 100 → /160.
    back = geometry.boxes_to_original(np.array([[40 / 160, 60 / 160, 120 / 160, 100 / 160]]))
    np.testing.assert_allclose(back, [[50, 25, 150, 75]], atol=1e-6)


def test_letterbox_center_pads_left_and_right_for_tall_image() -> None:
    # 200 x 100 → 100 x 100: s = 0.5 → 100 x 50 content, 25 columns of padding left and right.
    tensor, geometry = Pipeline([resize((100, 100), keep_aspect=True, pad_value=7)])(solid(200, 100, (90, 90, 90)))
    image = tensor[0]
    assert (image[:, :25] == 7).all() and (image[:, 75:] == 7).all() and (image[:, 25:75] == 90).all()
    assert geometry.pad == (0, 25)
    # Box x 20..80, y 40..160 → model x 10+25 = 35 .. 40+25 = 65, y 20..80.
    back = geometry.boxes_to_original(np.array([[0.35, 0.20, 0.65, 0.80]]))
    np.testing.assert_allclose(back, [[20, 40, 80, 160]], atol=1e-6)


def test_letterbox_top_left_pads_only_bottom() -> None:
    tensor, geometry = Pipeline([resize((160, 160), keep_aspect=True, pad_position="top_left", pad_value=114)])(
        solid(100, 200, (200, 200, 200)))
    image = tensor[0]
    assert (image[:80] == 200).all() and (image[80:] == 114).all()
    assert geometry.pad == (0, 0)
    # Box x 50..150, y 25..75 → model x 40..120, y 20..60.
    back = geometry.boxes_to_original(np.array([[40 / 160, 20 / 160, 120 / 160, 60 / 160]]))
    np.testing.assert_allclose(back, [[50, 25, 150, 75]], atol=1e-6)


@pytest.mark.parametrize("pad_position", ["center", "top_left"])
@pytest.mark.parametrize("keep_aspect", [False, True])
def test_drawn_box_maps_back_within_one_pixel(keep_aspect: bool, pad_position: str) -> None:
    """A white rectangle at known original pixels, found again in the model input, maps back within 1 px."""
    # 60 x 70 → 160 x 160 letterboxed: s = 160/70, content round(60*160/70) = 137 rows, center top pad = 11.
    image = np.zeros((60, 70, 3), np.uint8)
    x1, y1, x2, y2 = 13, 10, 41, 30  # pixel edges; the rectangle covers rows 10..29, columns 13..40
    image[y1:y2, x1:x2] = 255
    steps = [resize((160, 160), interpolation="nearest", keep_aspect=keep_aspect, pad_position=pad_position)]
    tensor, geometry = Pipeline(steps)(image)
    if keep_aspect:
        assert geometry.pad == ((11, 0) if pad_position == "center" else (0, 0))
        assert (tensor[0, 148 if pad_position == "center" else 137:] == 0).all()
    found = np.array(bright_extent(tensor[0]), np.float64) / 160.0
    back = geometry.boxes_to_original(found[None])
    np.testing.assert_allclose(back, [[x1, y1, x2, y2]], atol=1.0)


def test_boxes_to_original_clips_to_the_image() -> None:
    geometry = Geometry((100, 200), (160, 160), (0.8, 0.8), (40.0, 0.0))
    # y = 0 lies in the top padding (original y = -50) and x = 1 maps to 200 exactly.
    back = geometry.boxes_to_original(np.array([[-0.1, 0.0, 1.0, 1.0]]))
    np.testing.assert_allclose(back, [[0, 0, 200, 100]])


def test_shorter_side_then_center_crop_maps_pixels_back() -> None:
    # 200 x 300 → shorter side 110: 110 x 165 (factor 0.55) → centre 96 x 96 starts at row 7, column 34.
    image = np.zeros((200, 300, 3), np.uint8)
    image[100:140, 150:200] = 255
    steps = [Resize.Config(type="resize", shorter_side=110), CenterCrop.Config(type="center_crop", size=(96, 96))]
    tensor, geometry = Pipeline(steps)(image)
    assert tensor.shape == (1, 96, 96, 3) and geometry.size == (96, 96)
    assert geometry.scale == pytest.approx((0.55, 0.55)) and geometry.pad == pytest.approx((-7, -34))
    x1, y1, x2, y2 = bright_extent(tensor[0])
    back = geometry.boxes_to_original(np.array([[x1 / 96, y1 / 96, x2 / 96, y2 / 96]]))
    np.testing.assert_allclose(back, [[150, 100, 200, 140]], atol=2.0)
    assert Pipeline(steps).spec.shape == (1, 96, 96, 3)
    with pytest.raises(UserInputError, match="center_crop 96x96 is larger than the 50x60 image"):
        Pipeline([resize((50, 60)), CenterCrop.Config(type="center_crop", size=(96, 96))])
    with pytest.raises(ValueError, match="give one of size and shorter_side"):
        Resize.Config(type="resize", size=(10, 10), shorter_side=10)


def test_two_resizes_compose() -> None:
    # 100 x 200 → stretch to 50 x 100 (scale 0.5) → letterbox 80 x 80 (scale 0.8, 40 x 80 content, top pad 20).
    pipeline = Pipeline([resize((50, 100)), resize((80, 80), keep_aspect=True)])
    tensor, geometry = pipeline(solid(100, 200))
    assert tensor.shape == (1, 80, 80, 3)
    assert geometry.orig_size == (100, 200) and geometry.size == (80, 80)
    assert geometry.scale == pytest.approx((0.4, 0.4)) and geometry.pad == pytest.approx((20.0, 0.0))
    # Box x 50..150, y 25..75 → x 20..60, y 10+20 = 30 .. 30+20 = 50 in the 80 x 80 input.
    back = geometry.boxes_to_original(np.array([[20 / 80, 30 / 80, 60 / 80, 50 / 80]]))
    np.testing.assert_allclose(back, [[50, 25, 150, 75]], atol=1e-6)


def test_geometry_then_composes_pad_through_later_scale() -> None:
    # current = (orig * 2 + 3) * 0.5 + 1 = orig * 1 + 2.5
    geometry = Geometry.identity(10, 20).then((20, 40), (2.0, 2.0), (3.0, 4.0)).then((10, 20), (0.5, 0.5), (1.0, 1.0))
    assert geometry.scale == (1.0, 1.0) and geometry.pad == (2.5, 3.0)
    assert geometry.orig_size == (10, 20) and geometry.size == (10, 20)


# --- color -------------------------------------------------------------------------------------------------


def test_color_bgr_to_rgb_swaps_channels() -> None:
    image = solid(4, 5, (10, 20, 30))
    image[0, 0] = (1, 2, 3)
    tensor, _ = Pipeline([color("rgb")])(image)
    assert tensor.shape == (1, 4, 5, 3)
    assert tuple(tensor[0, 1, 1]) == (30, 20, 10)
    assert tuple(tensor[0, 0, 0]) == (3, 2, 1)


def test_color_bgr_stays_unchanged() -> None:
    image = solid(4, 5, (10, 20, 30))
    tensor, _ = Pipeline([color("bgr")])(image)
    np.testing.assert_array_equal(tensor[0], image)


def test_color_gray_uses_luma_weights() -> None:
    # B=10, G=20, R=30: 0.299*30 + 0.587*20 + 0.114*10 = 8.97 + 11.74 + 1.14 = 21.85 → 22.
    tensor, _ = Pipeline([color("gray")])(solid(4, 5, (10, 20, 30)))
    assert tensor.shape == (1, 4, 5, 1)
    assert (tensor == 22).all()


# --- normalize ---------------------------------------------------------------------------------------------


def test_normalize_scalar() -> None:
    tensor, _ = Pipeline([normalize(127.5, 127.5)])(solid(3, 3, (0, 100, 255)))
    assert tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, 0, 0], [-1.0, (100 - 127.5) / 127.5, 1.0], rtol=1e-6)


def test_normalize_per_channel_in_current_channel_order() -> None:
    # BGR (10, 20, 30) → RGB (30, 20, 10); mean (1, 2, 3), std (2, 4, 8) → (14.5, 4.5, 0.875).
    tensor, _ = Pipeline([color("rgb"), normalize([1, 2, 3], [2, 4, 8])])(solid(2, 2, (10, 20, 30)))
    np.testing.assert_allclose(tensor[0, 1, 1], [14.5, 4.5, 0.875], rtol=1e-6)


@pytest.mark.parametrize("field", ["mean", "std"])
def test_normalize_wrong_channel_count_is_a_user_error(field: str) -> None:
    values = {"mean": 0.0, "std": 1.0, field: [1.0, 2.0, 3.0]}
    with pytest.raises(UserInputError, match=r"preprocessing\.1\.normalize") as info:
        Pipeline([color("gray"), normalize(values["mean"], values["std"])])
    assert f"normalize.{field}" in str(info.value) and "1 channels" in str(info.value)


def test_normalize_two_values_for_three_channels_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match=r"preprocessing\.0\.normalize"):
        Pipeline([normalize([1.0, 2.0], 1.0)])


# --- layout, dtype, spec -----------------------------------------------------------------------------------


def test_layout_nchw_moves_channels_first() -> None:
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    tensor, _ = Pipeline([Layout.Config(type="layout", order="nchw")])(image)
    assert tensor.shape == (1, 3, 4, 5)
    assert tensor.flags["C_CONTIGUOUS"]
    for channel in range(3):
        np.testing.assert_array_equal(tensor[0, channel], image[:, :, channel])


def test_layout_nhwc_is_the_default() -> None:
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    tensor, _ = Pipeline([])(image)
    np.testing.assert_array_equal(tensor, image[None])


@pytest.mark.parametrize("name", ["float32", "float16", "float64", "uint8", "int8", "uint16", "int16", "uint32",
                                  "int32", "int64"])
def test_dtype(name: str) -> None:
    tensor, _ = Pipeline([Dtype.Config(type="dtype", name=name)])(solid(2, 3, (1, 2, 100)))
    assert tensor.dtype == np.dtype(name)
    assert tuple(tensor[0, 0, 0]) == (1, 2, 100)


@pytest.mark.parametrize(("mean", "std", "name", "problem"), [
    (0, 255, "int32", "with fractions"),        # 0..1 floats would all become 0
    (0, 1, "int8", "outside int8's [-128, 127]"),  # 0..255 does not fit
    (127.5, 127.5, "uint8", "outside uint8's [0, 255]"),  # negative after centring
])
def test_a_lossy_cast_to_an_integer_type_is_refused(mean: float, std: float, name: str, problem: str) -> None:
    """Refused when the pipeline is built (its probe image is black) or, at the latest, on the first sample."""
    with pytest.raises(UserInputError, match=f"preprocessing.dtype: values span .*{re.escape(problem)}"):
        Pipeline([normalize(mean, std), Dtype.Config(type="dtype", name=name)])(solid(2, 3, (1, 2, 200)))


def test_whole_numbers_cast_to_int32_unchanged() -> None:
    tensor, _ = Pipeline([normalize(-1, 1), Dtype.Config(type="dtype", name="int32")])(solid(2, 3, (1, 2, 200)))
    assert tensor.dtype == np.int32 and tuple(tensor[0, 0, 0]) == (2, 3, 201)


def test_spec_with_resize() -> None:
    pipeline = Pipeline([resize((96, 128)), color("rgb"), normalize(127.5, 127.5),
                         Layout.Config(type="layout", order="nchw")])
    assert pipeline.spec.shape == (1, 3, 96, 128)
    assert pipeline.spec.dtype == "float32"
    assert pipeline.spec.layout == "nchw"
    tensor, _ = pipeline(solid(50, 70))
    assert tensor.shape == pipeline.spec.shape and str(tensor.dtype) == pipeline.spec.dtype


def test_spec_without_resize_is_dynamic_in_height_and_width() -> None:
    pipeline = Pipeline([Dtype.Config(type="dtype", name="float16")])
    assert pipeline.spec.shape == (1, -1, -1, 3)
    assert pipeline.spec.dtype == "float16" and pipeline.spec.layout == "nhwc"


def test_spec_gray_nchw() -> None:
    pipeline = Pipeline([resize((32, 32)), color("gray"), Layout.Config(type="layout", order="nchw")])
    assert pipeline.spec.shape == (1, 1, 32, 32)
    assert pipeline.spec.dtype == "uint8"


# --- grayscale input ---------------------------------------------------------------------------------------


def test_grayscale_2d_input_to_rgb() -> None:
    gray = np.full((6, 8), 77, np.uint8)
    gray[0, 0] = 5
    tensor, geometry = Pipeline([resize((12, 16), interpolation="nearest"), color("rgb")])(gray)
    assert tensor.shape == (1, 12, 16, 3)
    assert (tensor[0, 4:, 4:] == 77).all()
    assert tuple(tensor[0, 0, 0]) == (5, 5, 5)
    assert geometry.orig_size == (6, 8) and geometry.scale == (2.0, 2.0)


def test_grayscale_2d_input_keeps_one_channel_without_color_step() -> None:
    gray = np.full((6, 8), 77, np.uint8)
    tensor, _ = Pipeline([resize((3, 4)), normalize(7.0, 10.0), Layout.Config(type="layout", order="nchw")])(gray)
    assert tensor.shape == (1, 1, 3, 4)
    np.testing.assert_allclose(tensor, 7.0)


def test_grayscale_2d_input_letterbox_pads_its_one_channel() -> None:
    gray = np.full((10, 20), 200, np.uint8)
    tensor, geometry = Pipeline([resize((20, 20), keep_aspect=True, pad_value=1)])(gray)
    assert tensor.shape == (1, 20, 20, 1)
    assert (tensor[0, :5] == 1).all() and (tensor[0, 5:15] == 200).all() and (tensor[0, 15:] == 1).all()
    assert geometry.pad == (5, 0)


def test_stride_aligned_letterbox_pads_only_to_the_next_multiple() -> None:
    """Ultralytics' `auto` letterbox for dynamic-input models: 360x200 → 160x89 → padded to 160x96, centred,
    with 114; the model input keeps dynamic height and width; boxes map back exactly."""
    pipeline = Pipeline([Resize.Config(type="resize", size=(160, 160), keep_aspect=True, stride=32, pad_value=114)])
    image = np.zeros((200, 360, 3), np.uint8)
    tensor, geometry = pipeline(image)
    assert tensor.shape == (1, 96, 160, 3) and pipeline.spec.shape == (1, -1, -1, 3) and pipeline.variable_size
    assert (tensor[0, :3] == 114).all() and (tensor[0, -4:] == 114).all() and (tensor[0, 3:-4] == 0).all()
    np.testing.assert_allclose(geometry.boxes_to_original(np.array([[0, 3 / 96, 1, 92 / 96]])), [[0, 0, 360, 200]],
                               atol=1e-9)
    fixed = Pipeline([Resize.Config(type="resize", size=(160, 160), keep_aspect=True, pad_value=114)])
    assert fixed.spec.shape == (1, 160, 160, 3) and not fixed.variable_size


def test_stride_needs_keep_aspect() -> None:
    with pytest.raises(ValueError, match="stride needs keep_aspect"):
        Resize.Config(type="resize", size=(160, 160), stride=32)


def test_the_models_input_type_is_adopted_by_kind_and_a_lossy_cast_is_refused() -> None:
    pipeline = Pipeline([resize((8, 8))])
    assert pipeline.spec.dtype == "uint8"
    assert pipeline.adopt_input_type("int32") and not pipeline.adopt_input_type("int32")
    tensor, _ = pipeline(solid(10, 10))
    assert pipeline.spec.dtype == "int32" and tensor.dtype == np.int32 and (tensor[0, 0, 0] == [10, 20, 30]).all()
    narrow = Pipeline([resize((8, 8))])
    assert narrow.adopt_input_type("int8")
    with pytest.raises(UserInputError, match=r"values span \[10, 200\], outside int8's \[-128, 127\]"):
        narrow(solid(10, 10, (10, 20, 200)))
    scaled = Pipeline([resize((8, 8)), normalize(0, 255)])
    assert not scaled.adopt_input_type("uint8") and scaled.spec.dtype == "float32"  # floats to integers: not by itself
    assert scaled.adopt_input_type("float16") and scaled.spec.dtype == "float16"
    chosen = Pipeline([resize((8, 8)), Dtype.Config(type="dtype", name="float32")])
    assert not chosen.adopt_input_type("uint8") and chosen.spec.dtype == "float32"  # the config's dtype step decides
