"""MNIST-layout IDX files (MNIST, Fashion-MNIST, KMNIST, ...): gzipped or not, checked as they are read."""
from __future__ import annotations

import math
import os
import re

import numpy as np

from ..errors import SourceError
from ..io.gunzip import INFLATE_ERRORS, iter_gunzip
from ..codec.schema import load_schema
from .model import SourceData, SourceOptions, SplitData, content_id
from ._checks import MAX_INFLATE_RATIO, class_ids, open_regular

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes are image/label data.
_IDX_TYPES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
# Source split prefix -> tfrec split name.
_SPLITS = {"train": "train", "t10k": "test", "test": "test"}


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (gzipped or not) into a uint8 array, checking magic, type and size.

    The header is read first and checked against what the file can hold (its size, or for a .gz
    MAX_INFLATE_RATIO times it) before any array is allocated; a .gz is then inflated only as far
    as the header declares, so memory is the declared size whatever the file inflates to.

    Raises:
        SourceError: names the file and what is wrong (magic, type code, dimensions, size).
    """
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        gzipped = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        pieces = _Pieces(iter_gunzip(f, _PIECE) if gzipped else iter(lambda: f.read(_PIECE), b""))
        try:
            return _read_idx(path, pieces, size, gzipped)
        except (OSError, EOFError, *INFLATE_ERRORS) as e:
            raise SourceError(f"{path}: cannot read: {e}") from e


_PIECE = 1 << 20  # bytes inflated (or read) at a time


class _Pieces:
    """Exact-length reads from an iterator of byte strings."""

    def __init__(self, pieces):
        self.pieces, self.rest = pieces, b""

    def read(self, n: int) -> bytes:
        while len(self.rest) < n and (more := next(self.pieces, b"")):
            self.rest += more
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def readinto(self, buf: memoryview) -> int:
        got = 0
        while got < len(buf):
            piece = memoryview(self.rest or next(self.pieces, b""))
            if not piece:
                break
            take = min(len(piece), len(buf) - got)
            buf[got : got + take] = piece[:take]
            self.rest, got = bytes(piece[take:]), got + take
        return got


def _read_idx(path: str, f: _Pieces, size: int, gzipped: bool) -> np.ndarray:
    data = f.read(4)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise SourceError(f"{path}: not an IDX file: magic number {data[:4].hex() or 'missing'} should start 0000")
    if data[2] not in _IDX_TYPES:
        raise SourceError(f"{path}: unknown IDX type code 0x{data[2]:02x}")
    if data[2] != 0x08:
        raise SourceError(f"{path}: IDX data is {_IDX_TYPES[data[2]]}; tfrec reads uint8 (type 0x08) IDX files")
    ndim = data[3]
    header = 4 + 4 * ndim
    dim_bytes = f.read(4 * ndim)
    if ndim == 0 or len(dim_bytes) < 4 * ndim:
        held = f"inflates to {4 + len(dim_bytes)}" if gzipped else f"is {size}"
        raise SourceError(f"{path}: IDX header declares {ndim} dimensions but the file {held} bytes")
    dims = tuple(int.from_bytes(dim_bytes[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    expected = header + math.prod(dims)  # Python ints: (2^32-1)^255 does not wrap
    if expected == header:
        what = "images" if ndim == 3 and dims[0] == 0 else "items" if dims[0] == 0 else "values in each item"
        raise SourceError(f"{path}: IDX header says dimensions {dims}, which hold no data (0 {what}); "
                          "there is nothing to convert")
    said = f"IDX header says dimensions {dims} ({expected} bytes with the header)"
    if gzipped and expected > MAX_INFLATE_RATIO * size:
        raise SourceError(f"{path}: {said}, but a {size}-byte gzip file inflates to at most "
                          f"{MAX_INFLATE_RATIO * size} bytes")
    if not gzipped and expected != size:
        raise SourceError(f"{path}: {said} but the file holds {size} bytes"
                          f"{' (truncated)' if size < expected else ' (trailing bytes)'}")
    try:
        out = np.empty(expected - header, np.uint8)
    except MemoryError as e:
        raise SourceError(f"{path}: {said}: not enough memory to hold them") from e
    got = f.readinto(memoryview(out))
    if got < len(out):
        raise SourceError(f"{path}: {said} but the file {'inflates to' if gzipped else 'holds'} {header + got} bytes "
                          "(truncated)")
    if f.read(1):
        raise SourceError(f"{path}: {said} but the file {'inflates to more than that' if gzipped else 'grew while read'}"
                          " (trailing bytes)")
    return out.reshape(dims)


# IDX file names: MNIST's own (train-images-idx3-ubyte), and with a prefix naming the set
# (emnist-digits-train-images-idx3-ubyte.gz); '.idx3-ubyte' too, gzipped or not.
_IDX_NAME = re.compile(r"^(?:(?P<subset>.+)-)?(?P<split>train|t10k|test)-(?P<what>images|labels)[-.]idx[13]-ubyte(?:\.gz)?$")


def find_idx_sets(path: str) -> dict[str, dict[tuple[str, str], str]]:
    """The IDX sets in a folder: prefix ('' for none) -> {(split, 'images' or 'labels'): file}."""
    sets: dict[str, dict[tuple[str, str], str]] = {}
    for name in sorted(os.listdir(path)):  # sorted: 'x' before 'x.gz', '-idx' before '.idx'
        m = _IDX_NAME.match(name)
        if m and not os.path.isdir(os.path.join(path, name)):  # a FIFO or device is refused when read, not skipped
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
        ids = class_ids(labels, labels_path)
        splits[split] = SplitData(
            name=split,
            labels=ids,
            arrays={"image": images[..., None], "label": ids},
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
