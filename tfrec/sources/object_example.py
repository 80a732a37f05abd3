"""A detection record's tf.train.Example bytes, encoded straight from its NumPy columns.

The same bytes as the schema's encoder (codec/example.py encode_example: keys sorted, floats and int64s
packed; tests/sources/test_detection_sources.py checks every record of every layout against it), without
its per-value Python lists: a detection record has ~15 short list features, and converting each NumPy
column to a list and back cost more than the rest of the record (benchmarks/convert_detection.py).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..codec.example import SMALL_VARINTS, varint
from ..codec.schema import Schema
from ..errors import SchemaError



def _bytes_feature(value: Any) -> bytes:
    if isinstance(value, (bytes, str)):  # a scalar: the common case
        v = value.encode() if isinstance(value, str) else value
        n = len(v)
        head = b"\x0a" + (SMALL_VARINTS[n] if n < 128 else varint(n))
        m = len(head) + n
        return b"\x0a" + (SMALL_VARINTS[m] if m < 128 else varint(m)) + head + v
    parts = []
    for v in value:
        v = v.encode() if isinstance(v, str) else bytes(v)
        parts += [b"\x0a", varint(len(v)), v]
    body = b"".join(parts)
    return b"\x0a" + varint(len(body)) + body


def _float_feature(value: Any) -> bytes:
    packed = np.asarray(value, "<f4").tobytes()
    inner = b"\x0a" + varint(len(packed)) + packed if packed else b""
    return b"\x12" + varint(len(inner)) + inner


def _int64_feature(value: Any) -> bytes:
    if isinstance(value, np.ndarray):
        values = value.reshape(-1).tolist()
    elif isinstance(value, (list, tuple)):
        values = [int(v) for v in value]
    else:
        values = [int(value)]
    if values and min(values) >= 0 and max(values) < 128:
        packed = bytes(values)  # one byte a varint
    else:
        packed = b"".join(varint(v) for v in values)
    inner = b"\x0a" + varint(len(packed)) + packed if packed else b""
    return b"\x1a" + varint(len(inner)) + inner


_ENCODERS = {"bytes": _bytes_feature, "float": _float_feature, "int64": _int64_feature}


_LAYOUTS: dict[int, tuple[Schema, tuple]] = {}  # id(schema) -> (schema, layout): hashing a Schema costs more


def _layout(schema: Schema) -> tuple[tuple[str, bytes, Any], ...]:
    """(name, the map entry's key field, encoder) per feature, in the sorted key order of the wire format."""
    known = _LAYOUTS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    if len(_LAYOUTS) >= 8:  # a worker unpickles a new copy of the schema with each task: keep the cache small
        _LAYOUTS.clear()
    out = []
    for f in sorted(schema.features, key=lambda f: f.name):
        key = f.name.encode()
        out.append((f.name, b"\x0a" + varint(len(key)) + key, _ENCODERS[f.storage]))
    _LAYOUTS[id(schema)] = (schema, tuple(out))
    return tuple(out)


def encode_object_example(schema: Schema, sample: Mapping[str, Any]) -> bytes:
    """The Example of a detection-layout sample, byte-identical to `schema.encode(sample)`.

    Raises:
        SchemaError: the sample lacks a feature the schema declares.
    """
    parts = []
    for name, key, encode in _layout(schema):
        try:
            feature = encode(sample[name])
        except KeyError:
            raise SchemaError(f"sample has no feature {name!r} (schema {schema.name!r} declares it)") from None
        n = len(feature)
        flen = SMALL_VARINTS[n] if n < 128 else varint(n)
        entry = len(key) + 1 + len(flen) + n
        parts += [b"\x0a", SMALL_VARINTS[entry] if entry < 128 else varint(entry), key, b"\x12", flen, feature]
    body = b"".join(parts)
    return b"\x0a" + varint(len(body)) + body
