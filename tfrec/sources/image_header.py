"""What a detection worker needs from a JPEG or PNG header, read without Pillow: size, channels, EXIF orientation.

Opening each image with Pillow only to learn these cost more than the rest of a detection record's work
(benchmarks/convert_detection.py); a few hundred bytes of header say the same. Anything this does not
recognise returns None, and the caller opens the image with Pillow as before.
"""
from __future__ import annotations

# JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), which carry the size and component count.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset((0x01, *range(0xD0, 0xD9)))  # TEM, RST0-7, SOI: no length field
_PNG = b"\x89PNG\r\n\x1a\n"


def _exif_orientation(data: bytes, start: int, end: int) -> int:
    """The Orientation tag (0x0112) of IFD0 in the TIFF structure at data[start:end]; 1 when absent or unreadable."""
    tiff = data[start:end]
    if tiff[:4] == b"II*\x00":
        order = "little"
    elif tiff[:4] == b"MM\x00*":
        order = "big"
    else:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    for i in range(int.from_bytes(tiff[ifd : ifd + 2], order)):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return 1
        if int.from_bytes(tiff[entry : entry + 2], order) == 0x0112:
            if int.from_bytes(tiff[entry + 2 : entry + 4], order) != 3:  # SHORT
                return 1
            return int.from_bytes(tiff[entry + 8 : entry + 10], order)
    return 1


def jpeg_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, components, EXIF orientation) from a baseline or progressive JPEG's markers, or None."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, n, orientation = 2, len(data), 1
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        seg = pos + 4
        if length < 2 or pos + 2 + length > n:
            return None
        if marker == 0xE1 and data[seg : seg + 6] == b"Exif\x00\x00" and orientation == 1:
            orientation = _exif_orientation(data, seg + 6, pos + 2 + length)
        elif marker in _SOF:
            if length < 8:
                return None
            height = int.from_bytes(data[seg + 1 : seg + 3], "big")
            width = int.from_bytes(data[seg + 3 : seg + 5], "big")
            return (width, height, data[seg + 5], orientation) if width and height else None
        elif marker == 0xDA:  # scan data before any frame header
            return None
        pos += 2 + length
    return None


def png_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk, or None."""
    if data[:8] != _PNG or data[12:16] != b"IHDR" or len(data) < 29:
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return (width, height, data[24], data[25]) if width and height else None
