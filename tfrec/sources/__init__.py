"""Source formats: the registry of readers, the split data they return, and format detection."""
from __future__ import annotations

import glob
import os
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import SourceError, UsageError
from ..codec.schema import Schema

# How --resize reaches WIDTHxHEIGHT, with the reader's names and meanings (tfrec.read's `fit`): stretch
# to it, centre-crop to its aspect ratio first, or fit inside it and pad with black.
FITS = ("stretch", "crop", "pad")
# How an image folder labels its images, with Keras' `labels=` names: 'inferred' from the class folders
# (images directly in the folder beside them are left out), or 'none' (every image under it, no labels).
LABEL_MODES = ("inferred", "none")
# Files a source passed over (no image extension) listed by name in dataset.json: the first ones, then a count.
MAX_LISTED_IGNORED = 100


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
    ignored: int = 0  # files passed over as no image (by extension)
    ignored_names: tuple[str, ...] = ()  # the first MAX_LISTED_IGNORED of them, relative to the source
    name: str = ""  # the name the source suggests for the dataset (an image folder's), '' for the format's
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the result says besides its counts (not a problem: e.g. "unlabelled")
    labels: str = ""  # image folders: how records got their labels (one of LABEL_MODES); '' where the files hold them
    cleanup: Callable[[], None] | None = None  # removes temporary files the reader made (called by convert)

    def close(self) -> None:
        """Removes the reader's temporary files, if any (safe to call twice)."""
        if self.cleanup is not None:
            self.cleanup()


@dataclass(frozen=True)
class SourceOptions:
    """Options a source reader may use (image folders use most of them)."""

    resize: tuple[int, int] | None = None  # (width, height)
    fit: str = "crop"  # how resize keeps the aspect ratio: one of FITS
    encode: str | None = None  # 'jpeg' or 'png'
    quality: int = 95
    on_error: str = "skip"
    follow_symlinks: bool = False
    exif_transpose: bool = True  # store EXIF-rotated JPEGs upright (re-encoded), as viewers show them
    max_pixels: int = 178_956_970  # twice Pillow's decompression-bomb warning threshold
    schema: Schema | None = None
    image_column: str | None = None  # Parquet: the image column (default: found by name or type)
    label_column: str | None = None  # Parquet: the label column (default: found by name)
    subset: str | None = None  # which IDX set of a folder holding several (EMNIST: 'digits', 'letters', ...)
    labels: str = "inferred"  # image folders: one of LABEL_MODES (Keras' labels="inferred" or None)

    def __post_init__(self):
        if self.labels not in LABEL_MODES:
            raise SourceError(f"labels must be 'inferred' or 'none', not {self.labels!r}")
        if self.on_error not in ("skip", "fail"):
            raise SourceError(f"on_error must be 'skip' or 'fail', not {self.on_error!r}")
        if self.encode not in (None, "jpeg", "png"):
            raise SourceError(f"encode must be 'jpeg' or 'png', not {self.encode!r}")
        if not 1 <= self.quality <= 100:
            raise SourceError(f"quality must be between 1 and 100, not {self.quality}")
        if self.max_pixels < 1:
            raise SourceError(f"max_pixels must be positive, not {self.max_pixels}")
        if self.fit not in FITS:
            raise SourceError(f"unknown fit {self.fit!r}; supported: {', '.join(FITS)}")
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
    from ..sources import cifar, imagefolder, mnist, npz, parquet

    return {
        "mnist": mnist.read_mnist,
        "cifar10": cifar.read_cifar10,
        "cifar100": cifar.read_cifar100,
        "imagefolder": imagefolder.read_image_folder,
        "parquet": parquet.read_parquet,
        "npz": npz.read_npz,
    }


FORMATS = ("mnist", "cifar10", "cifar100", "imagefolder", "parquet", "npz")


def _detect_file(path: str, base: str) -> str:
    if base.endswith(".parquet"):
        return "parquet"
    if base.endswith(".npz"):
        return "npz"
    if base.startswith("cifar-100"):
        return "cifar100"
    if base.startswith("cifar-10"):
        return "cifar10"
    raise SourceError(
        f"{path}: a single file must be a CIFAR .tar.gz archive, a .parquet file or a .npz archive; "
        "give the folder of IDX files or images"
    )


def detect_format(path: str | Sequence[str]) -> str:
    """Guesses the source format from file names: IDX files, CIFAR binaries, Parquet, .npz, or class folders.

    Several paths (a shell-expanded `data/*.parquet`) must all be Parquet files.

    Raises:
        SourceError: nothing recognisable (says what was looked for).
    """
    if not isinstance(path, (str, os.PathLike)):
        paths = [str(p) for p in path]
        if len(paths) == 1:
            return detect_format(paths[0])
        others = [p for p in paths if not p.endswith(".parquet")]
        if others:
            raise SourceError(f"{others[0]}: several sources must all be .parquet files")
        return "parquet"
    path = str(path)
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file or directory")
    base = os.path.basename(path.rstrip("/"))
    if not os.path.isdir(path):  # a file, or a FIFO or device that its reader refuses by name
        return _detect_file(path, base)
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
    if any(n.endswith(".parquet") for n in names):
        return "parquet"
    archives = [n for n in os.listdir(path) if n.endswith((".tar.gz", ".tgz"))]
    for n in archives:
        if n.startswith("cifar-100"):
            return "cifar100"
        if n.startswith("cifar-10"):
            return "cifar10"
    if any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path)):
        return "imagefolder"
    if any(n.lower().endswith(_image_extensions()) for n in os.listdir(path)):
        return "imagefolder"  # a flat folder of images: an unlabelled image folder
    npz = [n for n in os.listdir(path) if n.endswith(".npz")]
    if len(npz) == 1:
        raise SourceError(f"{path}: holds {npz[0]}; give the .npz file itself")
    raise SourceError(
        f"{path}: cannot tell the format: no IDX files (*-idx3-ubyte), CIFAR binaries (*.bin), .parquet files "
        "class subfolders or image files; pass --format"
    )


def _image_extensions() -> tuple[str, ...]:
    from .imagefolder import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


def read_source(path: str | Sequence[str], fmt: str = "auto", options: SourceOptions | None = None) -> SourceData:
    """Opens a source dataset in the given format ('auto' detects it).

    Args:
        path: a file or folder; for Parquet also a glob or a list of files.
        fmt: one of FORMATS, or 'auto'.
        options: see SourceOptions.

    Raises:
        SourceError: unknown format (lists the supported ones) or a malformed source.
        UsageError: options.labels 'none' for a format other than an image folder.
    """
    options = options or SourceOptions()
    if isinstance(path, (str, os.PathLike)) and glob.has_magic(str(path)) and not os.path.exists(path):
        path = sorted(glob.glob(str(path))) or [str(path)]  # a quoted glob such as 'data/*.parquet'
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = _readers()
    if fmt not in readers:
        raise SourceError(f"unknown format {fmt!r}; supported: auto, {', '.join(readers)}")
    if options.labels != "inferred" and fmt != "imagefolder":
        raise UsageError(f"--labels {options.labels} reads image folders; {fmt} keeps its labels in its files")
    if not isinstance(path, (str, os.PathLike)):
        paths = [str(p) for p in path]
        if fmt != "parquet" and len(paths) != 1:
            raise SourceError(f"{fmt} reads one source path, not {len(paths)}; only Parquet takes several files")
        path = paths if fmt == "parquet" else paths[0]
    return readers[fmt](path if isinstance(path, list) else str(path), options)
