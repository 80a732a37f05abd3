"""Image folders: one subfolder per class (optionally under train/val/test), or unlabelled; kept as encoded bytes."""
from __future__ import annotations

import functools
import io
import os
import re
import stat
import warnings
from dataclasses import replace

import numpy as np

from ..errors import SourceError
from ..codec.images import HIGH_BIT_MODES, PIL_FORMATS, tf_unreadable, truncation_reason
from ..io.journal import JOURNAL
from ..io.manifest import MANIFEST
from ..codec.schema import load_schema
from .model import MAX_LISTED_IGNORED, SourceData, SourceOptions, SplitData
from ._checks import file_kind

_NOT_REGULAR = "not a regular file ({}); only regular files are read"
# TIFFs are stored re-encoded as PNG (TensorFlow has no TIFF decoder), as odd GIFs and BMPs are.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
LOOSE_SHOWN = 5  # loose images named in the warning that leaves them out (then a count)
FLAT_NOTE = ("no class folders: an unlabelled dataset (images only, as Keras' labels=None); tfrec train and "
             "evaluate need a folder of class subfolders (SRC/<class>/<images>)")
LABELS_NONE_NOTE = "--labels none: every image under SRC (recursively), without labels, as Keras' labels=None"
UNLABELLED_DESCRIPTION = ("images without labels (an unlabelled image folder, Keras' labels=None); kept as their "
                          "original encoded bytes unless re-encoded")


def _subdirs(path: str, outputs: dict[str, str] | None = None) -> list[str]:
    """The folders in path, leaving out tfrec's own outputs (noted in `outputs`: name -> what marks it)."""
    found = []
    for d in sorted(os.listdir(path)):
        full = os.path.join(path, d)
        if d.startswith(".") or not os.path.isdir(full):
            continue
        marker = next((m for m in (MANIFEST, JOURNAL) if os.path.isfile(os.path.join(full, m))), None)
        if marker is None:
            found.append(d)
        elif outputs is not None:
            outputs[d] = marker
    return found


def _output_warnings(outputs: dict[str, str]) -> list[str]:
    return [f"left out folder {name!r}: it holds a tfrec output ({marker}), not a class"
            for name, marker in outputs.items()]


def _list_class(root: str, class_dir: str, label: int | None, options: SourceOptions, items: list, skipped: list,
                ignored: list) -> None:
    """Appends (path, relative name, label, size) for each image under class_dir, and to `ignored` the
    relative names of the other files (label None: an unlabelled folder)."""
    seen: set[tuple[int, int]] = set()  # (device, inode) of folders walked: symlink loops end here

    def unlistable(e: OSError) -> None:  # without it os.walk drops the folder and its images silently
        where = os.path.relpath(e.filename if e.filename is not None else class_dir, root)
        skipped.append({"path": text_name(where), "reason": f"cannot list folder: {e.strerror}"})

    for dirpath, dirs, files in os.walk(class_dir, onerror=unlistable, followlinks=options.follow_symlinks):
        try:
            st = os.stat(dirpath)
        except OSError as e:
            unlistable(e)
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            skipped.append({"path": text_name(os.path.relpath(dirpath, root)), "reason": "symlink loop: folder already listed"})
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        _list_files(root, dirpath, files, label, options, items, skipped, ignored)


def _list_files(root: str, dirpath: str, files: list[str], label: int | None, options: SourceOptions, items: list,
                skipped: list, ignored: list) -> None:
    """_list_class for the files (names) of one folder, not below it."""
    real_root = os.path.realpath(root)
    for name in sorted(files):
        full = os.path.join(dirpath, name)
        rel = os.path.relpath(full, root)
        shown = text_name(rel)
        if not name.lower().endswith(IMAGE_EXTENSIONS):
            ignored.append(shown)
            continue
        if os.path.islink(full) and not options.follow_symlinks:
            target = os.path.realpath(full)
            if os.path.commonpath([target, real_root]) != real_root:
                skipped.append({"path": shown, "reason": "symlink to outside the source tree (pass --follow-symlinks)"})
                continue
        try:
            st = os.stat(full)
        except OSError as e:
            skipped.append({"path": shown, "reason": f"cannot stat: {e.strerror}"})
            continue
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block open(), a device never end
            skipped.append({"path": shown, "reason": _NOT_REGULAR.format(file_kind(st.st_mode))})
            continue
        items.append((full, shown, label, st.st_size))  # shown: the name as stored (UTF-8 text)


def _loose(folder: str) -> list[str]:
    """The names of what sits directly in folder and is no folder (files, and links to no folder)."""
    try:
        return sorted(n for n in os.listdir(folder) if not os.path.isdir(os.path.join(folder, n)))
    except OSError:
        return []  # unlistable: reported where the folder is walked


