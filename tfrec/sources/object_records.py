"""One detection-layout image as an Example: read the file, store it upright, apply the box rule (objects.py),
make masks when the schema has them, and serialize with the Object Detection API's keys. Runs in the workers."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from typing import Any

import numpy as np

from ..codec.images import PIL_FORMATS, tf_unreadable, truncation_reason
from ..codec.schema import Schema
from ..errors import SourceError
from ._checks import file_kind
from .masks import object_mask, png_bytes
from .image_header import jpeg_header, png_header
from .object_example import encode_object_example
from .objects import CLIPPED, DROPPED, NO_BOX, ROTATED, SIZE, ImageAnnotation, check_box, event

# EXIF orientation tag (0x0112): 1 is upright; 2-8 are flips and rotations a viewer applies.
_ORIENTATION = 0x0112
# The formats the Object Detection API's decoder reads (tf.image.decode_image would read more, but the
# API's image/format is jpeg or png): anything else is re-encoded as PNG.
STORED_FORMATS = ("jpeg", "png")


class WorkerOptions(tuple):
    """(schema, encode, quality, max_pixels, exif_transpose): what a worker needs, picklable."""

    @classmethod
    def of(cls, schema: Schema, encode: str | None, quality: int, max_pixels: int, exif: bool) -> "WorkerOptions":
        return cls((schema, encode, quality, max_pixels, exif))


def _read(full: str) -> tuple[bytes | None, str]:
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        return None, f"cannot read: {e.strerror}"
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return None, f"not a regular file ({file_kind(mode)}); only regular files are read"
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(), ""
    except OSError as e:
        return None, f"cannot read: {e.strerror}"
    finally:
        os.close(fd)


def _reencode(img, fmt: str, quality: int) -> tuple[bytes, str]:
    """The picture upright (EXIF applied), 8-bit RGB, as JPEG (a JPEG source, or --encode jpeg) or PNG."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        img = img.point(lambda v: v / 256).convert("L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    img = img.convert("RGB")
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue(), fmt


def _header(data: bytes) -> tuple[str, int, int, int] | None:
    """(format, width, height, EXIF orientation) when the header alone shows the bytes can be stored as they
    are (an 8-bit PNG, or a 1- or 3-component JPEG), else None (Pillow decides)."""
    head = jpeg_header(data)
    if head is not None:
        w, h, components, orientation = head
        return ("jpeg", w, h, orientation) if components in (1, 3) else None
    head = png_header(data)
    if head is not None and head[2] <= 8:
        return "png", head[0], head[1], 1
    return None


def _image(data: bytes, name: str, options: WorkerOptions) -> tuple[Any, str, list[dict]]:
    """((bytes to store, format, width, height), '', events) or (None, why the image is skipped, []); the
    events name a rotation. Headers are read without Pillow where they suffice (image_header.py)."""
    _, encode, quality, max_pixels, exif = options
    if not data:
        return None, "empty file (0 bytes)", []
    head = None if encode else _header(data)
    if head is None:
        return _image_pillow(data, name, options)
    fmt, w, h, orientation = head
    if w * h > max_pixels:
        return None, f"image too large: {w}x{h} = {w * h} pixels exceeds the cap of {max_pixels}", []
    truncated = truncation_reason(data, fmt)
    if truncated:
        return None, truncated, []
    if exif and orientation not in (1, None):
        return _image_pillow(data, name, options)  # stored upright: re-encoded by Pillow
    return (data, fmt, w, h), "", []


def _image_pillow(data: bytes, name: str, options: WorkerOptions) -> tuple[Any, str, list[dict]]:
    """_image through Pillow: any format it reads, rotated upright, re-encoded where needed or asked."""
    from PIL import Image, UnidentifiedImageError

    _, encode, quality, max_pixels, exif = options
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                img = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = limit
            fmt = PIL_FORMATS.get(img.format or "")
            if fmt is None:
                return None, f"unsupported image format {img.format}", []
            w, h = img.size
            if w * h > max_pixels:
                return None, f"image too large: {w}x{h} = {w * h} pixels exceeds the cap of {max_pixels}", []
            truncated = truncation_reason(data, fmt)
            if truncated:
                return None, truncated, []
            events = []
            orientation = img.getexif().get(_ORIENTATION, 1) if fmt == "jpeg" else 1
            rotate = exif and orientation not in (1, None)
            if rotate:
                events.append(event(name, ROTATED, f"EXIF orientation {orientation}: stored upright (re-encoded)"))
            target = encode or (fmt if fmt in STORED_FORMATS else "png")
            if rotate or encode or target != fmt or tf_unreadable(data, fmt, img.mode):
                data, fmt = _reencode(img, target, quality)
                if rotate and orientation in (5, 6, 7, 8):
                    w, h = h, w
    except UnidentifiedImageError:
        return None, "not a valid image: Pillow cannot identify its format", []
    except (OSError, ValueError, SyntaxError) as e:
        return None, f"not a valid image: {e}", []
    return (data, fmt, w, h), "", events


MASK_KEYS = ("image/object/mask", "image/segmentation/class/encoded")


