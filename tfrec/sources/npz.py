"""NumPy .npz archives in the Keras layout (x_train, y_train, x_test, y_test): raw arrays, never unpickled."""
from __future__ import annotations

import math
import os
import re
import zipfile
from typing import NamedTuple

import numpy as np

from ..errors import SourceError
from ..codec.schema import load_schema
from ..io.gunzip import INFLATE_ERRORS
from .model import SourceData, SourceOptions, SplitData, content_id
from ._checks import MAX_INFLATE_RATIO, class_ids, open_regular
from .imagefolder import SPLIT_DIRS

_KEY = re.compile(r"^([xy])_(\w+)$")


class _Member(NamedTuple):
    """One .npy member: its zip entry, and the shape and dtype its header declares."""

    info: zipfile.ZipInfo
    shape: tuple
    dtype: np.dtype


def array_headers(path: str, z: zipfile.ZipFile, size: int) -> dict[str, _Member]:
    """Each array's zip entry, shape and dtype, from the .npy headers alone, each checked against
    what its member stores before any array data is read.

    Raises:
        SourceError: a member that is not a readable .npy file, or whose sizes cannot be true: more
            data than the member holds, more than its compressed bytes can inflate to, or a member
            reaching past the end of the archive.
    """
    out = {}
    for info in z.infolist():
        if not info.filename.endswith(".npy"):
            continue
        where = f"{path}: member {info.filename!r}"
        _check_entry(where, info, size)
        try:
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                header = f.tell()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, *INFLATE_ERRORS) as e:
            raise SourceError(f"{where}: not a readable .npy header: {e}") from e
        need = math.prod(shape) * dtype.itemsize  # Python ints: a shape of (2^62, 2^62) does not wrap
        if need > info.file_size - header:
            raise SourceError(f"{where} declares shape {shape} {dtype} ({need} bytes of data) but holds "
                              f"{info.file_size - header} bytes")
        out[info.filename[:-4]] = _Member(info, shape, dtype)
    return out


def _check_entry(where: str, info: zipfile.ZipInfo, size: int) -> None:
    """The zip entry's own sizes, which the .npy header is then checked against, must be possible."""
    if info.header_offset + info.compress_size > size:
        raise SourceError(f"{where} says it stores {info.compress_size} bytes from byte {info.header_offset}, "
                          f"past the end of the {size}-byte archive")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise SourceError(f"{where} says it inflates to {info.file_size} bytes but stores {info.compress_size} "
                          "bytes uncompressed")
    if info.file_size > MAX_INFLATE_RATIO * info.compress_size:
        raise SourceError(f"{where} says it inflates to {info.file_size} bytes but stores {info.compress_size} "
                          f"compressed bytes, which inflate to at most {MAX_INFLATE_RATIO * info.compress_size}")


def _load(path: str, z: zipfile.ZipFile, member: _Member) -> np.ndarray:
    """One checked member's array (allow_pickle off: object arrays were refused from their header)."""
    try:
        with z.open(member.info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, *INFLATE_ERRORS) as e:
        raise SourceError(f"{path}: cannot read member {member.info.filename!r}: {e}") from e


def read_npz(path: str, options: SourceOptions) -> SourceData:
    """Reads x_SPLIT (uint8 images: N×H×W or N×H×W×C) and y_SPLIT (integer labels) pairs.

    Object arrays (pickled Python objects) are refused from their header, before any data is
    read; so are members whose header declares more data than the member holds. Arrays are then
    read with allow_pickle=False.

    Raises:
        SourceError: object or non-uint8 image arrays, sizes that cannot be true, unpaired or
            mismatched arrays, labels that are not class ids, no x_/y_ pairs or no records.
    """
    with open_regular(path) as f:
        try:
            z = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise SourceError(f"{path}: not a readable .npz archive: {e}") from e
        with z:
            return _read(path, z, os.fstat(f.fileno()).st_size, options)


def _read(path: str, z: zipfile.ZipFile, size: int, options: SourceOptions) -> SourceData:
    headers = array_headers(path, z, size)
    for key, member in headers.items():
        if member.dtype.hasobject:
            raise SourceError(
                f"{path}: array {key!r} holds Python objects (dtype {member.dtype}); loading it would unpickle, "
                "which can run code, so tfrec refuses it (save the arrays with a numeric dtype)"
            )
    pairs: dict[str, dict[str, str]] = {}
    for key in headers:
        m = _KEY.match(key)
        if m:
            pairs.setdefault(m.group(2), {})[m.group(1)] = key
    if not pairs:
        raise SourceError(f"{path}: no x_SPLIT/y_SPLIT arrays (Keras layout: x_train, y_train, x_test, y_test); "
                          f"arrays: {', '.join(sorted(headers)) or 'none'}")
    splits, total = {}, 0
    for split, keys in sorted(pairs.items(), key=lambda kv: (kv[0] != "train", kv[0])):
        if set(keys) != {"x", "y"}:
            have = next(iter(keys.values()))
            raise SourceError(f"{path}: array {have!r} has no partner {'y' if 'x' in keys else 'x'}_{split}")
        images = _images(path, keys["x"], _load(path, z, headers[keys["x"]]))
        labels = _labels(path, keys["y"], _load(path, z, headers[keys["y"]]))
        if len(images) != len(labels):
            raise SourceError(f"{path}: {keys['x']!r} holds {len(images)} images but {keys['y']!r} {len(labels)} labels")
        name = SPLIT_DIRS.get(split.lower(), split)
        total += images.nbytes + labels.nbytes
        splits[name] = SplitData(name, labels, arrays={"image": images, "label": labels},
                                 source_bytes=images.nbytes + labels.nbytes, content_id=content_id(images, labels))
    shapes = {s.arrays["image"].shape[1:] for s in splits.values()}
    if len(shapes) > 1:
        raise SourceError(f"{path}: splits hold images of different shapes: {sorted(shapes)}")
    num_classes = int(max(s.labels.max(initial=0) for s in splits.values())) + 1
    schema = (options.schema or load_schema("arrays")).with_image(shape=next(iter(shapes)))
    schema = schema.with_class_names(None, num_classes=num_classes)
    return SourceData("npz", f"NumPy archive {os.path.abspath(path)} ({total} bytes of arrays)", schema, splits)


def _images(path: str, key: str, x: np.ndarray) -> np.ndarray:
    if x.dtype != np.uint8:
        raise SourceError(f"{path}: {key!r} is {x.dtype}; tfrec stores uint8 pixels (scale and cast the images first)")
    if x.ndim >= 1 and len(x) == 0:
        raise SourceError(f"{path}: {key!r} holds 0 images; there is nothing to convert (leave empty splits out)")
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[3] in (1, 3, 4):
        return x
    raise SourceError(f"{path}: {key!r} has shape {x.shape}; expected N×H×W or N×H×W×C with C 1, 3 or 4")


def _labels(path: str, key: str, y: np.ndarray) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # Keras CIFAR keeps labels as N×1
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise SourceError(f"{path}: {key!r} is {y.dtype} of shape {y.shape}; expected N integer class ids")
    return class_ids(y, f"{path}: {key!r}")
