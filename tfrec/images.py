"""Encoded-image facts that need no pixel decode: Pillow's format names and truncation checks."""
from __future__ import annotations

# Pillow's format name -> the name tfrec stores (MPO is a multi-picture JPEG, read as its first frame).
PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "GIF": "gif", "WEBP": "webp", "MPO": "jpeg"}


def truncation_reason(data: bytes, fmt: str) -> str:
    """Why an encoded image is cut short, judged from its trailer alone, or '' when it looks whole."""
    if fmt == "jpeg" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        # 0xFF bytes inside entropy-coded data are stuffed, so FFD9 after the last SOS is the real EOI.
        return "truncated JPEG: no end-of-image marker after the image data"
    if fmt == "png" and data.rfind(b"IEND") < 0:
        return "truncated PNG: no IEND chunk"
    return ""