def wants_masks(schema: Schema) -> bool:
    """Whether the schema asks for masks (instance or semantic segmentation)."""
    return any(k in schema for k in MASK_KEYS)


def _objects(ann: ImageAnnotation, name: str, width: int, height: int, want_masks: bool) -> tuple[dict, list[dict]]:
    """The per-object columns after the box rule (objects.py; all of one length), and the events."""
    objs = ann.objects
    if not objs:
        return _EMPTY_COLUMNS, []
    sx, sy = (width, height) if ann.units == "normalised" else (1, 1)
    events, kept, boxes = [], [], []
    for i, o in enumerate(objs):
        if o.box is None:
            events.append(event(name, DROPPED, NO_BOX, i, **{"class": o.text}))
            continue
        px = (o.box[0] * sx, o.box[1] * sy, o.box[2] * sx, o.box[3] * sy)
        box, why = check_box(px, width, height)
        if why:
            shown = [round(float(v), 3) for v in px]
            if box is None:
                events.append(event(name, DROPPED, why, i, box=shown, **{"class": o.text}))
                continue
            events.append(event(name, CLIPPED, "overhang clipped to the image", i, box=shown, **{"class": o.text}))
        kept.append(o)
        boxes.append(box)
    cols = {
        "xmin": [b[0] / width for b in boxes], "ymin": [b[1] / height for b in boxes],
        "xmax": [b[2] / width for b in boxes], "ymax": [b[3] / height for b in boxes],
        "label": [o.label for o in kept], "text": [o.text for o in kept], "crowd": [o.is_crowd for o in kept],
        "area": [o.area if o.area is not None else (b[2] - b[0]) * (b[3] - b[1]) for o, b in zip(kept, boxes)],
        "difficult": [o.difficult for o in kept], "truncated": [o.truncated for o in kept],
        "view": [o.view for o in kept],
        "mask": [object_mask(o.segmentation, b, height, width) for o, b in zip(kept, boxes)] if want_masks else [],
    }
    return cols, events


_EMPTY_COLUMNS = {k: [] for k in ("xmin", "xmax", "ymin", "ymax", "label", "text", "crowd", "area", "difficult",
                                  "truncated", "view", "mask")}


def make_object_record(item, options: WorkerOptions) -> tuple[bytes | None, str, str, list[dict]]:
    """Reads one image and serializes its Example: (record, '', stored format, annotation events), or
    (None, why the image was skipped, '', [])."""
    full, name, _, _, ann = item
    data, why = _read(full)
    if data is None:
        return None, why, "", []
    stored, why, events = _image(data, name, options)
    if stored is None:
        return None, why, "", []
    data, fmt, width, height = stored
    if ann.width is not None and ann.height is not None and (ann.width, ann.height) != (width, height):
        events.append(event(name, SIZE, f"annotated size {ann.width}x{ann.height} differs from the decoded "
                                         f"{width}x{height}: boxes normalised by the decoded size"))
    schema = options[0]
    try:
        cols, box_events = _objects(ann, name, width, height, wants_masks(schema))
    except (SourceError, ValueError, TypeError, KeyError) as e:  # a malformed segmentation: the image is skipped
        return None, f"bad segmentation: {e}", "", []
    sample = _sample(schema, data, fmt, width, height, ann, cols)
    return encode_object_example(schema, sample), "", fmt, events + box_events


def _sample(schema: Schema, data: bytes, fmt: str, width: int, height: int, ann: ImageAnnotation, cols: dict) -> dict:
    """Every key a detection-layout schema may hold; the encoder takes the ones the schema declares."""
    sample = {
        "image/encoded": data, "image/format": fmt, "image/height": height, "image/width": width,
        "image/filename": ann.filename, "image/source_id": ann.source_id,
        "image/key/sha256": hashlib.sha256(data).hexdigest(),
        "image/object/bbox/xmin": cols["xmin"], "image/object/bbox/xmax": cols["xmax"],
        "image/object/bbox/ymin": cols["ymin"], "image/object/bbox/ymax": cols["ymax"],
        "image/object/class/text": cols["text"], "image/object/class/label": cols["label"],
        "image/object/is_crowd": cols["crowd"], "image/object/area": cols["area"],
        "image/object/difficult": cols["difficult"], "image/object/truncated": cols["truncated"],
        "image/object/view": cols["view"],
        "image/class/label": list(ann.labels), "image/class/text": list(ann.label_texts),
    }
    if "image/object/mask" in schema:
        sample["image/object/mask"] = [png_bytes(m) for m in cols["mask"]]
    if "image/segmentation/class/encoded" in schema:
        sample["image/segmentation/class/encoded"] = png_bytes(_class_mask(cols, height, width))
        sample["image/segmentation/class/format"] = "png"
    return sample


def _class_mask(cols: dict, height: int, width: int) -> np.ndarray:
    """The semantic class mask: each object's pixels take its 1-based class id (later objects on top)."""
    out = np.zeros((height, width), np.uint8)
    for mask, label in zip(cols["mask"], cols["label"]):
        out[mask.astype(bool)] = min(int(label), 255)
    return out
