"""Object masks from COCO segmentations: polygons rasterised with Pillow, RLE decoded in NumPy (no pycocotools),
and PNG encoding of instance and class masks."""
from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import SourceError


def rle_counts(counts: str | bytes) -> list[int]:
    """The run lengths of COCO's compressed RLE string (maskApi.c rleFrString: 5 bits a character, offset 48,
    a continuation bit, sign extension, and runs after the second stored as differences)."""
    s = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    out: list[int] = []
    p = 0
    while p < len(s):
        x = k = 0
        more = True
        while more:
            if p >= len(s):
                raise SourceError(f"truncated RLE string at character {p}")
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def decode_rle(rle: dict, height: int, width: int) -> np.ndarray:
    """A COCO RLE ({'size': [h, w], 'counts': list or string}) as an (h, w) uint8 0/1 mask.

    Runs alternate 0s and 1s, starting with 0s, over the pixels in column-major order.

    Raises:
        SourceError: the RLE's size differs from the image's, or its runs do not cover the image exactly.
    """
    size = rle.get("size")
    if size is not None and list(size) != [height, width]:
        raise SourceError(f"RLE size {list(size)} differs from the image's [{height}, {width}]")
    counts = rle.get("counts")
    runs = rle_counts(counts) if isinstance(counts, (str, bytes)) else [int(c) for c in counts]
    if any(r < 0 for r in runs) or sum(runs) != height * width:
        raise SourceError(f"RLE runs cover {sum(runs)} pixels; the image has {height * width}")
    values = np.arange(len(runs)) % 2
    flat = np.repeat(values.astype(np.uint8), runs)
    return flat.reshape(width, height).T.copy()


def polygon_mask(polygons: list, height: int, width: int) -> np.ndarray:
    """COCO polygons ([[x1, y1, x2, y2, ...], ...], pixels) filled as an (h, w) uint8 0/1 mask."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        xy = [float(v) for v in poly]
        if len(xy) >= 6:
            draw.polygon(list(zip(xy[0::2], xy[1::2])), fill=1, outline=1)
    return np.asarray(img, dtype=np.uint8)


def box_mask(box: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    """A filled box as a mask (for objects without a segmentation)."""
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    mask[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = 1
    return mask


def object_mask(segmentation: Any, box: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    """An object's mask from its COCO segmentation (polygons or RLE), or its box when it has none."""
    if isinstance(segmentation, dict):
        return decode_rle(segmentation, height, width)
    if isinstance(segmentation, (list, tuple)) and segmentation:
        return polygon_mask(list(segmentation), height, width)
    return box_mask(box, height, width)


def png_bytes(mask: np.ndarray) -> bytes:
    """A one-channel uint8 array as PNG bytes (deterministic: fixed compression level)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(buf, "PNG", compress_level=6)
    return buf.getvalue()
