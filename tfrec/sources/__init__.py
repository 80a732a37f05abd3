"""Source formats: the registry of readers, the split data they return, and format detection."""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ..errors import SourceError
from ..codec.schema import Schema


@dataclass(frozen=True)
class SplitData:
    """One split of a source: either fixed-shape arrays (bulk encoded) or per-record items.

    `arrays` maps feature name -> array with one row per record (MNIST, CIFAR). `items` is a list
    of picklable work items a worker turns into one record with the source's `make_record`
    (image folders). `labels` holds the class id of each record, used to stratify splits.
    """

    name: str
    labels: np.ndarray
    arrays: dict[str, np.ndarray] | None = None
    items: list | None = None
    source_bytes: int = 0
    content_id: str = ""  # identifies the source content, so --resume can tell it has not changed

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray, name: str | None = None) -> "SplitData":
        """The records at `indices`, in that order, as a new split."""
        indices = np.asarray(indices, dtype=np.int64)
        arrays = {k: v[indices] for k, v in self.arrays.items()} if self.arrays is not None else None
        items = [self.items[i] for i in indices.tolist()] if self.items is not None else None
        frac = len(indices) / max(len(self), 1)
        return replace(
            self, name=name or self.name, labels=self.labels[indices], arrays=arrays, items=items,
            source_bytes=int(self.source_bytes * frac),
            content_id=f"{self.content_id}[{zlib.crc32(indices.tobytes()):08x}]" if self.content_id else "",
        )


@dataclass(frozen=True)
class SourceData:
    """What a source reader found: its splits, schema, class names and what it passed over."""

    kind: str
    description: str
    schema: Schema
    splits: dict[str, SplitData]
    # item -> (record, '', the stored image's format) or (None, why the item was skipped, '')
    make_record: Callable[[Any], tuple[bytes | None, str, str]] | None = None
    skipped: list[dict] = field(default_factory=list)
    ignored: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceOptions:
    """Options a source reader may use (image folders use most of them)."""

    resize: tuple[int, int] | None = None  # (width, height)
    encode: str | None = None  # 'jpeg' or 'png'
    quality: int = 95
    on_error: str = "skip"
    follow_symlinks: bool = False
    exif_transpose: bool = True  # store EXIF-rotated JPEGs upright (re-encoded), as viewers show them
    max_pixels: int = 178_956_970  # twice Pillow's decompression-bomb warning threshold
    schema: Schema | None = None

    def __post_init__(self):
        if self.on_error not in ("skip", "fail"):
            raise SourceError(f"on_error must be 'skip' or 'fail', not {self.on_error!r}")
        if self.encode not in (None, "jpeg", "png"):
            raise SourceError(f"encode must be 'jpeg' or 'png', not {self.encode!r}")
        if not 1 <= self.quality <= 100:
            raise SourceError(f"quality must be between 1 and 100, not {self.quality}")
        if self.max_pixels < 1:
            raise SourceError(f"max_pixels must be positive, not {self.max_pixels}")
        if self.resize is not None and (len(self.resize) != 2 or min(self.resize) < 1):
            raise SourceError(f"resize must be (width, height) with positive sizes, not {self.resize}")


def content_id(*buffers) -> str:
    """A CRC32C over the raw source bytes: cheap (hardware CRC), and enough to notice a changed source."""
    import google_crc32c

    crc = 0
    for b in buffers:
        crc = google_crc32c.extend(crc, b if isinstance(b, bytes) else np.ascontiguousarray(b))
    return f"crc32c:{crc:08x}"


def _readers() -> dict[str, Callable[[str, SourceOptions], SourceData]]:
    from ..sources import cifar, imagefolder, mnist

    return {
        "mnist": mnist.read_mnist,
        "cifar10": cifar.read_cifar10,
        "cifar100": cifar.read_cifar100,
        "imagefolder": imagefolder.read_image_folder,
    }


FORMATS = ("mnist", "cifar10", "cifar100", "imagefolder")


def detect_format(path: str) -> str:
    """Guesses the source format from file names: IDX files, CIFAR binaries, or class folders.

    Raises:
        SourceError: nothing recognisable (says what was looked for).
    """
    path = str(path)
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file or directory")
    base = os.path.basename(path.rstrip("/"))
    if os.path.isfile(path):
        if base.startswith("cifar-100"):
            return "cifar100"
        if base.startswith("cifar-10"):
            return "cifar10"
        raise SourceError(f"{path}: a single file must be a CIFAR .tar.gz archive; give the folder of IDX files or images")
    names = set()
    for root, dirs, files in os.walk(path):
        names.update(files)
        if root.count(os.sep) - path.count(os.sep) >= 1:
            dirs[:] = []
    if any("idx3-ubyte" in n or "idx3_ubyte" in n for n in names):
        return "mnist"
    if any(n.startswith("data_batch_") and n.endswith(".bin") for n in names) or "test_batch.bin" in names:
        return "cifar10"
    if {"train.bin", "test.bin"} & names:
        return "cifar100"
    archives = [n for n in os.listdir(path) if n.endswith((".tar.gz", ".tgz"))]
    for n in archives:
        if n.startswith("cifar-100"):
            return "cifar100"
        if n.startswith("cifar-10"):
            return "cifar10"
    if any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path)):
        return "imagefolder"
    raise SourceError(
        f"{path}: cannot tell the format: no IDX files (*-idx3-ubyte), CIFAR binaries (*.bin) or class "
        "subfolders; pass --format"
    )


def read_source(path: str, fmt: str = "auto", options: SourceOptions | None = None) -> SourceData:
    """Opens a source dataset in the given format ('auto' detects it).

    Raises:
        SourceError: unknown format (lists the supported ones) or a malformed source.
    """
    options = options or SourceOptions()
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = _readers()
    if fmt not in readers:
        raise SourceError(f"unknown format {fmt!r}; supported: auto, {', '.join(readers)}")
    return readers[fmt](str(path), options)
