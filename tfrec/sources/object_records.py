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


def _image(data: bytes, name: str, options: WorkerOptions) -> tuple[Any, str, list[dict]]:
    """(bytes to store, format, width, height) or a skip reason; with the rotation event when rotated."""
    from PIL import Image, UnidentifiedImageError

    _, encode, quality, max_pixels, exif = options
    if not data:
        return None, "empty file (0 bytes)", []
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


def _objects(ann: ImageAnnotation, name: str, width: int, height: int, want_masks: bool) -> tuple[dict, list[dict]]:
    """The per-object lists after the box rule (all of one length), and the events."""
    cols: dict[str, list] = {k: [] for k in ("xmin", "xmax", "ymin", "ymax", "label", "text", "crowd", "area",
                                              "difficult", "truncated", "view", "mask")}
    events = []
    sx, sy = (width, height) if ann.units == "normalised" else (1.0, 1.0)
    for i, o in enumerate(ann.objects):
        if o.box is None:
            events.append(event(name, DROPPED, NO_BOX, i, **{"class": o.text}))
            continue
        px = (o.box[0] * sx, o.box[1] * sy, o.box[2] * sx, o.box[3] * sy)
        box, why = check_box(px, width, height)
        if box is None:
            events.append(event(name, DROPPED, why, i, box=[round(v, 3) for v in px], **{"class": o.text}))
            continue
        if why == CLIPPED:
            events.append(event(name, CLIPPED, "overhang clipped to the image", i, box=[round(v, 3) for v in px],
                                **{"class": o.text}))
        x0, y0, x1, y1 = box
        cols["xmin"].append(x0 / width)
        cols["xmax"].append(x1 / width)
        cols["ymin"].append(y0 / height)
        cols["ymax"].append(y1 / height)
        cols["label"].append(o.label)
        cols["text"].append(o.text)
        cols["crowd"].append(o.is_crowd)
        cols["area"].append(float(o.area) if o.area is not None else (x1 - x0) * (y1 - y0))
        cols["difficult"].append(o.difficult)
        cols["truncated"].append(o.truncated)
        cols["view"].append(o.view)
        if want_masks:
            cols["mask"].append(object_mask(o.segmentation, box, height, width))
    return cols, events


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
    masks = "image/object/mask" in schema or "image/segmentation/class/encoded" in schema
    try:
        cols, box_events = _objects(ann, name, width, height, masks)
    except (SourceError, ValueError, TypeError, KeyError) as e:  # a malformed segmentation: the image is skipped
        return None, f"bad segmentation: {e}", "", []
    sample = _sample(schema, data, fmt, width, height, ann, cols)
    return schema.encode(sample), "", fmt, events + box_events


def _sample(schema: Schema, data: bytes, fmt: str, width: int, height: int, ann: ImageAnnotation, cols: dict) -> dict:
    """Every key a detection-layout schema may hold; the schema's encode takes the ones it declares."""
    f32 = np.float32
    sample = {
        "image/encoded": data, "image/format": fmt, "image/height": height, "image/width": width,
        "image/filename": ann.filename, "image/source_id": ann.source_id,
        "image/key/sha256": hashlib.sha256(data).hexdigest(),
        "image/object/bbox/xmin": np.asarray(cols["xmin"], f32), "image/object/bbox/xmax": np.asarray(cols["xmax"], f32),
        "image/object/bbox/ymin": np.asarray(cols["ymin"], f32), "image/object/bbox/ymax": np.asarray(cols["ymax"], f32),
        "image/object/class/text": cols["text"], "image/object/class/label": np.asarray(cols["label"], np.int64),
        "image/object/is_crowd": np.asarray(cols["crowd"], np.int64), "image/object/area": np.asarray(cols["area"], f32),
        "image/object/difficult": np.asarray(cols["difficult"], np.int64),
        "image/object/truncated": np.asarray(cols["truncated"], np.int64), "image/object/view": cols["view"],
        "image/class/label": np.asarray(ann.labels, np.int64), "image/class/text": list(ann.label_texts),
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
