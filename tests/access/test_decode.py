"""access/decode.py: decode_image's pixels against tf.io.decode_image and the reader's channel rules; DCT-scaled
JPEG decode; the pluggable JPEG decoders; clear errors for bad bytes and the pixel cap; no TensorFlow import."""
from __future__ import annotations

import importlib.util
import io
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfrec.access import decode
from tfrec.access.decode import JPEG_TOLERANCE, ImageDecodeError, decode_image, get_decoder, set_decoder
from tfrec.codec.images import MAX_PIXELS
from tfrec.errors import TfrecError

DECODER_PACKAGES = {"pillow": "PIL", "simplejpeg": "simplejpeg", "opencv": "cv2"}


@pytest.fixture(params=list(DECODER_PACKAGES))
def jpeg_decoder(request, monkeypatch):
    """Each installed JPEG decoder in turn (simplejpeg and OpenCV are optional: skipped when absent)."""
    pytest.importorskip(DECODER_PACKAGES[request.param])
    monkeypatch.setattr(decode, "_chosen", None)
    set_decoder(request.param)
    return request.param


@pytest.fixture(autouse=True)
def _pillow_after(monkeypatch):
    monkeypatch.delenv(decode.DECODER_ENV, raising=False)
    monkeypatch.setattr(decode, "_chosen", None)


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth photo-like RGB image (random blocks upsampled), so JPEG's losses stay small."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (max(2, h // 10), max(2, w // 10), 3), dtype=np.uint8))
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


def _encode(arr: np.ndarray, fmt: str, mode: str | None = None, **kw) -> bytes:
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _tf_decode(data: bytes, channels: int = 0, ratio: int = 1) -> np.ndarray:
    import tensorflow as tf

    if ratio > 1:
        return tf.io.decode_jpeg(data, channels=channels, ratio=ratio).numpy()
    return tf.io.decode_image(data, channels=channels, expand_animations=False).numpy()


def _assert_jpeg_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= JPEG_TOLERANCE[0] and diff.mean() <= JPEG_TOLERANCE[1], (diff.max(), diff.mean())


@pytest.mark.parametrize("quality, subsampling", [(90, 0), (75, 2)])
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_jpeg_within_tolerance_of_tensorflow(jpeg_decoder, quality, subsampling, channels):
    data = _encode(_photo(120, 160), "JPEG", quality=quality, subsampling=subsampling)
    got = decode_image(data, channels=channels)
    if channels == 4:  # the reader adds an opaque alpha to JPEGs (tf cannot decode them to 4 channels)
        assert (got[..., 3] == 255).all()
        got, channels = got[..., :3], 3
    _assert_jpeg_close(got, _tf_decode(data, channels or 0))


@pytest.mark.parametrize("target", [None, (100, 120)])
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_decoders_give_the_same_pixels(target, channels):
    """The default decoder is picked by speed: that is safe only while every decoder gives Pillow's pixels."""
    data = _encode(_photo(240, 320), "JPEG", quality=80)
    set_decoder("pillow")
    want = decode_image(data, channels=channels, target=target)
    for name, package in DECODER_PACKAGES.items():
        if name != "pillow" and importlib.util.find_spec(package):
            set_decoder(name)
            np.testing.assert_array_equal(decode_image(data, channels=channels, target=target), want, err_msg=name)


def test_grey_jpeg(jpeg_decoder):
    data = _encode(_photo(40, 50), "JPEG", "L")
    _assert_jpeg_close(decode_image(data), _tf_decode(data))
    _assert_jpeg_close(decode_image(data, channels=3), _tf_decode(data, 3))


@pytest.mark.parametrize("size, target, ratio", [
    ((480, 640), (224, 224), 2),   # 2x the target on both sides: half scale
    ((960, 1280), (224, 224), 4),
    ((1800, 1900), (224, 224), 8),
    ((400, 640), (224, 224), 1),   # under 2x on one side: full scale
    ((480, 640), None, 1),
])
def test_jpeg_dct_scaled_decode(jpeg_decoder, size, target, ratio):
    data = _encode(_photo(*size), "JPEG", quality=85)
    got = decode_image(data, channels=3, target=target)
    want_shape = (-(-size[0] // ratio), -(-size[1] // ratio), 3)
    assert got.shape == want_shape
    if target:
        assert got.shape[0] >= target[0] and got.shape[1] >= target[1]
    _assert_jpeg_close(got, _tf_decode(data, 3, ratio))


def _rgba(h=9, w=13, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "RGBA", "P", "I;16"])
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_png_equals_tensorflow(mode, channels):
    if mode == "I;16":
        data = _encode(np.random.default_rng(2).integers(0, 65536, (9, 13)).astype(np.uint16), "PNG")
    else:
        data = _encode(_rgba(), "PNG", mode)
    got, want = decode_image(data, channels=channels), _tf_decode(data, channels or 0)
    if mode == "1" and channels == 4:
        # The one difference on purpose: TensorFlow fills a 1-bit PNG's added alpha with 1, not opaque 255.
        assert (want[..., 3] == 1).all() and (got[..., 3] == 255).all()
        got, want = got[..., :3], want[..., :3]
    np.testing.assert_array_equal(got, want)


def test_palette_png_with_transparency_has_alpha():
    img = Image.fromarray(_rgba()[..., :3]).convert("P")
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=0)
    data = buf.getvalue()
    got = decode_image(data)
    assert got.shape[-1] == 4
    np.testing.assert_array_equal(got, _tf_decode(data))


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("channels", [None, 3, 4])
@pytest.mark.parametrize("top_down", [False, True])
def test_bmp_equals_tensorflow(mode, channels, top_down):
    data = _encode(_rgba(7, 5), "BMP", mode)  # width 5: rows padded to 4 bytes
    if mode == "RGBA":  # Pillow writes 32-bit BMPs; TensorFlow reads the fourth byte as alpha
        assert struct.unpack_from("<H", data, 28)[0] == 32
    if top_down:
        data = _top_down(data)
    np.testing.assert_array_equal(decode_image(data, channels=channels), _tf_decode(data, channels or 0))


