"""tf.train.Example encode/decode in pure Python and NumPy, wire-compatible with TensorFlow's protobuf.

Example   { Features features = 1; }
Features  { map<string, Feature> feature = 1; }          (map entry: key = 1, value = 2)
Feature   { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; }
*List     { repeated <T> value = 1; }                    (floats and int64s packed)

Keys are written in sorted order, as TensorFlow's deterministic serialization does, so the same
features always give the same bytes. No TensorFlow import: `tfrec convert`, `verify` and `inspect`
stay fast to start.
"""
from __future__ import annotations

import struct
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import TfrecError

KINDS = ("bytes", "float", "int64")
_KIND_FIELD = {"bytes": 1, "float": 2, "int64": 3}
_FIELD_KIND = {v: k for k, v in _KIND_FIELD.items()}
_U64 = (1 << 64) - 1


class ExampleDecodeError(TfrecError):
    """A record is not a valid serialized tf.train.Example."""


SMALL_VARINTS = [bytes((i,)) for i in range(128)]


def varint(n: int) -> bytes:
    """n as a protobuf varint (negative int64s as their 10-byte two's complement)."""
    if 0 <= n < 128:
        return SMALL_VARINTS[n]  # most tags, lengths and labels: the common case, made cheap
    n &= _U64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _as_list(values: Any) -> list:
    if isinstance(values, np.ndarray):
        return values.reshape(-1).tolist()
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values]


