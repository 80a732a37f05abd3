"""The framing scanner and its CRC arithmetic: run CRCs, combining, deferred run checks, varied records."""
from __future__ import annotations

import os

import google_crc32c
import numpy as np
import pytest

from tfrec.errors import TfrecError
from tfrec.io import crc, scan
from tfrec.io.index import read_index
from tfrec.io.records import frame_record, write_records

from ..damage import flip, offsets


def test_run_crc_matches_the_bytes():
    rng = np.random.default_rng(0)
    for n, length in [(1, 0), (2, 5), (63, 10), (64, 10), (65, 10), (700, 33), (4097, 3)]:
        buf = b"".join(frame_record(rng.bytes(length)) for _ in range(n))
        footers = np.ndarray((n,), "<u4", buf, 12 + length, (length + 16,)).astype(np.uint32)
        assert crc.run_crc(length, footers) == google_crc32c.value(buf)
        damaged = bytearray(buf)
        damaged[rng.integers(len(buf))] ^= 1
        assert crc.run_crc(length, np.ndarray((n,), "<u4", bytes(damaged), 12 + length, (length + 16,)).astype(np.uint32)) \
            != google_crc32c.value(bytes(damaged)) or damaged == buf


def test_combine():
    a, b = os.urandom(1000), os.urandom(4567)
    assert crc.crc32c_combine(google_crc32c.value(a), google_crc32c.value(b), len(b)) == google_crc32c.value(a + b)


def test_index_parser(tmp_path):
    path = str(tmp_path / "x.tfrecord")
    write_records(path, [b"a" * i for i in range(100)])
    lines = open(path + ".idx").read().split()
    assert read_index(path + ".idx").ravel().tolist() == [int(v) for v in lines]
    (tmp_path / "bad.idx").write_text("0 16\n16 x\n")
    with pytest.raises(TfrecError, match="bad.idx: not an index file"):
        read_index(str(tmp_path / "bad.idx"))
    (tmp_path / "odd.idx").write_text("0 16\n16\n")
    with pytest.raises(TfrecError, match="odd.idx: odd number of integers"):
        read_index(str(tmp_path / "odd.idx"))
    (tmp_path / "empty.idx").write_text("")
    assert read_index(str(tmp_path / "empty.idx")).shape == (0, 2)


@pytest.mark.parametrize("compression", ["none", "gzip", "zlib"])
def test_scan_variable_records_and_checksums(tmp_path, compression, monkeypatch):
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", 4096)  # many chunks, records across chunk edges
    rng = np.random.default_rng(1)
    payloads = [rng.bytes(int(n)) for n in rng.integers(0, 3000, 200)] + [b"z" * 10] * 300
    path = str(tmp_path / "v.tfrecord")
    write_records(path, payloads, compression)
    seen = []
    result = scan.scan_file(path, on_record=lambda i, o, d: seen.append(d), checksum="crc32")
    assert seen == payloads and not result.problems and result.compression == compression
    import zlib

    raw = open(path, "rb").read()
    assert result.checksum == f"crc32:{zlib.crc32(raw):08x}"
    assert scan.scan_file(path, checksum="crc32c").checksum == f"crc32c:{google_crc32c.value(raw):08x}"
    if compression == "none":
        assert (result.offsets == read_index(path + ".idx")[:, 0]).all()
        # without a callback: varied records one by one, then the equal ones as runs, across reads
        plain = scan.scan_file(path)
        assert not plain.problems and plain.records == len(payloads)
        assert (plain.offsets == result.offsets).all() and (plain.lengths == result.lengths).all()