def _loose_images(folder: str) -> list[str]:
    return [n for n in _loose(folder) if n.lower().endswith(IMAGE_EXTENSIONS)]


def _loose_warnings(path: str, folders: dict[str, str]) -> tuple[str, ...]:
    """Why images directly in these folders (folder -> what they are not in) were left out, naming them."""
    out = []
    for folder, outside in folders.items():
        loose = _loose_images(folder)
        if not loose:
            continue
        rel = os.path.relpath(folder, path)
        where = "the source folder" if rel == "." else f"{text_name(rel)}/"
        names = [text_name(os.path.normpath(os.path.join(rel, n))) for n in loose[:LOOSE_SHOWN]]
        more = f" and {len(loose) - LOOSE_SHOWN:,} more" if len(loose) > LOOSE_SHOWN else ""
        shown = ", ".join(names) + more
        said = (f", as Keras' labels='inferred' does: {shown}; pass --labels none to read every image without labels"
                if outside == "a class folder" else f": {shown}; move them into one to convert them")
        out.append(f"left out {len(loose):,} image{'s' if len(loose) != 1 else ''} directly in {where} "
                   f"(not in {outside}){said}")
    return tuple(out)


def read_image_folder(path: str, options: SourceOptions) -> SourceData:
    """Lists an image folder: class ids are the sorted class folder names; train/val/test kept.

    As Keras' image_dataset_from_directory: with labels 'inferred' (the default), images directly in
    a folder that has class folders are left out (and named in a warning); with labels 'none' every image
    under each split's folder is read, recursively, without labels. A folder with images directly in it
    and no class folders is read as with 'none' (Keras finds no images there), and the notes say so.

    Raises:
        SourceError: no class folders and no images, or no images in any of the class folders.
    """
    outputs: dict[str, str] = {}  # earlier outputs inside SRC: never classes
    top = _subdirs(path, outputs)
    split_layout = bool(top) and all(d.lower() in SPLIT_DIRS for d in top)
    split_roots = {SPLIT_DIRS[d.lower()]: os.path.join(path, d) for d in top} if split_layout else {"train": path}
    if split_layout:
        for split_dir in top:
            inner: dict[str, str] = {}
            _subdirs(os.path.join(path, split_dir), inner)
            outputs.update({f"{split_dir}/{k}": v for k, v in inner.items()})
    classes = sorted({c for r in split_roots.values() for c in _subdirs(r)})
    if options.labels == "none":
        return _read_unlabelled(path, split_roots, outputs, options, LABELS_NONE_NOTE)
    if not classes:
        if any(_loose_images(r) for r in split_roots.values()):
            return _read_unlabelled(path, split_roots, outputs, options, FLAT_NOTE)
        raise SourceError(f"{path}: no class subfolders and no image files (expected {path}/<class>/<image files>, "
                          "or images directly in it for an unlabelled dataset)")
    splits, skipped, ignored = {}, [], []
    for split, root in split_roots.items():
        items: list = []
        for label, cls in enumerate(classes):
            if os.path.isdir(os.path.join(root, cls)):
                _list_class(path, os.path.join(root, cls), label, options, items, skipped, ignored)
        if items:
            labels = np.array([it[2] for it in items], dtype=np.int64)
            splits[split] = SplitData(split, labels, items=items, source_bytes=sum(it[3] for it in items))
    if not splits:
        raise SourceError(f"{path}: class folders {classes[:5]} hold no image files ({', '.join(IMAGE_EXTENSIONS)})")
    loose = {**({path: "a train, val or test folder"} if split_layout else {}),
             **{root: "a class folder" for root in split_roots.values()}}
    class_warnings = tuple(_output_warnings(outputs)) + _loose_warnings(path, loose) + _class_warnings(classes, splits)
    schema = reencoded_schema((options.schema or load_schema("imagefolder")).with_class_names(classes), options)
    return _source_data(path, f"{len(classes)} classes", schema, splits, options, skipped, ignored, class_warnings,
                        labels="inferred")


def _source_data(path: str, what: str, schema, splits: dict, options: SourceOptions, skipped: list, ignored: list,
                 warnings: tuple, labels: str, notes: tuple = ()) -> SourceData:
    """An image folder's SourceData: its records are made by make_image_record with the options both modes share."""
    return SourceData(
        kind="imagefolder",
        description=f"image folder {os.path.abspath(path)} ({what})",
        schema=schema,
        splits=splits,
        make_record=functools.partial(make_image_record, options=_WorkerOptions.of(options, schema)),
        skipped=skipped,
        ignored=len(ignored),
        ignored_names=tuple(ignored[:MAX_LISTED_IGNORED]),
        name=os.path.basename(os.path.abspath(path)),
        warnings=warnings,
        notes=notes,
        labels=labels,
    )


