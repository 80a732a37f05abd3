"""MNIST-layout IDX files (MNIST, Fashion-MNIST, KMNIST, ...): gzipped or not, checked as they are read."""
from __future__ import annotations

import os
import re
import zlib

import numpy as np

from ..errors import SourceError
from ..io.gunzip import gunzip
from ..codec.schema import load_schema
from ..sources import SourceData, SourceOptions, SplitData, content_id

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes are image/label data.
_IDX_TYPES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
# Source split prefix -> tfrec split name.
_SPLITS = {"train": "train", "t10k": "test", "test": "test"}


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (gzipped or not) into a uint8 array, checking magic, type and size.

    Raises:
        SourceError: names the file and what is wrong (magic, type code, dimensions, size).
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gunzip(data)
    except (OSError, EOFError, zlib.error) as e:
        raise SourceError(f"{path}: cannot read: {e}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise SourceError(f"{path}: not an IDX file: magic number {data[:4].hex() or 'missing'} should start 0000")
    if data[2] not in _IDX_TYPES:
        raise SourceError(f"{path}: unknown IDX type code 0x{data[2]:02x}")
    if data[2] != 0x08:
        raise SourceError(f"{path}: IDX data is {_IDX_TYPES[data[2]]}; tfrec reads uint8 (type 0x08) IDX files")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise SourceError(f"{path}: IDX header declares {ndim} dimensions but the file is {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise SourceError(
            f"{path}: IDX header says dimensions {dims} ({expected} bytes with the header) but the file "
            f"holds {len(data)} bytes{' (truncated)' if len(data) < expected else ' (trailing bytes)'}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


# IDX file names: MNIST's own (train-images-idx3-ubyte), and with a prefix naming the set
# (emnist-digits-train-images-idx3-ubyte.gz); '.idx3-ubyte' too, gzipped or not.
_IDX_NAME = re.compile(r"^(?:(?P<subset>.+)-)?(?P<split>train|t10k|test)-(?P<what>images|labels)[-.]idx[13]-ubyte(?:\.gz)?$")


def find_idx_sets(path: str) -> dict[str, dict[tuple[str, str], str]]:
    """The IDX sets in a folder: prefix ('' for none) -> {(split, 'images' or 'labels'): file}."""
    sets: dict[str, dict[tuple[str, str], str]] = {}
    for name in sorted(os.listdir(path)):  # sorted: 'x' before 'x.gz', '-idx' before '.idx'
        m = _IDX_NAME.match(name)
        if m and os.path.isfile(os.path.join(path, name)):
            key = (_SPLITS[m["split"]], m["what"])
            sets.setdefault(m["subset"] or "", {}).setdefault(key, os.path.join(path, name))
    return sets


def _pick_set(path: str, sets: dict, subset: str | None) -> tuple[str, dict[tuple[str, str], str]]:
    """The one IDX set to read: the only one, or the one `subset` names (its prefix, or the prefix's last part)."""
    listed = ", ".join(k or "(no prefix)" for k in sets)
    if subset:
        match = [k for k in sets if subset in (k, k.rsplit("-", 1)[-1])]
        if len(match) != 1:
            raise SourceError(f"{path}: no IDX set {subset!r}" + (f"; it holds {listed}" if sets else ""))
        return match[0], sets[match[0]]
    if not sets:
        raise SourceError(f"{path}: no train-images-idx3-ubyte or t10k-images-idx3-ubyte files (gzipped or not, "
                          "with or without a prefix such as emnist-digits-)")
    if len(sets) > 1:
        short = next(iter(k for k in sets if k)).rsplit("-", 1)[-1]
        raise SourceError(f"{path}: holds {len(sets)} IDX sets: {listed}; pass --subset NAME (e.g. --subset {short})")
    return next(iter(sets.items()))


def _label_names(path: str) -> list[str] | None:
    """Class names from labels.txt beside the IDX files (one a line; `tfrec fetch` writes it), if present."""
    try:
        with open(os.path.join(path, "labels.txt"), encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()] or None
    except OSError:
        return None


def read_mnist(path: str, options: SourceOptions) -> SourceData:
    """Reads the train and t10k (or test) image/label IDX pairs of an MNIST-layout folder.

    A folder holding several prefixed sets (EMNIST's emnist-digits-..., emnist-letters-...) needs
    options.subset to say which.

    Raises:
        SourceError: no set or several (listed), a missing partner file, a malformed file, or image
            and label counts that differ.
    """
    splits = {}
    total_bytes = 0
    prefix, files = _pick_set(path, find_idx_sets(path), options.subset)
    for split in dict.fromkeys(_SPLITS.values()):
        images_path, labels_path = files.get((split, "images")), files.get((split, "labels"))
        if images_path is None and labels_path is None:
            continue
        if images_path is None or labels_path is None:
            have, missing = (images_path, "labels") if images_path else (labels_path, "images")
            stem = _IDX_NAME.match(os.path.basename(have))
            raise SourceError(f"{have}: found, but no matching {(prefix + '-') if prefix else ''}"
                              f"{stem['split']}-{missing}-idx file beside it")
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3:
            raise SourceError(f"{images_path}: expected 3 dimensions (count, rows, cols), found {images.shape}")
        if labels.ndim != 1:
            raise SourceError(f"{labels_path}: expected 1 dimension (count), found {labels.shape}")
        if len(images) != len(labels):
            raise SourceError(
                f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
            )
        total_bytes += images.nbytes + labels.nbytes
        splits[split] = SplitData(
            name=split,
            labels=labels.astype(np.int64),
            arrays={"image": images[..., None], "label": labels.astype(np.int64)},
            source_bytes=images.nbytes + labels.nbytes,
            content_id=content_id(images, labels),
        )
    shapes = {s.arrays["image"].shape[1:] for s in splits.values()}
    if len(shapes) > 1:
        raise SourceError(f"{path}: train and test images differ in size: {sorted(shapes)}")
    schema = options.schema or load_schema("mnist")
    schema = schema.with_image(shape=next(iter(shapes)))
    num_classes = int(max(s.labels.max(initial=0) for s in splits.values())) + 1
    names = _label_names(path)
    if names and len(names) >= num_classes and options.schema is None:
        schema = schema.with_class_names(names)
    elif num_classes > (schema.label.num_classes or 0):
        schema = schema.with_class_names(None, num_classes=num_classes)
    return SourceData(
        kind="mnist",
        description=f"IDX files{f' {prefix}-*' if prefix else ''} in {os.path.abspath(path)} ({total_bytes} bytes of pixels and labels)",
        schema=schema,
        splits=splits,
    )
