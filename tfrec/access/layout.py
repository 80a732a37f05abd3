"""Fixed-layout batches: records built as one template decode with a NumPy gather, no per-record parse.

Records tfrec writes for fixed-shape sources (MNIST, CIFAR: raw uint8 images of one shape, int64
labels) are byte for byte the same structure; only the values differ. The verify template
(tfrec.check.template) knows that structure: which bytes are tags, key names and lengths, and which
are values. A FixedLayout adds where each schema feature's value bytes sit, so a batch of records
read into the rows of one (records, framed bytes) matrix is checked (the template's masked word
compare over every row, both CRCs over the whole matrix at once) and decoded column by column.
A record that is not built as the template is left to the Example decoder, which names what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import google_crc32c
import numpy as np

from ..check.template import Template, build_template
from ..codec.schema import FeatureSpec, Schema
from ..io.crc import run_crc
from ..io.native import framing as _framing
from ..io.records import FOOTER_BYTES, FRAMING_BYTES, HEADER_BYTES, masked_crc32c

_crc32c = _framing.value if _framing is not None else google_crc32c.value
_STRUCT = 0xFF


def fixed_schema(schema: Schema) -> bool:
    """Whether every feature of the schema has a fixed byte size (raw images of a fixed shape, ints, floats)."""
    return bool(schema.features) and all(_fixed(f) for f in schema.features)


def _fixed(f: FeatureSpec) -> bool:
    if f.kind == "image":
        return f.encoding == "raw" and len(f.shape) in (2, 3) and all(d is not None for d in f.shape)
    return f.storage in ("int64", "float") and f.value_count is not None


def image_shape(f: FeatureSpec) -> tuple[int, int, int]:
    """(height, width, channels) of a raw image feature of fixed shape."""
    return (*f.shape, 1)[:3] if len(f.shape) == 2 else tuple(f.shape)


@dataclass(frozen=True)
class Field:
    """Where one feature's values sit in the payload: byte columns, and how they read."""

    name: str
    kind: str  # 'image', 'int64' or 'float'
    start: int  # first value byte, from the payload's start
    size: int  # value bytes
    shape: tuple  # per record
    varints: tuple = ()  # int64: (start, width) of each varint, from `start`


@dataclass(frozen=True)
class FixedLayout:
    """One record layout of a fixed-shape schema: its template and where each feature's values are."""

    template: Template
    fields: tuple[Field, ...]

    @property
    def length(self) -> int:
        """The payload bytes of every record of this layout."""
        return len(self.template.data)

    @property
    def framed(self) -> int:
        return self.length + FRAMING_BYTES

    def check(self, rows: np.ndarray, check_crc: bool = True) -> np.ndarray:
        """Which framed records (rows of a C-contiguous (n, framed) uint8 matrix) are intact and built as the template.

        The headers must be this layout's (length and its CRC are constant); the data CRCs are checked
        for the whole matrix with one CRC32C pass (a run of equal-length records, tfrec.io.crc.run_crc),
        and record by record only where that fails.
        """
        n, framed = rows.shape
        header = np.frombuffer(_header(self.length), "<u8", 1)[0], np.frombuffer(_header(self.length), "<u4", 1, 8)[0]
        ok = np.ndarray((n,), "<u8", rows, 0, (framed,)) == header[0]
        ok &= np.ndarray((n,), "<u4", rows, 8, (framed,)) == header[1]
        if check_crc and n:
            footers = np.ndarray((n,), "<u4", rows, framed - FOOTER_BYTES, (framed,)).astype(np.uint32)
            if not ok.all() or run_crc(self.length, footers) != _crc32c(rows):
                ok &= [masked_crc32c(r[HEADER_BYTES:framed - FOOTER_BYTES]) == int(f) for r, f in zip(rows, footers)]
        if n and self.template.words is not None:
            ok &= self.template.exact(rows, HEADER_BYTES, framed, n)
        return ok

    def column(self, field: Field, rows: np.ndarray, channels_first: bool = False) -> np.ndarray:
        """One feature's values for every row: images (n, H, W, C) (or (n, C, H, W)), ints int64, floats float32."""
        at = HEADER_BYTES + field.start
        values = rows[:, at:at + field.size]
        if field.kind == "image":
            images = values.reshape(len(rows), *field.shape)  # a view: the caller's assignment is the one copy
            return images.transpose(0, 3, 1, 2) if channels_first else images
        if field.kind == "float":
            return np.ascontiguousarray(values).view("<f4").astype(np.float32).reshape(len(rows), *field.shape)
        out = np.zeros(len(rows), np.uint64)
        cols = []
        for start, width in field.varints:
            v = np.zeros(len(rows), np.uint64)
            for b in range(width):
                v |= (values[:, start + b] & 0x7F).astype(np.uint64) << np.uint64(7 * b)
            cols.append(v)
        out = np.stack(cols, 1).view(np.int64) if cols else out.reshape(-1, 0).view(np.int64)
        return out.reshape(len(rows), *field.shape)


def _header(length: int) -> bytes:
    head = int(length).to_bytes(8, "little")
    return head + masked_crc32c(head).to_bytes(4, "little")


def build_layout(schema: Schema, data: bytes, sample: dict) -> FixedLayout | None:
    """The layout of a record (`data`, the payload) that parsed cleanly to `sample`, or None where it has none.

    None: the schema has a feature of varying size, the record is not one the template models, or the
    values found at the derived places are not the sample's (the layout is then not trusted).
    """
    if not fixed_schema(schema):
        return None
    raw = {f.name: int(np.prod(f.shape)) for f in schema.features if f.kind == "image"}
    template = build_template(data, raw)
    if template is None or template.words is None:
        return None
    fields = []
    for f in schema.features:
        field = _locate(template, f)
        if field is None:
            return None
        fields.append(field)
    layout = FixedLayout(template, tuple(fields))
    row = np.frombuffer(_header(len(data)) + bytes(data) + bytes(FOOTER_BYTES), np.uint8)[None]
    for field, f in zip(layout.fields, schema.features):
        got, want = layout.column(field, row)[0], np.asarray(sample[f.name])
        if got.shape != want.shape or not np.array_equal(got, want):
            return None
    return layout


def _locate(t: Template, f: FeatureSpec) -> Field | None:
    """The feature's value bytes: the first stretch of value bytes after its key (structure bytes) in the template."""
    name = f.name.encode()
    key = b"\x0a" + _varint(len(name)) + name
    data, mask = t.data.tobytes(), t.mask
    at = data.find(key)
    while at >= 0 and not (mask[at:at + len(key)] == _STRUCT).all():
        at = data.find(key, at + 1)
    if at < 0:
        return None
    free = np.flatnonzero(mask[at + len(key):] != _STRUCT)
    if not len(free):
        return None
    start = at + len(key) + int(free[0])
    rest = np.flatnonzero(mask[start:] == _STRUCT)
    size = int(rest[0]) if len(rest) else len(data) - start
    if f.kind == "image":
        shape = image_shape(f)
        return Field(f.name, "image", start, size, shape) if size == int(np.prod(shape)) else None
    count = f.value_count
    if f.storage == "float":
        return Field(f.name, "float", start, size, tuple(f.shape)) if size == 4 * count else None
    ends = np.flatnonzero(t.data[start:start + size] < 0x80) + 1  # where each varint ends (widths are fixed)
    if len(ends) != count or (len(ends) and ends[-1] != size):
        return None
    starts = np.concatenate(([0], ends[:-1]))
    return Field(f.name, "int64", start, size, tuple(f.shape), tuple(zip(starts.tolist(), (ends - starts).tolist())))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
