"""Strict decoding: valid files give exactly cv2.imread's pixels, truncated or corrupt ones a one-line UserInputError
naming the file, and nothing is left to a warning on stderr."""

from __future__ import annotations

import io
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from quantflow.core.adapter import read_image
from quantflow.core.errors import UserInputError
from quantflow.core.image_decode import read_bgr, read_png_unchanged
from quantflow.tasks.stereo.disparity_io import read_kitti_disparity

COLOR = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def photo() -> np.ndarray:
    """scikit-image's astronaut as BGR, the photograph the other tests use too."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def jpeg_bytes(image: np.ndarray, *params: int) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95, *params])[1].tobytes()


def png_bytes(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def first_chunk(data: bytes, chunk_type: bytes) -> tuple[int, int]:
    """(offset, data length) of the first chunk of that type in a PNG."""
    pos = 8
    while data[pos + 4:pos + 8] != chunk_type:
        pos += 12 + struct.unpack(">I", data[pos:pos + 4])[0]
    return pos, struct.unpack(">I", data[pos:pos + 4])[0]


def assert_decode_error(path: Path, *parts: str, reader=read_bgr) -> None:
    """The read fails with one line that names the file and says what is wrong."""
    with pytest.raises(UserInputError) as caught:
        reader(path, "dataset.images")
    message = str(caught.value)
    assert "\n" not in message
    for part in ("dataset.images: ", path.name, *parts):
        assert part in message, message


# --- valid files: the same pixels as cv2.imread ------------------------------------------------------------------


def cmyk_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).convert("CMYK").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


VALID = {
    "baseline.jpg": lambda: jpeg_bytes(photo()),
    "progressive.jpg": lambda: jpeg_bytes(photo(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    "subsampling444.jpg": lambda: jpeg_bytes(photo(), cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                             cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
    "gray.jpg": lambda: jpeg_bytes(skimage.data.camera()),
    "cmyk.jpg": cmyk_jpeg,
    "color.png": lambda: png_bytes(photo()),
    "gray.png": lambda: png_bytes(skimage.data.camera()),
    "alpha.png": lambda: png_bytes(cv2.cvtColor(photo(), cv2.COLOR_BGR2BGRA)),
    "sixteen_bit.png": lambda: png_bytes((photo().astype(np.uint16) * 257)),
    "photo.bmp": lambda: cv2.imencode(".bmp", photo())[1].tobytes(),
    "png_named.jpg": lambda: png_bytes(photo()),
}


@pytest.mark.parametrize("name", VALID)
def test_valid_file_decodes_as_cv2_imread(name: str, tmp_path: Path) -> None:
    path = write(tmp_path, name, VALID[name]())
    expected = cv2.imread(str(path), COLOR)
    image = read_bgr(path, "dataset.images")
    assert image.dtype == np.uint8 and image.shape == expected.shape and image.shape[2] == 3
    np.testing.assert_array_equal(image, expected)


def test_grayscale_jpeg_becomes_three_channels(tmp_path: Path) -> None:
    gray = skimage.data.camera()
    image = read_image(write(tmp_path, "gray.jpg", jpeg_bytes(gray)), "dataset.images")
    assert image.shape == (*gray.shape, 3)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


def test_harmless_jpeg_warning_still_decodes(tmp_path: Path) -> None:
    """An unknown JFIF revision is only a warning: such a file decodes as OpenCV decodes it."""
    data = bytearray(jpeg_bytes(photo()))
    assert data[6:11] == b"JFIF\0"
    data[11] = 2
    path = write(tmp_path, "jfif2.jpg", bytes(data))
    np.testing.assert_array_equal(read_bgr(path, "dataset.images"), cv2.imread(str(path), COLOR))


# --- truncated or corrupt JPEG -----------------------------------------------------------------------------------


def test_truncated_jpeg_is_an_error_not_a_warning(tmp_path: Path, capfd) -> None:
    data = jpeg_bytes(photo())
    path = write(tmp_path, "cut.jpg", data[:len(data) * 6 // 10])
    assert cv2.imread(str(path), COLOR) is not None  # what OpenCV alone does: a partly grey image
    capfd.readouterr()
    assert_decode_error(path, "truncated JPEG (premature end of data)")
    assert capfd.readouterr().err == ""


def test_jpeg_with_garbage_in_the_entropy_data(tmp_path: Path) -> None:
    data = jpeg_bytes(photo())
    middle = len(data) // 2
    garbage = np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes()
    path = write(tmp_path, "garbage.jpg", data[:middle] + garbage + data[middle + 200:])
    assert_decode_error(path, "corrupt JPEG data: ")


def test_truncated_jpeg_with_a_harmless_warning(tmp_path: Path) -> None:
    """The OpenCV path taken for such files still rejects a file cut short."""
    data = bytearray(jpeg_bytes(photo()))
    data[11] = 2
    path = write(tmp_path, "jfif2_cut.jpg", bytes(data[:len(data) * 6 // 10]))
    assert_decode_error(path, "truncated JPEG (premature end of data)")


def test_jpeg_cut_inside_its_header(tmp_path: Path) -> None:
    path = write(tmp_path, "header.jpg", jpeg_bytes(photo())[:300])
    assert_decode_error(path, "truncated JPEG")


@pytest.mark.parametrize("name, data, problem", [
    ("empty.jpg", b"", "empty file"),
    ("text.jpg", b"this is a text file, not a picture\n" * 10, "unknown format or corrupt file"),
])
def test_not_an_image(name: str, data: bytes, problem: str, tmp_path: Path) -> None:
    assert_decode_error(write(tmp_path, name, data), problem)


def test_missing_file(tmp_path: Path) -> None:
    assert_decode_error(tmp_path / "gone.jpg", "No such file")


def test_file_name_shown_on_one_line(tmp_path: Path) -> None:
    data = jpeg_bytes(photo())
    path = write(tmp_path, "two\nlines.jpg", data[:len(data) // 2])
    with pytest.raises(UserInputError, match=r"two\\nlines\.jpg: truncated JPEG") as caught:
        read_bgr(path, "dataset.images")
    assert "\n" not in str(caught.value)


# --- truncated or corrupt PNG ------------------------------------------------------------------------------------


def test_truncated_png(tmp_path: Path, capfd) -> None:
    data = png_bytes(photo())
    path = write(tmp_path, "cut.png", data[:len(data) * 6 // 10])
    capfd.readouterr()
    assert_decode_error(path, "truncated PNG (inside the IDAT chunk)")
    assert capfd.readouterr().err == ""  # told before libpng is asked, so it prints nothing


def test_png_without_iend(tmp_path: Path) -> None:
    data = png_bytes(photo())
    assert data[-8:-4] == b"IEND"
    assert_decode_error(write(tmp_path, "no_end.png", data[:-12]), "truncated PNG (no IEND chunk)")


def test_png_with_wrong_idat_crc(tmp_path: Path) -> None:
    data = bytearray(png_bytes(photo()))
    offset, length = first_chunk(bytes(data), b"IDAT")
    data[offset + 8 + length] ^= 0xFF
    assert_decode_error(write(tmp_path, "crc.png", bytes(data)), "CRC error in the IDAT chunk")


def test_png_with_bad_compressed_data_and_matching_crc(tmp_path: Path) -> None:
    """Damage the CRC cannot see (recomputed after the change) is still caught, by the decoder itself."""
    import zlib

    data = bytearray(png_bytes(photo()))
    offset, length = first_chunk(bytes(data), b"IDAT")
    data[offset + 8 + length // 2] ^= 0x55
    data[offset + 8 + length:offset + 12 + length] = struct.pack(">I", zlib.crc32(data[offset + 4:offset + 8 + length]))
    assert_decode_error(write(tmp_path, "inflate.png", bytes(data)), "corrupt PNG")


# --- KITTI 16-bit disparity --------------------------------------------------------------------------------------


def kitti_disparity() -> np.ndarray:
    """A 16-bit map the size of a KITTI frame with smooth values, so the PNG spans several IDAT chunks."""
    rows, cols = np.mgrid[0:375, 0:1242]
    return ((rows * 7 + cols * 13) % 65536).astype(np.uint16)


def test_kitti_disparity_png_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "000000_10.png"
    cv2.imwrite(str(path), kitti_disparity())
    raw = read_png_unchanged(path, "dataset")
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, cv2.imread(str(path), cv2.IMREAD_UNCHANGED))


def test_truncated_kitti_disparity_png(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    cv2.imwrite(str(whole), kitti_disparity())
    data = whole.read_bytes()
    path = write(tmp_path, "000001_10.png", data[:len(data) * 6 // 10])
    with pytest.raises(UserInputError, match=r"^dataset: cannot decode disparity image .*000001_10\.png: "
                                             r"truncated PNG"):
        read_kitti_disparity(path)


def test_disparity_file_that_is_not_a_png(tmp_path: Path) -> None:
    path = write(tmp_path, "000002_10.png", jpeg_bytes(photo()))
    with pytest.raises(UserInputError, match=r"000002_10\.png: not a PNG file"):
        read_kitti_disparity(path)


# --- threads -----------------------------------------------------------------------------------------------------


def test_decoding_in_threads_matches_one_thread(tmp_path: Path) -> None:
    data = jpeg_bytes(photo())
    paths = [write(tmp_path, "good.jpg", data), write(tmp_path, "cut.jpg", data[:len(data) // 2]),
             write(tmp_path, "good.png", png_bytes(photo()))] * 8

    def outcome(path: Path) -> str | np.ndarray:
        try:
            return read_bgr(path, "dataset.images")
        except UserInputError as error:
            return str(error)

    expected = [outcome(path) for path in paths[:3]] * 8
    with ThreadPoolExecutor(max_workers=2) as pool:
        for got, want in zip(pool.map(outcome, paths), expected):
            assert type(got) is type(want) and np.array_equal(got, want)