def kind_of(values: Any) -> str:
    """The Feature kind a Python/NumPy value maps to: 'bytes', 'int64' or 'float'."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "iub":
            return "int64"
        if values.dtype.kind == "f":
            return "float"
        if values.dtype.kind in "SUO":
            return "bytes"
        raise TfrecError(f"cannot store a NumPy array of dtype {values.dtype} in an Example")
    items = _as_list(values)
    if not items:
        raise TfrecError("cannot infer the kind of an empty list; pass (kind, values)")
    first = items[0]
    if isinstance(first, (bytes, bytearray, memoryview, str, np.bytes_, np.str_)):
        return "bytes"
    if isinstance(first, (bool, int, np.integer)):
        return "int64"
    if isinstance(first, (float, np.floating)):
        return "float"
    raise TfrecError(f"cannot store a value of type {type(first).__name__} in an Example")


def _feature_parts(kind: str, values: Any) -> tuple[list[bytes], int]:
    """One Feature message as a list of byte strings and their total length.

    Large byte values are referenced, not copied, until the one final join in encode_example.
    """
    items = _as_list(values)
    if kind == "bytes":
        body = []  # Feature.bytes_list (field 1) of BytesList.value (field 1) entries
        for v in items:
            v = v.encode() if isinstance(v, str) else v if isinstance(v, bytes) else bytes(v)
            body += [b"\x0a" + varint(len(v)), v]
        body_len = sum(map(len, body))
        return [b"\x0a" + varint(body_len)] + body, 1 + len(varint(body_len)) + body_len
    if kind == "int64":
        packed = b"".join(varint(int(v)) for v in items)
        field = 3
    elif kind == "float":
        packed = np.asarray(items, dtype="<f4").tobytes()
        field = 2
    else:
        raise TfrecError(f"unknown feature kind {kind!r}; expected one of {', '.join(KINDS)}")
    feature = _field(field, _field(1, packed) if packed else b"")
    return [feature], len(feature)


def encode_feature(kind: str, values: Any) -> bytes:
    """Serializes one Feature message of the given kind."""
    return b"".join(_feature_parts(kind, values)[0])


def encode_example(features: Mapping[str, Any]) -> bytes:
    """Serializes a tf.train.Example.

    Args:
        features: name -> value. A value is bytes/str/int/float, a list or NumPy array of them,
            or a (kind, values) pair to force the kind ('bytes', 'int64', 'float').

    Returns:
        The serialized Example, byte-identical for equal inputs (keys sorted). Each value is
        copied once, into the result.
    """
    parts: list[bytes] = []
    total = 0
    for name in sorted(features):
        value = features[name]
        if isinstance(value, tuple) and len(value) == 2 and value[0] in KINDS:
            kind, value = value
        else:
            kind = kind_of(value)
        feat_parts, feat_len = _feature_parts(kind, value)
        key = _field(1, name.encode())
        entry_len = len(key) + 1 + len(varint(feat_len)) + feat_len
        head = b"\x0a" + varint(entry_len) + key + b"\x12" + varint(feat_len)
        parts.append(head)
        parts += feat_parts
        total += len(head) + feat_len
    return b"".join([b"\x0a" + varint(total)] + parts)


# ---------------------------------------------------------------- decoding


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ExampleDecodeError(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise ExampleDecodeError(f"varint longer than 10 bytes at byte {pos}")


def _iter_fields(buf: bytes, pos: int, end: int):
    """Yields (field number, wire type, value or (start, stop)) for each field in buf[pos:end]."""
    while pos < end:
        tag, pos = _read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ExampleDecodeError(f"field number 0 at byte {pos}")
        if wire == 0:
            value, pos = _read_varint(buf, pos, end)
            yield number, wire, value
        elif wire == 2:
            n, pos = _read_varint(buf, pos, end)
            if n > end - pos:
                raise ExampleDecodeError(f"field {number} claims {n} bytes, {end - pos} remain")
            yield number, wire, (pos, pos + n)
            pos += n
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if size > end - pos:
                raise ExampleDecodeError(f"truncated fixed-width field {number}")
            yield number, wire, (pos, pos + size)
            pos += size
        else:
            raise ExampleDecodeError(f"unsupported wire type {wire} for field {number}")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _decode_list(buf: bytes, start: int, end: int, kind: str) -> list:
    values: list = []
    for number, wire, val in _iter_fields(buf, start, end):
        if number != 1:
            continue  # unknown fields are skipped, as protobuf does
        if kind == "bytes":
            if wire != 2:
                raise ExampleDecodeError("bytes_list value is not length-delimited")
            values.append(buf[val[0] : val[1]])
        elif kind == "int64":
            if wire == 0:
                values.append(_signed(val))
            elif wire == 2:
                p, e = val
                while p < e:
                    v, p = _read_varint(buf, p, e)
                    values.append(_signed(v))
            else:
                raise ExampleDecodeError("int64_list value has the wrong wire type")
        else:
            if wire == 5:
                values.append(struct.unpack_from("<f", buf, val[0])[0])
            elif wire == 2:
                if (val[1] - val[0]) % 4:
                    raise ExampleDecodeError("packed float_list is not a multiple of 4 bytes")
                values.extend(np.frombuffer(buf, "<f4", (val[1] - val[0]) // 4, val[0]).tolist())
            else:
                raise ExampleDecodeError("float_list value has the wrong wire type")
    return values


def _decode_feature(buf: bytes, start: int, end: int) -> tuple[str, list]:
    kind, values = "bytes", []  # an empty Feature reads as an empty list
    for number, wire, val in _iter_fields(buf, start, end):
        if number in _FIELD_KIND and wire == 2:
            kind = _FIELD_KIND[number]
            values = _decode_list(buf, val[0], val[1], kind)
    return kind, values


def decode_example(data: bytes) -> dict[str, tuple[str, list]]:
    """Parses a serialized tf.train.Example.

    Safe on hostile bytes: every length is checked against the bytes that remain before anything is
    sliced or read (a packed list claiming 100M elements in a short record fails at once), group wire
    types are refused, and the parse descends only the Example's fixed four levels (unknown fields
    are skipped, never parsed), so nesting costs no recursion. Memory is linear in the record's size.

    Returns:
        name -> (kind, values): kind is 'bytes', 'int64' or 'float'; values a list.

    Raises:
        ExampleDecodeError: the bytes are not a valid Example (says what and where).
    """
    data = bytes(data)
    out: dict[str, tuple[str, list]] = {}
    for number, wire, val in _iter_fields(data, 0, len(data)):
        if number != 1:
            continue
        if wire != 2:
            raise ExampleDecodeError("Example.features is not length-delimited")
        for fnum, fwire, entry in _iter_fields(data, val[0], val[1]):
            if fnum != 1 or fwire != 2:
                continue
            key, feature = b"", None
            for enum, ewire, ev in _iter_fields(data, entry[0], entry[1]):
                if enum == 1 and ewire == 2:
                    key = data[ev[0] : ev[1]]
                elif enum == 2 and ewire == 2:
                    feature = _decode_feature(data, ev[0], ev[1])
            try:
                name = key.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ExampleDecodeError(f"feature name {key[:40]!r} is not UTF-8") from e
            out[name] = feature if feature is not None else ("bytes", [])
    return out


# ---------------------------------------------------------------- bulk encoding


def _varint_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """Varint bytes of N values that all need `width` bytes: uint8 array (N, width)."""
    v = values.astype(np.int64).view(np.uint64)
    shifts = (np.arange(width, dtype=np.uint64) * np.uint64(7))[None, :]
    out = ((v[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    out[:, :-1] |= 0x80
    return out


def _varint_widths(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.int64).view(np.uint64)
    widths = np.ones(len(v), dtype=np.int64)
    for w in range(1, 10):
        widths += v >= np.uint64(1 << (7 * w))
    return widths


def encode_examples_bulk(
    columns: Mapping[str, tuple[str, np.ndarray]], margin: tuple[int, int] = (0, 0), take: np.ndarray | None = None
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Serializes N Examples of fixed layout at once, without one protobuf object per record.

    Every record must have the same value count per feature: bytes features are uint8 arrays
    (N, L) (one L-byte value per record); int64 features (N,) scalars; float features (N, k).
    Records are grouped by the byte widths of their int64 varints (usually one group).

    Args:
        columns: name -> (kind, array).
        margin: spare columns (before, after) each row gets, e.g. (12, 4) for TFRecord framing.
        take: encode only these records, in this order (gathered on the way, without a copy of
            the whole columns first).

    Yields:
        (row indices, uint8 matrix): the serialized Examples of those records, one per row
        (between the margins), byte-identical to `encode_example` on the same values.
    """
    names = sorted(columns)
    if take is not None:
        columns = {k: (kind, arr[take] if kind == "int64" else _Take(arr, take)) for k, (kind, arr) in columns.items()}
    n = len(next(iter(columns.values()))[1]) if columns else 0
    int_names = [k for k in names if columns[k][0] == "int64"]
    for k in int_names:
        if columns[k][1].ndim != 1:
            raise TfrecError(f"bulk encoding takes one int64 per record; feature {k!r} has shape {columns[k][1].shape}")
    widths = np.stack([_varint_widths(columns[k][1]) for k in int_names], 1) if int_names else np.ones((n, 0), np.int64)
    if n and (widths == widths[0]).all():  # the usual single group: no sort (np.unique), no row gather
        yield np.arange(n), _encode_group(columns, names, dict(zip(int_names, widths[0].tolist())), None, margin)
        return
    signatures, group_of = np.unique(widths, axis=0, return_inverse=True)
    for g, signature in enumerate(signatures):
        rows = np.flatnonzero(group_of.reshape(-1) == g)
        yield rows, _encode_group(columns, names, dict(zip(int_names, signature.tolist())), rows, margin)


