"""Sources' data model: the split data a reader returns (arrays or per-record items), what a source holds,
and the options a reader takes."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ..codec.images import MAX_PIXELS
from ..codec.schema import Schema
from ..errors import SourceError

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
    # item -> (record, '', the stored image's format) or (None, why the item was skipped, ''); a detection
    # layout's adds a 4th element, its annotation events (sources/objects.py: clipped or dropped boxes, ...)
    make_record: Callable[[Any], tuple[bytes | None, str, str]] | None = None
    skipped: list[dict] = field(default_factory=list)
    ignored: int = 0  # files passed over as no image (by extension)
    ignored_names: tuple[str, ...] = ()  # the first MAX_LISTED_IGNORED of them, relative to the source
    name: str = ""  # the name the source suggests for the dataset (an image folder's), '' for the format's
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the result says besides its counts (not a problem: e.g. "unlabelled")
    labels: str = ""  # image folders: how records got their labels (one of LABEL_MODES); '' where the files hold them
    cleanup: Callable[[], None] | None = None  # removes temporary files the reader made (called by convert)
    # detection layouts (COCO, VOC, YOLO, CSV): the task they write ('' for one label per image) and the class
    # names, in label map order (label_map.pbtxt's id i is class_names[i - 1])
    task: str = ""
    class_names: tuple[str, ...] = ()

    def close(self) -> None:
        """Removes the reader's temporary files, if any (safe to call twice)."""
        if self.cleanup is not None:
            self.cleanup()


# Field metadata of the options that change the records a conversion writes: the conversion's run
# fingerprint (write/job.py) holds their values, so --resume reuses no shard written with other values.
# {"fingerprint": "resize"}: only while that other option is set (--fit changes a byte only with --resize).
FINGERPRINT = {"fingerprint": True}


@dataclass(frozen=True)
class SourceOptions:
    """Options a source reader may use (image folders use most of them)."""

    resize: tuple[int, int] | None = field(default=None, metadata=FINGERPRINT)  # (width, height)
    # how resize keeps the aspect ratio: one of FITS
    fit: str = field(default="crop", metadata={"fingerprint": "resize"})
    encode: str | None = field(default=None, metadata=FINGERPRINT)  # 'jpeg' or 'png'
    quality: int = field(default=95, metadata=FINGERPRINT)
    on_error: str = field(default="skip", metadata=FINGERPRINT)
    follow_symlinks: bool = field(default=False, metadata=FINGERPRINT)
    # store EXIF-rotated JPEGs upright (re-encoded), as viewers show them
    exif_transpose: bool = field(default=True, metadata=FINGERPRINT)
    max_pixels: int = field(default=MAX_PIXELS, metadata=FINGERPRINT)  # codec/images.py: the one pixel cap
    schema: Schema | None = None
    # Parquet: the image column (default: found by name or type), the label column (default: found by name)
    image_column: str | None = field(default=None, metadata=FINGERPRINT)
    label_column: str | None = field(default=None, metadata=FINGERPRINT)
    subset: str | None = None  # which IDX set of a folder holding several (EMNIST: 'digits', 'letters', ...)
    labels: str = "inferred"  # image folders: one of LABEL_MODES (Keras' labels="inferred" or None)

    def __post_init__(self):
        if self.labels not in LABEL_MODES:
            raise SourceError(f"unknown labels {self.labels!r}; supported: {', '.join(LABEL_MODES)}")
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