def _damage(path: str, offs: list[int], data: list[int] = (), lengths: list[int] = (), footers: list[int] = ()) -> None:
    sizes = np.diff(offs + [os.path.getsize(path)])
    for i in data:
        flip(path, offs[i] + 12 + int(sizes[i] - 16) // 2)
    for i in lengths:
        flip(path, offs[i] + 1)
    for i in footers:
        flip(path, offs[i] + int(sizes[i]) - 2)


def _found(result) -> list[tuple[int, int, str]]:
    return [(p.record, p.offset, p.reason.split(";")[0]) for p in result.problems]


DATA_CRC = "data CRC mismatch (the record's bytes are damaged)"
LENGTH_CRC = "length CRC mismatch (corrupt length field, or not TFRecord data)"


def test_deferred_run_checks_name_each_damaged_record(tmp_path, monkeypatch):
    # Small reads and a small deferral: runs are checked across many reads, several times per file.
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", 4096)
    monkeypatch.setattr(scan, "DEFER_RECORDS", 200)
    path = str(tmp_path / "run.tfrecord")
    rng = np.random.default_rng(2)
    write_records(path, [rng.bytes(100) for _ in range(2000)])
    offs = offsets(path)
    clean = scan.scan_file(path)
    assert not clean.problems and clean.records == 2000 and (clean.offsets == offs).all()
    _damage(path, offs, data=[5, 777, 1999], footers=[1500])
    want = [(i, offs[i], DATA_CRC) for i in (5, 777, 1500, 1999)]
    assert _found(scan.scan_file(path)) == want
    assert _found(scan.scan_file(path, max_problems=2)) == want[:2]  # the first ones, in stream order
    # the record-by-record path (what the parse level uses) agrees
    assert _found(scan.scan_file(path, on_record=lambda *a: None)) == want


def test_varied_records_checked_one_by_one(tmp_path, monkeypatch, walk):
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", 64 << 10)  # records cross read boundaries
    path = str(tmp_path / "varied.tfrecord")
    rng = np.random.default_rng(3)
    # mostly above ZERO_COPY_BYTES (checked through views), some small ones (copied slices)
    write_records(path, [rng.bytes(int(n)) for n in rng.integers(10, 9000, 300)])
    offs = offsets(path)
    clean = scan.scan_file(path)
    assert not clean.problems and clean.records == 300 and (clean.offsets == offs).all()
    _damage(path, offs, data=[50, 299], lengths=[120], footers=[200])
    want = [(50, offs[50], DATA_CRC), (120, offs[120], LENGTH_CRC), (200, offs[200], DATA_CRC), (299, offs[299], DATA_CRC)]
    result = scan.scan_file(path)
    assert _found(result) == want
    assert f"next valid record at byte {offs[121]}" in result.problems[1].reason
    assert _found(scan.scan_file(path, on_record=lambda *a: None)) == want


def test_length_crcs_vectorized():
    from tfrec.io.crc import masked_length_crcs
    from tfrec.io.records import masked_crc32c

    lengths = np.array([0, 1, 255, 256, 838, 3126, 1 << 20, (1 << 31) - 1, (1 << 40) + 7], np.uint64)
    fields = lengths.astype("<u8").view(np.uint8).reshape(-1, 8)
    assert masked_length_crcs(fields).tolist() == [masked_crc32c(int(n).to_bytes(8, "little")) for n in lengths]


# ---------------------------------------------------------------- a length field that lies (issue 23, item 16)


def _lying(length: int, body: bytes) -> bytes:
    """A record whose length field says `length`, with a length CRC that holds, over `body`."""
    import struct

    from tfrec.io.records import masked_crc32c

    head = struct.pack("<Q", length)
    return head + struct.pack("<I", masked_crc32c(head)) + body + struct.pack("<I", masked_crc32c(body))


GOOD = [b"a" * 20, b"b" * 30, b"c" * 45, b"d" * 7]  # lengths vary: the walk, not the run check
# R0 at 0 (36 bytes), the liar at 36 (10 data bytes: 26), R1 at 62 (46), R2 at 108 (61), R3 at 169 (23): 192 bytes
LIES = {
    "2**64-1": (1 << 64) - 1,
    "2**63": 1 << 63,
    "2 GiB": 1 << 31,
    "file size + 1": 193,
    "past the end": 1000,
    "ending where R2 starts": 56,  # a valid header follows its claimed end
    "inside a later record": 100,  # its claimed end falls in R2
}


def _write_liar(path: str, length: int, compression: str, tail: bool = True) -> None:
    import gzip
    import zlib

    data = frame_record(GOOD[0]) + _lying(length, b"L" * 10) + (b"".join(frame_record(g) for g in GOOD[1:]) if tail else b"")
    data = gzip.compress(data) if compression == "gzip" else zlib.compress(data) if compression == "zlib" else data
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("chunk", [4 << 20, 64])
@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("lie", list(LIES))
def test_a_lying_length_is_resynchronised_past(tmp_path, monkeypatch, walk, lie, compression, chunk):
    """A length field whose CRC holds but which claims more than its record: the next valid record is
    found, the liar is reported once, and every good record after it is counted and passed on."""
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", chunk)
    monkeypatch.setattr(scan, "FIRST_READ_BYTES", chunk)
    path = str(tmp_path / "liar.tfrecord")
    length = LIES[lie]
    _write_liar(path, length, compression)
    for on_record in (None, lambda i, o, d: seen.append((i, o, d))):
        seen: list = []
        result = scan.scan_file(path, on_record=on_record)
        assert result.records == 5 and result.stream_bytes == 192
        assert [(p.record, p.offset) for p in result.problems] == [(1, 36)]
        assert result.problems[0].reason == (f"length field says {length} bytes (its CRC holds), but a valid record "
                                             "starts at byte 62, within them: a corrupt length field; skipped 26 bytes to it")
        assert result.offsets.tolist() == [0, 62, 108, 169]  # the liar is counted, not located
        if on_record is not None:
            assert seen == [(0, 0, GOOD[0]), (2, 62, GOOD[1]), (3, 108, GOOD[2]), (4, 169, GOOD[3])]


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("lie", ["2**64-1", "2 GiB", "file size + 1"])
def test_a_length_past_the_end_with_nothing_after_is_truncation(tmp_path, walk, lie, compression):
    path = str(tmp_path / "cut.tfrecord")
    length = LIES[lie]
    _write_liar(path, length, compression, tail=False)
    result = scan.scan_file(path)
    assert result.records == 1 and [(p.record, p.offset) for p in result.problems] == [(1, 36)]
    assert result.problems[0].reason == (f"truncated record: length field says {length} bytes, only 14 follow the "
                                         "header (and the 4-byte data CRC after them is missing)")
