"""Encoded-image facts that need no pixel decode: Pillow's format names and truncation checks."""
from __future__ import annotations

# Pillow's format name -> the name tfrec stores (MPO is a multi-picture JPEG, read as its first frame).
PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "GIF": "gif", "WEBP": "webp", "MPO": "jpeg"}


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