def _read_unlabelled(path: str, split_roots: dict[str, str], outputs: dict[str, str], options: SourceOptions,
                     note: str) -> SourceData:
    """Every image under each split's folder (Keras' labels=None), with a schema that has no class label."""
    splits, skipped, ignored = {}, [], []
    for split, root in split_roots.items():
        items: list = []
        _list_files(path, root, _loose(root), None, options, items, skipped, ignored)
        for sub in _subdirs(root):
            _list_class(path, os.path.join(root, sub), None, options, items, skipped, ignored)
        if items:  # labels: placeholders (all 0), so --split splits at random as one class
            splits[split] = SplitData(split, np.zeros(len(items), np.int64), items=items,
                                      source_bytes=sum(it[3] for it in items))
    if not splits:
        raise SourceError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) under it")
    schema = reencoded_schema(_unlabelled_schema(options), options)
    split_layout = list(split_roots.values()) != [path]
    loose = {path: "a train, val or test folder"} if split_layout else {}
    return _source_data(path, "unlabelled", schema, splits, options, skipped, ignored,
                        tuple(_output_warnings(outputs)) + _loose_warnings(path, loose), labels="none", notes=(note,))


def _unlabelled_schema(options: SourceOptions):
    """The image folder schema without its class label; a user's schema must declare none.

    Raises:
        SourceError: the user's schema declares a class label, which an unlabelled folder cannot fill.
    """
    schema = options.schema or load_schema("imagefolder")
    labels = [f.name for f in schema.features if f.kind == "class_label"]
    if labels and options.schema is not None:
        raise SourceError(f"schema {schema.name!r} declares class label {labels[0]!r}, but the image folder is "
                          "unlabelled (no class folders, or --labels none): give a schema without it")
    if not labels:
        return schema
    return replace(schema, features=tuple(f for f in schema.features if f.kind != "class_label"),
                   description=UNLABELLED_DESCRIPTION)


def reencoded_schema(schema, options: SourceOptions):
    """The schema's image feature after --resize (a fixed shape) and --encode (one format)."""
    if options.resize:
        w, h = options.resize
        schema = schema.with_image(shape=(h, w, 3))
    if options.encode:
        schema = schema.with_image(encoding=options.encode)
    return schema


def _class_warnings(classes: list[str], splits: dict[str, SplitData]) -> tuple[str, ...]:
    counts = np.bincount(np.concatenate([s.labels for s in splits.values()]), minlength=len(classes))
    out = [
        f"class folder {cls!r} holds no images; its label id {i} is kept so ids follow the sorted folder names"
        for i, cls in enumerate(classes)
        if counts[i] == 0
    ]
    if len(classes) == 1:
        out.append(f"only one class folder ({classes[0]!r}): every label is 0")
    return tuple(out)


class _WorkerOptions(tuple):
    """(resize, encode, quality, max_pixels, exif_transpose, schema, fit): what a worker needs, picklable."""

    @classmethod
    def of(cls, options: SourceOptions, schema) -> "_WorkerOptions":
        return cls((options.resize, options.encode, options.quality, options.max_pixels, options.exif_transpose, schema,
                    options.fit))


def _conversion(img, data: bytes, fmt: str, exif_transpose: bool) -> str:
    """Why a pass-through image must be re-encoded for the reader to see what Pillow sees, or ''."""
    unreadable = tf_unreadable(data, fmt, img.mode)
    if unreadable:
        return unreadable
    if exif_transpose and fmt == "jpeg" and img.getexif().get(0x0112, 1) not in (1, None):
        return "EXIF orientation"
    return ""


