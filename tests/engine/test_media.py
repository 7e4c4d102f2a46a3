"""Image sizes from file headers (simulator.engine.media), for the providers' token formulas."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from simulator.engine.media import base64_image_size, image_size


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(header))


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 8


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF" + b"\x00" * 4 + b"WEBP" + b"VP8L" + b"\x00" * 4 + b"\x2f" + bits.to_bytes(4, "little")


@pytest.mark.parametrize("make", [png, gif, jpeg, webp_lossless])
def test_it_reads_the_size_of_common_formats(make):
    assert image_size(make(640, 480)) == (640, 480)


def test_it_reads_base64_data():
    assert base64_image_size(base64.b64encode(png(1024, 768)).decode()) == (1024, 768)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\x00\x00"])
def test_it_knows_nothing_of_other_data(data):
    assert image_size(data) is None


def test_bad_base64_is_no_size():
    assert base64_image_size("%%%not base64%%%") is None
