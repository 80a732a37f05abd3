"""Property-based fuzzing: arbitrary bytes give a clean tfrec error, never a crash, hang or huge allocation."""
from __future__ import annotations

import gzip
import os
import tempfile
import zlib

import google_crc32c
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfrec.io import records
from tfrec.errors import CorruptRecordError, SourceError
from tfrec.codec.example import ExampleDecodeError, decode_example, encode_example
from tfrec.sources.cifar import _records
from tfrec.sources.mnist import read_idx

# TFREC_FUZZ_EXAMPLES=50000 runs the long session (see the README); CI runs 300 per property.
FUZZ = settings(
    max_examples=int(os.environ.get("TFREC_FUZZ_EXAMPLES", "300")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _write(data: bytes) -> str:
    fd, path = tempfile.mkstemp(suffix=".bin")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _mutated(base: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(base)
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


VALID = b"".join(records.frame_record(encode_example({"image": bytes(range(40)), "label": i})) for i in range(5))
FLIPS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4)


@FUZZ
@given(st.one_of(
    st.binary(max_size=400),
    st.builds(_mutated, st.just(VALID), FLIPS, st.none() | st.integers(0, 400)),
    st.builds(_mutated, st.just(gzip.compress(VALID, mtime=0)), FLIPS, st.none() | st.integers(0, 200)),
    st.builds(_mutated, st.just(zlib.compress(VALID)), FLIPS, st.none() | st.integers(0, 200)),
), st.sampled_from(["none", "auto", "gzip", "zlib"]), st.booleans())
def test_record_reader(data, compression, check_crc):
    path = _write(data)
    try:
        n = 0
        for record in records.iter_records(path, compression, check_crc):
            n += 1
            assert len(record.data) <= 1032 * len(data)  # zlib expands at most ~1032x
    except CorruptRecordError as e:
        assert e.path == path
    finally:
        os.remove(path)


# Runs of equal-length records (checked with NumPy through CRC linearity) and records of varying length
# (checked one by one, by the compiled walk or its Python twin): the scanner's fast paths, which must
# agree with its record-by-record path and with each other.
RUNS = b"".join(records.frame_record(bytes([i]) * 20) for i in range(40))
VARIED = b"".join(records.frame_record(bytes([i]) * (5 + 7 * i)) for i in range(25))


@pytest.mark.slow
@FUZZ
@given(st.one_of(
    st.binary(max_size=400),
    st.builds(_mutated, st.just(RUNS + VARIED), FLIPS, st.none() | st.integers(0, 2000)),
    st.builds(_mutated, st.just(VARIED + RUNS + VARIED), FLIPS, st.none() | st.integers(0, 3000)),
), st.sampled_from([64, 200, 4 << 20]))
def test_frame_scanner_paths_agree(data, chunk):
    from tfrec.io import scan

    path = _write(data)
    saved = scan.SCAN_CHUNK_BYTES, scan.FIRST_READ_BYTES
    scan.SCAN_CHUNK_BYTES = scan.FIRST_READ_BYTES = chunk  # small reads: records across read edges
    try:
        fast = scan.scan_file(path, "none", checksum="crc32c")
        with scan.without_compiled():  # the Python walk over records of varying length
            python = scan.scan_file(path, "none", checksum="crc32c")
        seen = []
        slow = scan.scan_file(path, "none", on_record=lambda i, o, d: seen.append((i, o, d)))
    finally:
        scan.SCAN_CHUNK_BYTES, scan.FIRST_READ_BYTES = saved
        os.remove(path)
    assert [(p.record, p.offset, p.reason) for p in fast.problems] == [(p.record, p.offset, p.reason) for p in slow.problems]
    assert fast.records == slow.records and (fast.offsets == slow.offsets).all() and (fast.lengths == slow.lengths).all()
    assert fast.problems == python.problems and fast.records == python.records and fast.checksum == python.checksum
    assert fast.checksum in (None, f"crc32c:{google_crc32c.value(data):08x}")
    assert (fast.offsets == python.offsets).all() and (fast.lengths == python.lengths).all()
    for index, offset, payload in seen:  # every record passed on is intact, where the index says
        assert data[offset + 12 : offset + 12 + len(payload)] == payload
        assert records.masked_crc32c(payload) == int.from_bytes(data[offset + 12 + len(payload) : offset + 16 + len(payload)], "little")


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.builds(_mutated, st.just(encode_example({"a": [b"x" * 30, b"y"], "b": [1, -2], "c": [0.5]})),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3), st.none() | st.integers(0, 80))))
def test_example_decoder(data):
    try:
        out = decode_example(data)
    except ExampleDecodeError:
        return
    for kind, values in out.values():
        assert kind in ("bytes", "int64", "float") and isinstance(values, list)


IDX = b"\x00\x00\x08\x03" + np.array([2, 3, 3], ">u4").tobytes() + bytes(18)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.builds(_mutated, st.just(IDX),
       st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=3), st.none() | st.integers(0, 40))))
def test_idx_parser(data):
    path = _write(data)
    try:
        arr = read_idx(path)
        assert arr.nbytes <= len(data)
    except SourceError as e:
        assert path in str(e)
    finally:
        os.remove(path)


@FUZZ
@given(st.binary(max_size=3 * 3074 + 5), st.sampled_from([1, 2]))
def test_cifar_parser(data, label_bytes):
    try:
        images, labels = _records("x.bin", data, label_bytes, (10, 100)[:label_bytes] if label_bytes == 1 else (20, 100))
        assert images.shape[1:] == (32, 32, 3) and len(labels) == label_bytes
    except SourceError as e:
        assert str(e).startswith("x.bin: ")