def _top_down(data: bytes) -> bytes:
    """The same BMP with its rows stored top-down (a negative height)."""
    offset, = struct.unpack_from("<I", data, 10)
    width, height, _, bits = struct.unpack_from("<iiHH", data, 18)
    stride = (width * bits + 31) // 32 * 4
    rows = [data[offset + k * stride: offset + (k + 1) * stride] for k in range(height)]
    head = bytearray(data[:offset])
    struct.pack_into("<i", head, 22, -height)
    return bytes(head) + b"".join(reversed(rows))


def test_bmp_grey_channel_as_the_reader_converts():
    data = _encode(_rgba(), "BMP", "RGB")
    import tensorflow as tf

    want = tf.image.rgb_to_grayscale(_tf_decode(data, 3)).numpy()
    got = decode_image(data, channels=1)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("channels", [None, 3])
def test_gif_first_frame_equals_tensorflow(channels):
    frames = [Image.fromarray(_rgba(seed=s)[..., :3]).convert("P") for s in (1, 2)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    data = buf.getvalue()
    np.testing.assert_array_equal(decode_image(data, channels=channels), _tf_decode(data, channels or 0))


@pytest.mark.parametrize("mode, kw", [("RGB", {"lossless": True}), ("RGBA", {"lossless": True}),
                                      ("RGB", {"quality": 80})])
def test_webp_equals_tensorflow(mode, kw):
    data = _encode(_rgba(), "WEBP", mode, **kw)
    np.testing.assert_array_equal(decode_image(data), _tf_decode(data))


def _jpeg() -> bytes:
    return _encode(_photo(32, 40), "JPEG")


@pytest.mark.parametrize("data, match", [
    (b"", r"not a valid image: empty \(0 bytes\)"),
    (b"GIF8\x00hello", r"not a valid image: unknown format \(first bytes 47 49 46 38"),
    (b"II*\x00" + bytes(40), r"not a valid image: unknown format"),  # TIFF: TensorFlow cannot read it either
    (_jpeg()[:200], r"not a valid image: truncated JPEG: no end-of-image marker"),
    (_encode(_rgba(), "PNG")[:60], r"not a valid image: truncated PNG: no IEND chunk"),
    (b"\xff\xd8\xff\xe0" + bytes(50) + b"\xff\xd9", r"not a valid image: (JPEG|OpenCV)"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30) + b"IEND", r"not a valid image: PNG"),
    (b"BM" + bytes(10), r"not a valid image: BMP"),
])
def test_bad_bytes_are_named(jpeg_decoder, data, match):
    with pytest.raises(ImageDecodeError, match=match) as e:
        decode_image(data)
    assert isinstance(e.value, TfrecError) and isinstance(e.value, ValueError)


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming width x height pixels (no real pixel data behind it)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _bomb_bmp(width: int, height: int) -> bytes:
    head = bytearray(54)
    head[:2] = b"BM"
    struct.pack_into("<IIiiHHI", head, 10, 54, 40, width, height, 1, 24, 0)
    return bytes(head)


def _bomb_jpeg(width: int, height: int) -> bytes:
    data = bytearray(_jpeg())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


@pytest.mark.parametrize("make", [_bomb_png, _bomb_bmp, _bomb_jpeg])
@pytest.mark.parametrize("width, height", [(20_000, 10_000), (65_000, 2_754)])
def test_pixel_cap(jpeg_decoder, make, width, height):
    assert width * height > MAX_PIXELS
    with pytest.raises(ImageDecodeError, match=r"image too large: .*exceeds"):
        decode_image(make(width, height))


def test_decoder_choice(monkeypatch):
    try:
        import simplejpeg  # noqa: F401
        assert get_decoder() == "simplejpeg"  # the fastest measured, when installed
    except ImportError:
        assert get_decoder() == "pillow"
    with pytest.raises(TfrecError, match=r"set_decoder: unknown JPEG decoder 'libjpeg'; decoders: pillow, simplejpeg"):
        set_decoder("libjpeg")
    monkeypatch.setenv(decode.DECODER_ENV, "nope")
    with pytest.raises(TfrecError, match=r"TFREC_JPEG_DECODER: unknown JPEG decoder 'nope'"):
        get_decoder()
    monkeypatch.setenv(decode.DECODER_ENV, "pillow")
    assert get_decoder() == "pillow"


def test_missing_decoder_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # import simplejpeg raises ImportError
    with pytest.raises(TfrecError, match=r"the simplejpeg JPEG decoder is not installed: pip install simplejpeg"):
        set_decoder("simplejpeg")


def test_bad_channels():
    with pytest.raises(TfrecError, match="channels must be None, 1, 3 or 4, not 2"):
        decode_image(_jpeg(), channels=2)


def test_imports_no_tensorflow():
    code = ("import sys; import tfrec.access.decode, tfrec.access.augment; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
