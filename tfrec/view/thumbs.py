"""Pictures of records: images decoded with Pillow (raw pixels or encoded bytes), thumbnails made on demand and cached.

Nothing here raises on bad data: an image that cannot be shown becomes a `Card` with the reason,
and a grey placeholder picture, so one bad record never breaks a page.
"""
from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass

import numpy as np

from ..check import draw_objects, is_detection, objects_of
from ..codec.images import MAX_PIXELS, image_format
from ..codec.example import ExampleDecodeError
from ..codec.schema import FeatureSpec
from ..errors import CorruptRecordError
from .cache import LruCache
from .source import DatasetView, NotFound

THUMB_PIXELS = 128  # the longer side of a gallery thumbnail; smaller images are kept at their size
# Thumbnails are ~1-6 KB each, so 64 MiB holds some 10,000-60,000 of them (hundreds of pages).
THUMB_CACHE_BYTES = 64 << 20
JPEG_QUALITY = 85
# What a browser shows as it is: these images are served with their stored bytes.
BROWSER_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp"}
_GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "F")


class ImageError(Exception):
    """Why a record's image cannot be shown."""


@dataclass(frozen=True)
class Card:
    """What the gallery shows for one record: its class, a thumbnail, or the reason there is none."""

    shard: int
    index: int
    label: int | None
    body: bytes  # the thumbnail (or the placeholder when `reason` is set)
    content_type: str
    reason: str = ""  # why the image is not shown: a damaged record, an undecodable image, no image
    size: tuple[int, int] | None = None  # the image's (height, width)


def decode_image(example: dict, spec: FeatureSpec | None, draft: int | None = None):
    """A record's image as a Pillow image (L, RGB or RGBA).

    Args:
        example: the decoded record.
        spec: the schema's image feature (None: the record has no image to show).
        draft: for JPEG, decode at a reduced scale that still covers this many pixels (thumbnails).

    Raises:
        ImageError: no image feature, a missing value, a raw image of the wrong size, undecodable bytes.
    """
    from PIL import Image

    if spec is None:
        raise ImageError("no image feature in the schema")
    kind, values = example.get(spec.name, ("", []))
    if not values or kind != "bytes":
        raise ImageError(f"feature {spec.name!r} is missing or holds no bytes")
    value = bytes(values[0])
    if spec.encoding == "raw":
        h, w, c = spec.shape
        if len(value) != h * w * c:
            raise ImageError(f"raw image is {len(value):,} bytes; shape {h}x{w}x{c} needs {h * w * c:,}")
        pixels = np.frombuffer(value, np.uint8).reshape(h, w, c)
        return Image.fromarray(pixels[:, :, 0] if c == 1 else pixels, {1: "L", 3: "RGB", 4: "RGBA"}[c])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(value))
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"{img.width}x{img.height} = {img.width * img.height:,} pixels exceeds the cap of {MAX_PIXELS:,}")
            if draft and img.format == "JPEG":
                img.draft("RGB" if img.mode != "L" else "L", (draft, draft))
            img.load()
    except ImageError:
        raise
    except Exception as e:  # noqa: BLE001  Pillow raises many types on bad data; none may escape
        raise ImageError(f"does not decode ({type(e).__name__}: {e})") from e
    if img.mode in _GREY_MODES:
        return img.convert("L") if img.mode != "L" else img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return img.convert("RGBA")
    return img.convert("RGB") if img.mode != "RGB" else img


def encode_picture(img, prefer_jpeg: bool) -> tuple[bytes, str]:
    """A Pillow image as (bytes, content type): JPEG for photos, PNG for small, grey or transparent ones."""
    out = io.BytesIO()
    if prefer_jpeg and img.mode == "RGB":
        img.save(out, "JPEG", quality=JPEG_QUALITY)
        return out.getvalue(), "image/jpeg"
    img.save(out, "PNG", optimize=False)
    return out.getvalue(), "image/png"


@functools.lru_cache(maxsize=8)
def placeholder(text: str) -> bytes:
    """A grey PNG with a short word on it, shown where a record's image cannot be."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (THUMB_PIXELS, THUMB_PIXELS // 2), (70, 70, 78))
    ImageDraw.Draw(img).text((8, THUMB_PIXELS // 4 - 6), text, fill=(235, 200, 120))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class Thumbnails:
    """Gallery cards made on demand from a DatasetView and kept in a bounded LRU cache."""

    def __init__(self, view: DatasetView, max_bytes: int = THUMB_CACHE_BYTES):
        self.view = view
        self.cache = LruCache(max_bytes, lambda card: len(card.body) + 256)

    def card(self, shard: int, index: int) -> Card:
        """The card of one record (NotFound for a record the dataset does not have)."""
        return self.cache.get((shard, index), lambda: self._make(shard, index))

    def _make(self, shard: int, index: int) -> Card:
        self.view.shard(shard)  # NotFound for a shard the dataset does not have
        try:
            _, example = self.view.example(shard, index)
        except NotFound as e:  # dataset.json counts a record its .idx does not list
            return Card(shard, index, None, placeholder("missing"), "image/png", str(e))
        except CorruptRecordError as e:
            return Card(shard, index, None, placeholder("damaged record"), "image/png", f"damaged record: {e.reason}")
        except ExampleDecodeError as e:
            return Card(shard, index, None, placeholder("not an Example"), "image/png", f"not a tf.train.Example: {e}")
        label = self.view.label_of(example)
        try:
            img = decode_image(example, self.view.image, draft=THUMB_PIXELS)
        except ImageError as e:
            word = "no image" if self.view.image is None else "cannot decode"
            return Card(shard, index, label, placeholder(word), "image/png", str(e))
        size = (img.height, img.width)
        big = max(img.size) > THUMB_PIXELS
        if big:
            img.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
        if is_detection(example):  # boxes are normalised: drawn on the thumbnail itself, crisp
            img = draw_objects(img, objects_of(example), self.view.label_map)
        body, ctype = encode_picture(img, prefer_jpeg=big)
        return Card(shard, index, label, body, ctype, "", size)

    def full(self, shard: int, index: int) -> tuple[bytes, str, str]:
        """(body, content type, reason) of a record's image at full size: the stored bytes when a browser shows them."""
        try:
            _, example = self.view.example(shard, index)
        except NotFound as e:
            return placeholder("missing"), "image/png", str(e)
        except CorruptRecordError as e:
            return placeholder("damaged record"), "image/png", f"damaged record: {e.reason}"
        except ExampleDecodeError as e:
            return placeholder("not an Example"), "image/png", f"not a tf.train.Example: {e}"
        try:
            img = decode_image(example, self.view.image)
        except ImageError as e:
            return placeholder("cannot decode"), "image/png", str(e)
        value = bytes(example[self.view.image.name][1][0])
        fmt = image_format(value) if self.view.image.encoding != "raw" else ""
        if is_detection(example):
            body, ctype = encode_picture(draw_objects(img, objects_of(example), self.view.label_map),
                                         prefer_jpeg=fmt == "jpeg")
            return body, ctype, ""
        if fmt in BROWSER_TYPES:
            return value, BROWSER_TYPES[fmt], ""
        body, ctype = encode_picture(img, prefer_jpeg=False)
        return body, ctype, ""
