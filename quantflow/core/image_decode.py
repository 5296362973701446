"""Strict image decoding: a truncated or corrupt file is a UserInputError, not a warning on stderr.

OpenCV decodes a truncated JPEG into a partly grey image and only prints libjpeg's warning, which silently lowers
the measured accuracy. JPEGs are therefore decoded with simplejpeg in strict mode (libjpeg-turbo, the same decoder
and settings as OpenCV, so the pixels are identical) where every libjpeg warning is an error; PNGs get their chunk
structure and CRCs checked before OpenCV decodes them. Every function here is thread-safe: no shared state, no
redirection of stdout/stderr.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

from quantflow.core.errors import UserInputError, shown

COLOR_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
JPEG_SIGNATURE = b"\xff\xd8\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRUNCATED_JPEG = "truncated JPEG (premature end of data)"
TRUNCATED_PNG = "truncated PNG"
# JPEG markers without a length field: TEM and RST0..RST7.
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


def read_bgr(path: Path, where: str) -> np.ndarray:
    """The image as 3-channel BGR uint8, exactly as cv2.imread(IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION) gives it
    for a valid file; raises UserInputError naming `where`, the file and the fault for a truncated or corrupt one."""
    data = _read_bytes(path, where)
    if data.startswith(JPEG_SIGNATURE):
        return _decode_jpeg(data, path, where)
    if data.startswith(PNG_SIGNATURE):
        return _decode_png(data, path, where, COLOR_FLAGS, "image")
    return _decode_other(data, path, where)


def read_png_unchanged(path: Path, where: str, kind: str = "image") -> np.ndarray:
    """A PNG as stored (bit depth and channels kept, as cv2.IMREAD_UNCHANGED), for data such as 16-bit disparity
    maps; `kind` names the file in messages ("disparity image")."""
    data = _read_bytes(path, where)
    if not data.startswith(PNG_SIGNATURE):
        raise _error(where, path, "not a PNG file", kind)
    return _decode_png(data, path, where, cv2.IMREAD_UNCHANGED, kind)


def _error(where: str, path: Path, problem: str, kind: str = "image") -> UserInputError:
    """The one-line message every decoding failure uses."""
    return UserInputError(f"{where}: cannot decode {kind} {shown(path)}: {problem}")


def _read_bytes(path: Path, where: str) -> bytes:
    """The whole file, read once: the format is told from its first bytes, as OpenCV does, not from the suffix."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserInputError(f"{where}: cannot read image {shown(path)}: {error.strerror or error}") from None
    if not data:
        raise _error(where, path, "empty file")
    return data


def _decode_jpeg(data: bytes, path: Path, where: str) -> np.ndarray:
    """Decode with every libjpeg warning raised; islow DCT and fancy upsampling are OpenCV's settings too."""
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True, fastdct=False, fastupsample=False)
    except ValueError as error:
        message = str(error)
    if "Premature end of JPEG file" in message:
        raise _error(where, path, TRUNCATED_JPEG)
    corrupt_at = message.find("Corrupt JPEG data")
    if corrupt_at >= 0:
        raise _error(where, path, "c" + message[corrupt_at + 1:])
    return _decode_jpeg_fallback(data, path, where, message)


def _decode_jpeg_fallback(data: bytes, path: Path, where: str, reason: str) -> np.ndarray:
    """A JPEG simplejpeg refuses for another reason (a harmless warning such as an unknown JFIF revision, or a
    format it lacks): OpenCV decodes it, after a marker walk has checked that the file is complete up to EOI."""
    problem = _jpeg_structure_problem(data)
    if problem:
        raise _error(where, path, problem)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), COLOR_FLAGS)
    if image is None:
        raise _error(where, path, f"invalid JPEG ({reason})")
    return image


def _jpeg_structure_problem(data: bytes) -> str | None:
    """Why the marker sequence from SOI to EOI is broken, or None if it is whole: catches truncation and stray
    bytes between segments without decoding the entropy-coded data."""
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            return f"corrupt JPEG data: no marker at byte {pos}"
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos == len(data):
            break
        marker, pos = data[pos], pos + 1
        if marker == 0xD9:
            return None
        if marker == 0x00:
            return f"corrupt JPEG data: stuffed byte outside a scan at byte {pos - 2}"
        if marker in STANDALONE_MARKERS:
            continue
        if pos + 2 > len(data):
            break
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2:
            return f"corrupt JPEG data: segment length {length} at byte {pos}"
        pos += length
        if marker == 0xDA:
            pos = _end_of_scan(data, pos)
    return TRUNCATED_JPEG


def _end_of_scan(data: bytes, pos: int) -> int:
    """Where the entropy-coded data after an SOS header ends: the first 0xFF that is neither a stuffed 0xFF00 nor
    a restart marker (len(data) when the file ends inside the scan)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        follower = data[pos + 1]
        if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
            return pos
        pos += 2


def _decode_png(data: bytes, path: Path, where: str, flags: int, kind: str) -> np.ndarray:
    """Check the chunks first (so a broken file fails with a precise message and libpng prints nothing), then
    decode with OpenCV; a None from it after that means the compressed image data itself is bad."""
    problem = _png_structure_problem(data)
    if problem:
        raise _error(where, path, problem, kind)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise _error(where, path, "corrupt PNG (image data cannot be decompressed)", kind)
    return image


def _png_structure_problem(data: bytes) -> str | None:
    """Why the chunk sequence up to IEND is broken (cut short, bad chunk type, CRC mismatch), or None if whole.
    Bytes after IEND are ignored, as libpng does."""
    view = memoryview(data)
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        chunk_type = data[pos + 4:pos + 8]
        if not chunk_type.isalpha():
            return f"corrupt PNG (invalid chunk at byte {pos})"
        end = pos + 12 + length
        if end > len(data):
            return f"{TRUNCATED_PNG} (inside the {chunk_type.decode()} chunk)"
        if zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return f"corrupt PNG (CRC error in the {chunk_type.decode()} chunk at byte {pos})"
        if chunk_type == b"IEND":
            return None
        pos = end
    return f"{TRUNCATED_PNG} (no IEND chunk)"


def _decode_other(data: bytes, path: Path, where: str) -> np.ndarray:
    """BMP, WebP, TIFF and the other formats OpenCV reads: its own decoder, None being the only fault it reports."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), COLOR_FLAGS)
    if image is None:
        raise _error(where, path, "unknown format or corrupt file")
    return image