def _encode_group(columns, names, int_widths: dict, rows: np.ndarray | None, margin: tuple[int, int]) -> np.ndarray:
    # Each map entry ends with its variable part (the bytes value, the varint, the packed floats),
    # so an entry is a constant prefix followed by an (n, w) matrix. rows=None: every record.
    sel = slice(None) if rows is None else rows
    count = len(next(iter(columns.values()))[1]) if rows is None else len(rows)
    pieces: list = []
    for name in names:
        kind, arr = columns[name]
        if kind == "bytes":
            values = arr if rows is None else arr[rows]  # a _Take stays lazy: gathered into the output
            if values.dtype != np.uint8:
                values = values[:].astype(np.uint8)
            feature = lambda ph: _field(1, _field(1, ph))  # noqa: E731
        elif kind == "int64":
            values = _varint_matrix(arr[sel], int_widths[name])
            feature = lambda ph: _field(3, _field(1, ph))  # noqa: E731
        elif kind == "float":
            values = np.ascontiguousarray(arr[sel], dtype="<f4").reshape(count, -1).view(np.uint8)
            feature = lambda ph: _field(2, _field(1, ph) if ph else b"")  # noqa: E731
        else:
            raise TfrecError(f"unknown feature kind {kind!r} for {name!r}; expected one of {', '.join(KINDS)}")
        width = int(np.prod(values.shape[1:], dtype=np.int64))
        entry = _field(1, _field(1, name.encode()) + _field(2, feature(b"\0" * width)))
        pieces += [np.frombuffer(entry[: len(entry) - width], np.uint8)[None, :], values]
    body_len = sum(_width(p) for p in pieces)
    head = _field(1, b"\0" * body_len)[: 1 + len(varint(body_len))]
    pieces.insert(0, np.frombuffer(head, np.uint8)[None, :])
    out = np.empty((count, margin[0] + len(head) + body_len + margin[1]), dtype=np.uint8)
    col = margin[0]
    for p in pieces:
        _copy_into(out[:, col : col + _width(p)], p)
        col += _width(p)
    return out


