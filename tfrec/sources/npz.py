"""NumPy .npz archives in the Keras layout (x_train, y_train, x_test, y_test): raw arrays, never unpickled."""
from __future__ import annotations

import os
import re
import zipfile

import numpy as np

from ..errors import SourceError
from ..codec.schema import load_schema
from ..sources import SourceData, SourceOptions, SplitData, content_id
from .imagefolder import SPLIT_DIRS

_KEY = re.compile(r"^([xy])_(\w+)$")


def array_headers(path: str) -> dict[str, tuple[tuple, np.dtype]]:
    """Each array's (shape, dtype) from the .npy headers inside the archive, reading no array data.

    Raises:
        SourceError: not a zip archive, or a member that is not a .npy file.
    """
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if not member.endswith(".npy"):
                    continue
                with z.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                out[member[:-4]] = (shape, dtype)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise SourceError(f"{path}: not a readable .npz archive: {e}") from e
    return out


def read_npz(path: str, options: SourceOptions) -> SourceData:
    """Reads x_SPLIT (uint8 images: N×H×W or N×H×W×C) and y_SPLIT (integer labels) pairs.

    Object arrays (pickled Python objects) are refused from their header, before any data is
    read; arrays are then loaded with allow_pickle=False.

    Raises:
        SourceError: object or non-uint8 image arrays, unpaired or mismatched arrays, no x_/y_ pairs.
    """
    headers = array_headers(path)
    for key, (shape, dtype) in headers.items():
        if dtype.hasobject:
            raise SourceError(
                f"{path}: array {key!r} holds Python objects (dtype {dtype}); loading it would unpickle, "
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
    with np.load(path, allow_pickle=False) as archive:
        for split, keys in sorted(pairs.items(), key=lambda kv: (kv[0] != "train", kv[0])):
            if set(keys) != {"x", "y"}:
                have = next(iter(keys.values()))
                raise SourceError(f"{path}: array {have!r} has no partner {'y' if 'x' in keys else 'x'}_{split}")
            images, labels = _images(path, keys["x"], archive[keys["x"]]), _labels(path, keys["y"], archive[keys["y"]])
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
    if y.size and y.min() < 0:
        raise SourceError(f"{path}: {key!r} holds negative labels ({int(y.min())}); class ids must be 0 or more")
    return y.astype(np.int64)
