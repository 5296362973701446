"""Stereo pieces on small arrays: PFM and KITTI readers, EPE/D1/bad-N worked out by hand, disparity mapped back
through resize and padding, pair packing, and the three dataset layouts."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from quantflow.core.errors import UserInputError
from quantflow.preprocessing import Geometry, Pipeline
from quantflow.preprocessing.steps import Color, Layout, Normalize, Pad, Resize
from quantflow.tasks.stereo.disparity import Disparity, disparity_to_original
from quantflow.tasks.stereo.disparity_io import read_kitti_disparity, read_pfm
from quantflow.tasks.stereo.disparity_metric import DisparityMetric, error_counts
from quantflow.tasks.stereo.stereo_pairs import StereoPairs


def pfm_bytes(rows_top_down: list[list[float]], little_endian: bool = True) -> bytes:
    """A PFM written by hand: header, then rows bottom to top, endianness from the sign of the scale."""
    height, width = len(rows_top_down), len(rows_top_down[0])
    order = "<" if little_endian else ">"
    body = b"".join(struct.pack(f"{order}{width}f", *row) for row in reversed(rows_top_down))
    return f"Pf\n{width} {height}\n{-1.0 if little_endian else 1.0}\n".encode() + body


@pytest.mark.parametrize("little_endian", [True, False])
def test_pfm_rows_and_endianness(tmp_path: Path, little_endian: bool) -> None:
    path = tmp_path / "disp0GT.pfm"
    path.write_bytes(pfm_bytes([[1.0, 2.0, float("inf")], [4.5, 5.0, 6.0]], little_endian))
    disparity = read_pfm(path)
    assert disparity.dtype == np.float32 and disparity.shape == (2, 3)
    np.testing.assert_array_equal(disparity, [[1.0, 2.0, np.inf], [4.5, 5.0, 6.0]])


def test_pfm_faults_are_named(tmp_path: Path) -> None:
    truncated = tmp_path / "short.pfm"
    truncated.write_bytes(pfm_bytes([[1.0, 2.0]])[:-4])
    with pytest.raises(UserInputError, match="short.pfm is truncated"):
        read_pfm(truncated)
    png = tmp_path / "not.pfm"
    png.write_bytes(b"\x89PNG....")
    with pytest.raises(UserInputError, match="not.pfm is not a PFM file"):
        read_pfm(png)


def test_kitti_png_is_disparity_times_256(tmp_path: Path) -> None:
    path = tmp_path / "000000_10.png"
    cv2.imwrite(str(path), np.array([[0, 2688, 65535]], np.uint16))  # 2688 / 256 = 10.5
    np.testing.assert_allclose(read_kitti_disparity(path), [[0.0, 10.5, 65535 / 256]])
    eight_bit = tmp_path / "8bit.png"
    cv2.imwrite(str(eight_bit), np.zeros((2, 2), np.uint8))
    with pytest.raises(UserInputError, match="8bit.png is not a KITTI disparity map"):
        read_kitti_disparity(eight_bit)


def test_metrics_worked_out_by_hand() -> None:
    # sample 1: valid truths 1.4 (error 0.4) and 45 (error 5, > 3 px and > 2.25 = 5 % → D1 outlier);
    # 0 (KITTI) and inf (Middlebury) are not ground truth.
    first = error_counts(1, np.array([[1.0, 2.0], [3.0, 40.0]]), np.array([[1.4, 0.0], [np.inf, 45.0]]))
    # sample 2: error 0.6 at 10; error 3.5 at 100 is > 3 px but < 5 px (5 %) → not a D1 outlier
    second = error_counts(2, np.array([[10.6, 103.5]]), np.array([[10.0, 100.0]]))
    result = DisparityMetric(DisparityMetric.Config(type="disparity")).evaluate(
        None, np.concatenate([first, second]), [1, 2], per_item=True)
    s = result.summary
    assert s["EPE"] == pytest.approx((0.4 + 5 + 0.6 + 3.5) / 4)
    assert s["D1-all"] == pytest.approx(100 * 1 / 4)
    assert s["bad-0.5"] == pytest.approx(100 * 3 / 4)  # 5, 0.6, 3.5
    assert s["bad-1"] == pytest.approx(100 * 2 / 4)
    assert s["bad-2"] == pytest.approx(100 * 2 / 4)
    assert s["bad-4"] == pytest.approx(100 * 1 / 4)
    assert s["RMSE"] == pytest.approx(np.sqrt((0.16 + 25 + 0.36 + 12.25) / 4))
    assert result.per_item == pytest.approx({1: -2.7, 2: -2.05})
    assert result.main == "EPE" and not result.higher_is_better
    assert result.loss_to(s["EPE"] + 0.5) == pytest.approx(0.5)  # a larger EPE is worse
    only_second = DisparityMetric(DisparityMetric.Config(type="disparity")).evaluate(None, second, [2])
    assert only_second.value == pytest.approx(2.05)


def test_disparity_back_through_resize_and_coarse_output() -> None:
    geometry = Geometry.identity(100, 200).then((50, 100), (0.5, 0.5), (0.0, 0.0))
    quarter = np.full((13, 25), 3.0, np.float32)  # a 1/4-resolution output: 3 px there = 12 input px
    original = disparity_to_original(quarter, geometry)
    assert original.shape == (100, 200)
    np.testing.assert_allclose(original, 24.0, rtol=1e-6)  # 12 input px at half scale = 24 original px


def test_disparity_ramp_survives_the_round_trip() -> None:
    """A disparity that grows with x keeps its values at the same places after a 2× downscale and back."""
    xs = np.arange(200, dtype=np.float32)
    truth = np.tile(xs / 10, (100, 1))
    geometry = Geometry.identity(100, 200).then((50, 100), (0.5, 0.5), (0.0, 0.0))
    at_input = cv2.resize(truth, (100, 50), interpolation=cv2.INTER_LINEAR) * 0.5
    np.testing.assert_allclose(disparity_to_original(at_input, geometry)[:, 2:-2], truth[:, 2:-2], atol=1e-4)


def test_padding_is_cut_away() -> None:
    pipeline = Pipeline([Pad.Config(type="pad", multiple=32)])
    tensor, geometry = pipeline(np.zeros((90, 130, 3), np.uint8))
    assert tensor.shape == (1, 96, 160, 3) and geometry.orig_size == (90, 130)
    output = np.full((96, 160), 999.0, np.float32)
    output[:90, :130] = 5.0
    np.testing.assert_array_equal(disparity_to_original(output, geometry), np.full((90, 130), 5.0))


def gray_pipeline(pack: str, layout: str = "nhwc") -> Pipeline:
    return Pipeline([Color.Config(type="color", order="gray"), Normalize.Config(type="normalize", std=255.0),
                     Layout.Config(type="layout", order=layout)], pack)


def test_pairs_packed_into_channels_or_inputs() -> None:
    left = np.full((8, 12, 3), 255, np.uint8)
    right = np.zeros((8, 12, 3), np.uint8)
    packed, _ = gray_pipeline("channels")((left, right))
    assert packed.shape == (1, 8, 12, 2) and gray_pipeline("channels").spec.shape == (1, -1, -1, 2)
    np.testing.assert_allclose(packed[0, :, :, 0], 1.0)
    np.testing.assert_allclose(packed[0, :, :, 1], 0.0)
    nchw, _ = gray_pipeline("channels", "nchw")((left, right))
    assert nchw.shape == (1, 2, 8, 12)
    separate, _ = gray_pipeline("inputs")((left, right))
    assert isinstance(separate, tuple) and [t.shape for t in separate] == [(1, 8, 12, 1)] * 2
    assert gray_pipeline("inputs").inputs == 2
    rgb = Pipeline([Resize.Config(type="resize", size=(4, 6))], "channels")
    assert rgb((left, right))[0].shape == (1, 4, 6, 6) and rgb.spec.shape == (1, 4, 6, 6)


def write_pair(folder: Path, name: str, disparity: np.ndarray, kitti: bool) -> None:
    rng = np.random.default_rng(len(name))
    for sub in ("left", "right"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / sub / name), rng.integers(0, 255, (*disparity.shape, 3), dtype=np.uint8))
    (folder / "disp").mkdir(exist_ok=True)
    if kitti:
        cv2.imwrite(str(folder / "disp" / name), np.round(disparity * 256).astype(np.uint16))


def kitti_folder(root: Path) -> Path:
    for index in range(3):
        write_pair(root, f"00000{index}_10.png", np.full((16, 24), 4.0 + index), kitti=True)
    for sub, kitti_name in (("left", "image_2"), ("right", "image_3"), ("disp", "disp_occ_0")):
        (root / sub).rename(root / kitti_name)
    return root


def stereo(layout: str, root: Path) -> StereoPairs:
    return StereoPairs(StereoPairs.Config(type="stereo_pairs", layout=layout, root=root))


def test_kitti_layout_and_exact_prediction_scores_zero(tmp_path: Path) -> None:
    dataset = stereo("kitti", kitti_folder(tmp_path))
    assert dataset.ids() == [1, 2, 3] and dataset.file_of(2).name == "000001_10.png"
    (left, right), geometry = dataset.load_sample(3)
    assert left.shape == right.shape == (16, 24, 3) and geometry is None
    row = dataset.rows(3, Disparity(dataset.truth(3, (16, 24))), Geometry.identity(16, 24))
    assert row[0, :3].tolist() == [3, 16 * 24, 0.0]


def test_middlebury_scene_and_list_layouts(tmp_path: Path) -> None:
    scene = tmp_path / "Motorcycle"
    scene.mkdir()
    for name in ("im0.png", "im1.png"):
        cv2.imwrite(str(scene / name), np.zeros((2, 3, 3), np.uint8))
    (scene / "disp0GT.pfm").write_bytes(pfm_bytes([[1.0, 2.0, float("inf")], [4.5, 5.0, 6.0]]))
    for root in (scene, tmp_path):  # one scene, or a folder of scenes
        dataset = stereo("middlebury", root)
        assert dataset.ids() == [1] and np.isinf(dataset.truth(1, (2, 3))[0, 2])
    listing = tmp_path / "pairs.txt"
    listing.write_text("# left right disparity\nMotorcycle/im0.png Motorcycle/im1.png Motorcycle/disp0GT.pfm\n")
    assert stereo("list", listing).pairs[0].truth == scene / "disp0GT.pfm"


def test_stereo_layout_faults_are_named(tmp_path: Path) -> None:
    root = kitti_folder(tmp_path / "kitti")
    (root / "disp_occ_0" / "000001_10.png").unlink()
    with pytest.raises(UserInputError, match=r"dataset.root: file not found: .*000001_10.png"):
        stereo("kitti", root)
    with pytest.raises(UserInputError, match="is not a KITTI folder"):
        stereo("kitti", tmp_path)
    listing = tmp_path / "pairs.txt"
    listing.write_text("a.png b.png\n")
    with pytest.raises(UserInputError, match="pairs.txt line 1: expected 'left right disparity'"):
        stereo("list", listing)
    scene = tmp_path / "scene"
    scene.mkdir()
    cv2.imwrite(str(scene / "im0.png"), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(UserInputError, match="scene scene has no disp0GT.pfm or disp0.pfm"):
        stereo("middlebury", scene)
