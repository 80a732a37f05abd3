"""The record layer: framing byte-identical to TensorFlow, index files, the checking reader."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tfrec.io import records
from tfrec.io.index import read_index
from tfrec.errors import CorruptRecordError, TfrecError

PAYLOADS = [b"", b"a", b"hello world" * 50, bytes(range(256)) * 40]


def test_masked_crc_golden():
    # Golden values: TFRecord's masked CRC32C of b"" and of the 8-byte length 0.
    assert records.masked_crc32c(b"") == 0xA282EAD8
    framed = records.frame_record(b"")
    assert framed[:8] == b"\0" * 8
    assert struct.unpack("<I", framed[8:12])[0] == records.masked_crc32c(b"\0" * 8)
    assert framed[12:] == struct.pack("<I", 0xA282EAD8)


def test_framed_record_golden_bytes():
    # Written by tf.io.TFRecordWriter for b"hello" (TensorFlow 2.21); guards against format drift.
    assert records.frame_record(b"hello").hex() == "0500000000000000eab2043e68656c6c6fbb1f1c19"


def test_framing_is_byte_identical_to_tensorflow(tmp_path):
    tf = pytest.importorskip("tensorflow")
    ours, theirs = tmp_path / "ours.tfrecord", tmp_path / "tf.tfrecord"
    records.write_records(str(ours), PAYLOADS)
    with tf.io.TFRecordWriter(str(theirs)) as w:
        for p in PAYLOADS:
            w.write(p)
    assert ours.read_bytes() == theirs.read_bytes()


def test_frame_matrix_matches_frame_record():
    rows = np.random.default_rng(0).integers(0, 256, (7, 33), dtype=np.uint8)
    framed = records.frame_matrix(rows)
    assert framed.tobytes() == b"".join(records.frame_record(r.tobytes()) for r in rows)


@pytest.mark.parametrize("compression", ["none", "gzip", "zlib"])
def test_roundtrip_and_tf_reads_it(tmp_path, compression):
    tf = pytest.importorskip("tensorflow")
    path = str(tmp_path / "x.tfrecord")
    info = records.write_records(path, PAYLOADS, compression)
    assert info.records == len(PAYLOADS)
    assert info.checksum == records.file_checksum(path)
    assert records.detect_compression(path) == compression
    assert [r.data for r in records.iter_records(path)] == PAYLOADS
    ds = tf.data.TFRecordDataset(path, compression_type="" if compression == "none" else compression.upper())
    assert [x.numpy() for x in ds] == PAYLOADS


def test_index_points_at_every_record(tmp_path):
    path = str(tmp_path / "x.tfrecord")
    records.write_records(path, PAYLOADS)
    index = read_index(path + ".idx")
    data = open(path, "rb").read()
    assert index[-1].sum() == len(data)
    for (offset, length), payload in zip(index.tolist(), PAYLOADS):
        assert data[offset : offset + length] == records.frame_record(payload)
    assert [r.offset for r in records.iter_records(path)] == index[:, 0].tolist()


@pytest.mark.parametrize("lengths", [[838] * 5, [16, 30, 16, 2000], [16], []], ids=["fixed", "varied", "one", "none"])
def test_index_lines_fixed_and_varied_lengths(lengths):
    lengths = np.array(lengths, np.int64)
    expected = "".join(f"{o} {n}\n" for o, n in zip(np.cumsum([100, *lengths[:-1]]).tolist(), lengths.tolist()))
    assert records.index_lines(100, lengths) == (expected if len(lengths) else "")


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "x.tfrecord"
    with pytest.raises(RuntimeError):
        with records.ShardWriter(str(path)) as w:
            w.write(b"abc")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def _corrupt(tmp_path, mutate):
    path = tmp_path / "x.tfrecord"
    records.write_records(str(path), PAYLOADS)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(mutate(data)))
    return str(path)


def _offset(i):
    return sum(len(p) + 16 for p in PAYLOADS[:i])


@pytest.mark.parametrize(
    "mutate,index,reason",
    [
        (lambda d: d.__setitem__(_offset(2) + 20, d[_offset(2) + 20] ^ 1) or d, 2, "data CRC"),
        (lambda d: d.__setitem__(_offset(1) + 3, 7) or d, 1, "length CRC"),
        (lambda d: d[: _offset(3) + 100], 3, "truncated record"),
        (lambda d: d + b"garbage", 4, "truncated header"),
    ],
)
def test_reader_names_file_record_and_offset(tmp_path, mutate, index, reason):
    path = _corrupt(tmp_path, mutate)
    with pytest.raises(CorruptRecordError, match=reason) as err:
        list(records.iter_records(path))
    assert err.value.index == index and err.value.offset == _offset(index) and err.value.path == path
    assert f"record {index} at byte offset {_offset(index)}" in str(err.value)


def test_unknown_compression():
    with pytest.raises(TfrecError, match="expected one of none, gzip, zlib"):
        records.normalize_compression("lz4")