def _width(p: np.ndarray) -> int:
    return int(np.prod(p.shape[1:], dtype=np.int64))


PLANAR_BLOCK_ROWS = 256  # 256 CIFAR images: 768 KiB, within L2 (128-512 measured alike)


def _copy_into(dst: np.ndarray, src: "np.ndarray | _Take") -> None:
    """dst (n, w) = src (n, ...) flattened row-major; channel-planar images copied plane by plane."""
    if isinstance(src, _Take):
        if src.gather_into(dst):
            return
        src = src[:]
    if src.ndim == 4 and src.shape[3] <= 4 and src.strides[3] > src.strides[2]:
        # (N, H, W, C) viewed over planar (N, C, H, W) data, as CIFAR stores it: copying one channel
        # at a time reads contiguous planes and was 2x faster than one strided copy; doing it for
        # PLANAR_BLOCK_ROWS records at a time (the block's output stays in cache for the next
        # channel) took 13.5 ms per 10,000 CIFAR images instead of 20.
        view = dst.reshape(src.shape)
        for i in range(0, len(src), PLANAR_BLOCK_ROWS):
            for c in range(src.shape[3]):
                view[i : i + PLANAR_BLOCK_ROWS, ..., c] = src[i : i + PLANAR_BLOCK_ROWS, ..., c]
    else:
        dst[...] = src.reshape(len(src), -1) if src.ndim != 2 else src


class _Take:
    """Lazily indexes an array by `take`: _Take(a, t)[rows] is a[t[rows]], gathered once."""

    def __init__(self, arr: np.ndarray, take: np.ndarray):
        self.arr, self.take = arr, take
        self.ndim, self.dtype = arr.ndim, arr.dtype
        self.shape = (len(take),) + arr.shape[1:]

    def gather_into(self, dst: np.ndarray) -> bool:
        """dst (n, w) = the gathered rows flattened, in one pass (no gathered copy first); False if it can't.

        For C-contiguous rows, and for channel-planar images (CIFAR), whose planar rows are gathered
        a block at a time into a buffer that stays in cache while it is interleaved. Indices are
        checked first (mode='clip' skips NumPy's own check, which made it buffer the output).
        MNIST's 60,000 images: 22 ms instead of 45; CIFAR-10's 50,000: ~100 ms instead of 130-280.
        """
        arr, take = self.arr, self.take
        if arr.dtype != dst.dtype or not len(take) or take.min() < 0 or take.max() >= len(arr):
            return False  # the plain gather raises (or wraps negative indices) as NumPy does
        if arr.flags.c_contiguous:
            np.take(arr.reshape(len(arr), -1), take, axis=0, out=dst, mode="clip")
            return True
        planar = arr.transpose(0, 3, 1, 2) if arr.ndim == 4 and arr.shape[3] <= 4 else None
        if planar is None or not planar.flags.c_contiguous:
            return False
        rows = planar.reshape(len(arr), -1)
        block = np.empty((PLANAR_BLOCK_ROWS, rows.shape[1]), arr.dtype)
        view = dst.reshape((len(take),) + arr.shape[1:])
        for i in range(0, len(take), PLANAR_BLOCK_ROWS):
            part = take[i : i + PLANAR_BLOCK_ROWS]
            got = np.take(rows, part, axis=0, out=block[: len(part)], mode="clip").reshape((len(part),) + planar.shape[1:])
            for c in range(arr.shape[3]):
                view[i : i + len(part), ..., c] = got[:, c]
        return True

    def __len__(self) -> int:
        return len(self.take)

    def __getitem__(self, rows):
        return self.arr[self.take[rows]]