def _padded_size(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of a picture of `size` fitted inside `target`, keeping its aspect ratio (as
    tf.image.resize_with_pad sizes it: the short side rounded down, at least 1)."""
    (w, h), (tw, th) = size, target
    if w * th >= h * tw:
        return tw, max(1, h * tw // w)
    return max(1, w * th // h), th


def _crop_box(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred (left, top, right, bottom) box of the target's aspect ratio: the reader's
    center_window (tfrec/read/decode.py), in the same integer steps."""
    (w, h), (tw, th) = size, target
    crop_w, crop_h = max(1, min(w, h * tw // th)), max(1, min(h, w * th // tw))
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def _draft_size(size: tuple[int, int], target: tuple[int, int], fit: str) -> tuple[int, int]:
    """The smallest whole-image size a JPEG may be decoded at (DCT scaling) and still cover the target after `fit`."""
    if fit == "pad":
        return _padded_size(size, target)
    if fit == "crop":
        (w, h), (tw, th) = size, target
        left, top, right, bottom = _crop_box(size, target)
        return -(-tw * w // (right - left)), -(-th * h // (bottom - top))
    return target


def _fitted(img, target: tuple[int, int], fit: str):
    """`img` at `target` (width, height): stretched, centre-cropped to its aspect first, or fitted and padded with black."""
    from PIL import Image

    bilinear = Image.Resampling.BILINEAR
    if fit == "crop":
        return img.resize(target, bilinear, box=_crop_box(img.size, target), reducing_gap=3.0)
    if fit == "pad":
        inner = _padded_size(img.size, target)
        (w, h), (tw, th) = img.size, target
        # the offsets of tf.image.resize_with_pad: half the exact (unrounded) margin, rounded down
        left, top = ((tw * h - w * th) // (2 * h), 0) if inner[1] == th else (0, (th * w - h * tw) // (2 * w))
        canvas = Image.new("RGB", target)
        canvas.paste(img.resize(inner, bilinear, reducing_gap=3.0), (left, top))
        return canvas
    return img.resize(target, bilinear, reducing_gap=3.0)


def _reencode(img, fmt: str, resize, encode, quality, exif_transpose: bool, fit: str = "crop") -> tuple[bytes, str, int, int]:
    from PIL import ImageOps

    if resize and fmt == "jpeg" and not exif_transpose:
        img.draft("RGB", _draft_size(img.size, resize, fit))  # decode at a reduced DCT scale when much larger
    if exif_transpose:
        img = ImageOps.exif_transpose(img)
    if img.mode in HIGH_BIT_MODES:
        img = img.point(lambda v: v / 256).convert("L")  # 16-bit to 8-bit, keeping the range
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # what Pillow asks for (P -> RGB warns); the RGB values are the same
    img = img.convert("RGB")
    if resize:
        img = _fitted(img, resize, fit)
    out_fmt = encode or ("jpeg" if fmt == "jpeg" else "png")
    buf = io.BytesIO()
    if out_fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue(), out_fmt, img.width, img.height


def _open_uncapped(Image, data: bytes):
    """Image.open with Pillow's global bomb limit lifted for this call only (then restored)."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(io.BytesIO(data))
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _stable(e: Exception) -> str:
    """An exception's message without object addresses, so a reason reads the same on every run."""
    return re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the file", str(e))


def text_name(rel: str) -> str:
    """A file name as UTF-8 text: bytes that are not UTF-8 are written as \\xNN escapes (the schema's
    `filename` is text, and `verify --deep` checks that text is UTF-8)."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def make_image_record(item, options: _WorkerOptions) -> tuple[bytes | None, str, str]:
    """Reads one image file and serializes its Example: (record, '', stored format), or (None, reason, '')."""
    full, rel, label, _ = item
    try:
        # O_NONBLOCK: the file may have been swapped for a FIFO since it was listed
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        return None, f"cannot read: {e.strerror}", ""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return None, _NOT_REGULAR.format(file_kind(mode)), ""
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError as e:
        return None, f"cannot read: {e.strerror}", ""
    finally:
        os.close(fd)
    return encode_image_record(data, rel, label, options)


def encode_image_record(data: bytes, filename: str, label: int, options: _WorkerOptions) -> tuple[bytes | None, str, str]:
    """Checks encoded image bytes (format, pixel cap, truncation), re-encodes them when asked or needed,
    and serializes the Example: (record, '', stored format), or (None, why it was skipped, '')."""
    from PIL import Image, UnidentifiedImageError

    resize, encode, quality, max_pixels, exif_transpose, schema, fit = options
    if not data:
        return None, "empty file (0 bytes)", ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = _open_uncapped(Image, data)  # our own cap is checked below, with a clear reason
            fmt = PIL_FORMATS.get(img.format or "")
            if fmt is None:
                return None, f"unsupported image format {img.format}", ""
            width, height = img.size
            if width * height > max_pixels:
                return None, f"image too large: {width}x{height} = {width * height} pixels exceeds the cap of {max_pixels}", ""
            truncated = truncation_reason(data, fmt)
            if truncated:
                return None, truncated, ""
            if resize or encode or _conversion(img, data, fmt, exif_transpose):
                data, fmt, width, height = _reencode(img, fmt, resize, encode, quality, exif_transpose, fit)
    except UnidentifiedImageError:
        return None, "not a valid image: Pillow cannot identify its format", ""
    except (OSError, ValueError, SyntaxError) as e:
        return None, f"not a valid image: {_stable(e)}", ""
    record = schema.encode(
        {"image": data, "label": label, "height": height, "width": width, "format": fmt, "filename": text_name(filename)}
    )
    return record, "", fmt
