"""Encoded-image facts that need no pixel decode: the format from the first bytes, the size from the header,
the one pixel cap, Pillow's format names, truncation checks, and what TensorFlow's decoders cannot read as stored."""
from __future__ import annotations

import io
import struct
import warnings

# The one cap on an image's pixel count (width x height), against decompression bombs: `tfrec convert`
# skips a larger image (SourceOptions.max_pixels, --max-pixels, defaults to it), verify reports one, the
# viewer will not thumbnail one. Twice Pillow's decompression-bomb warning threshold (89,478,485).
MAX_PIXELS = 178_956_970
# Magic bytes of the encoded image formats tf.io.decode_image reads.
IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
# Pillow mode -> channels after decoding; modes with 2 channels are read as 4 (RGBA).
_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "F": 1, "LA": 4, "PA": 4, "RGBA": 4, "P": 3, "RGB": 3, "YCbCr": 3, "CMYK": 3}
# image_header reads only the header: a larger claim is not a size to trust (a sanity bound for reporting
# shapes, above MAX_PIXELS; not a decode cap).
_HEADER_PIXELS_CAP = 1 << 28


def image_format(value: bytes) -> str:
    """'jpeg', 'png', 'gif', 'bmp' or 'webp' from the first bytes of an encoded image, or ''."""
    for magic, fmt in IMAGE_MAGIC:
        if value.startswith(magic):
            return fmt
    if value[:4] == b"RIFF" and value[8:12] == b"WEBP":
        return "webp"
    return ""


def image_header(value: bytes) -> tuple[int, int, int] | None:
    """(height, width, channels) of an encoded image from its header alone (no pixel decoding), or None."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(value)) as img:
                w, h = img.size
                return (h, w, _CHANNELS.get(img.mode, 3)) if 0 < w * h <= _HEADER_PIXELS_CAP else None
    except Exception:  # noqa: BLE001  any undecodable header simply is not an image
        return None


def as_text(value: bytes) -> str | None:
    """The bytes as a string when they are printable UTF-8 text, else None."""
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in "\t\n\r" for c in text) else None

# Pillow's format name -> the name tfrec stores (MPO is a multi-picture JPEG, read as its first frame;
# a TIFF is read as its first page and always re-encoded, see tf_unreadable).
PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "GIF": "gif", "WEBP": "webp", "MPO": "jpeg", "TIFF": "tiff"}


def truncation_reason(data: bytes, fmt: str) -> str:
    """Why an encoded image is cut short, judged from its trailer alone, or '' when it looks whole."""
    if fmt == "jpeg":
        # 0xFF bytes inside entropy-coded data are stuffed, so an FFD9 with no SOS (FFDA) after it is
        # the real end of image; searching only after the last FFD9 keeps this check off the scan data.
        eoi = data.rfind(b"\xff\xd9")
        if eoi < 0 or data.find(b"\xff\xda", eoi) >= 0:
            return "truncated JPEG: no end-of-image marker after the image data"
    if fmt == "png" and data.rfind(b"IEND") < 0:
        return "truncated PNG: no IEND chunk"
    return ""


# Pillow modes of more than 8 bits per sample: TensorFlow would decode them, but tfrec stores 8-bit images.
HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
_BMP_COMPRESSIONS = {1: "RLE-compressed BMP (RLE8)", 2: "RLE-compressed BMP (RLE4)",
                     3: "bitfields BMP (TensorFlow ignores the colour masks)", 4: "BMP holding a JPEG",
                     5: "BMP holding a PNG", 6: "bitfields BMP (TensorFlow ignores the colour masks)"}


def tf_unreadable(data: bytes, fmt: str, mode: str) -> str:
    """Why TensorFlow's decoders would not give the picture Pillow sees from these bytes as stored, or ''.

    Decided from the header and Pillow's mode alone (no TensorFlow, no pixel decode); the converter
    re-encodes what this names. tests/sources/test_real_files.py proves the rule against TensorFlow
    on Pillow's own collection of odd files.

    Args:
        data: the encoded image.
        fmt: its format as tfrec names it (PIL_FORMATS).
        mode: Pillow's mode for it (`Image.open(...).mode`).
    """
    if fmt == "jpeg" and mode in ("CMYK", "YCCK"):
        return "CMYK JPEG"
    if fmt == "png" and mode in HIGH_BIT_MODES:
        return "16-bit PNG"
    if fmt == "bmp":
        return _bmp_unreadable(data)
    if fmt == "tiff":
        return "TIFF (TensorFlow has no TIFF decoder)"
    if fmt == "gif":
        # giflib (TensorFlow's decoder) rejects GIFs Pillow reads (no colour map, empty comment
        # sub-blocks), and sizes an image by its first frame where Pillow uses the logical screen.
        return "GIF (TensorFlow's GIF decoder differs from Pillow's)"
    if fmt == "webp":
        flags = data[20] if data[12:16] == b"VP8X" and len(data) > 20 else 0
        if mode in ("RGBA", "LA", "PA") or flags & 0x10:
            return "WebP with alpha (TensorFlow's WebP decoder cannot give 3 channels)"
        if flags & 0x02:
            return "animated WebP"
    return ""


def _bmp_unreadable(data: bytes) -> str:
    """TensorFlow reads only uncompressed 24- and 32-bit BMPs with a 40-byte or longer header, whose
    size is exactly the header plus the pixel rows (it reads an 8-bit BMP's palette indices as gray)."""
    if len(data) < 34:
        return "BMP shorter than its header"
    (offset,) = struct.unpack_from("<I", data, 10)
    (header,) = struct.unpack_from("<I", data, 14)
    if header < 40:
        return "OS/2 BMP (12-byte header)"
    width, height, _, bits, compression = struct.unpack_from("<iiHHI", data, 18)
    if compression:
        return _BMP_COMPRESSIONS.get(compression, f"BMP with compression {compression}")
    if bits not in (24, 32):
        return f"{bits}-bit BMP (TensorFlow reads only 24- and 32-bit pixels as colours)"
    expected = offset + (width * bits + 31) // 32 * 4 * abs(height)
    if len(data) > expected:
        return "BMP with bytes after its pixels (TensorFlow needs the exact size)"
    if len(data) < expected:
        return "BMP shorter than its header says"
    return ""
