"""codec/images.py: image sniffing from the first bytes and the header, printable text, and the one pixel cap."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from tfrec.codec import images
from tfrec.codec.images import MAX_PIXELS, as_text, image_format, image_header


def _encoded(fmt: str, size=(5, 3), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, mode, channels", [
    ("JPEG", "RGB", 3), ("PNG", "RGB", 3), ("PNG", "L", 1), ("PNG", "RGBA", 4), ("PNG", "LA", 4),
    ("GIF", "P", 3), ("BMP", "RGB", 3), ("WEBP", "RGB", 3),
])
def test_format_and_header_of_each_encoding(fmt, mode, channels):
    data = _encoded(fmt, (5, 3), mode)
    assert image_format(data) == fmt.lower()
    assert image_header(data) == (3, 5, channels)  # (height, width, channels)


@pytest.mark.parametrize("value", [b"", b"\xff\xd8", b"GIF8", b"RIFF\0\0\0\0WEBX", b"hello", bytes(range(256))])
def test_not_an_image(value):
    assert image_format(value) == ""
    assert image_header(value) is None


def test_header_refuses_an_absurd_size_claim():
    # A PNG header claiming 100,000 x 100,000 pixels: only the header is read, and the claim is not trusted.
    data = bytearray(_encoded("PNG", (1, 1)))
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    assert image_format(bytes(data)) == "png" and image_header(bytes(data)) is None


@pytest.mark.parametrize("value, text", [
    (b"cat.jpg", "cat.jpg"), ("naïve\tline\n".encode(), "naïve\tline\n"), (b"", ""),
    (b"\x00\x01", None), (b"\xff\xfe", None), (b"bell\x07", None),
])
def test_as_text(value, text):
    assert as_text(value) == text


def test_one_pixel_cap_everywhere():
    from tfrec.sources import SourceOptions
    from tfrec.write.convert import ConvertOptions

    assert MAX_PIXELS == 2 * 89_478_485  # twice Pillow's decompression-bomb warning threshold
    assert SourceOptions().max_pixels == ConvertOptions().max_pixels == MAX_PIXELS


def test_old_home_in_check_infer_still_works():
    from tfrec.check import infer

    assert (infer.image_format, infer.image_header, infer.as_text) == (
        images.image_format, images.image_header, images.as_text)
