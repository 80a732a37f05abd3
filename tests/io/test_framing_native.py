"""The compiled framing walk (tfrec/io/_framing.c): its CRC32C, and the same records and stops as the Python walk."""
from __future__ import annotations

import os

import google_crc32c
import numpy as np
import pytest

from tfrec.io import scan
from tfrec.io.records import frame_record

_framing = scan._framing


def test_module_is_built():
    assert _framing is not None, "tfrec/io/_framing.c was not built (pip install -e . needs a C compiler)"


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 255, 767, 768, 769, 1000, 2311, 8192, 100_003])
def test_crc32c_matches_google(length):
    data = os.urandom(length)
    want = google_crc32c.value(data)
    assert _framing.value(data) == want and _framing.value_sw(data) == want
    half = length // 2  # continuing a CRC, as google_crc32c.extend does
    assert _framing.value(data[half:], _framing.value(data[:half])) == want
    assert _framing.value_sw(data[half:], _framing.value_sw(data[:half])) == want


def _python_walk(buf: bytes, pos: int, prev: int, run_min: int) -> tuple[list[int], int]:
    """The Python walk's result on buf: the framing starts it accepts and where it stops."""
    scanner = scan.FrameScanner("x")
    scanner.stride = prev
    with scan.without_compiled():
        end = scanner._clean(buf, pos)
    starts = [int(r[0]) for block in scanner._runs for r in block]
    return starts, end


@pytest.mark.parametrize("seed", range(40))
def test_walk_stops_where_the_python_walk_stops(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 3000, rng.integers(1, 40)).tolist()
    if seed % 3 == 0:  # a run of equal lengths somewhere: left to the NumPy check from its start
        at = int(rng.integers(0, len(lengths) + 1))
        lengths[at:at] = [int(rng.integers(0, 100))] * int(rng.integers(2, 30))
    buf = bytearray(b"".join(frame_record(rng.bytes(n)) for n in lengths))
    if seed % 2:  # damage: a flipped byte, anywhere (length field, its CRC, data or data CRC)
        buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
    cut = int(rng.integers(len(buf) // 2, len(buf) + 1)) if seed % 5 == 0 else len(buf)
    buf = bytes(buf[:cut])
    prev = int(rng.choice([0, lengths[0] + 16]))
    out = np.empty(len(buf) // 16 + 1, np.int64)
    m, end, status, crc = _framing.walk(buf, 0, prev, scan.RUN_MIN_RECORDS, out)
    starts, python_end = _python_walk(buf, 0, prev, scan.RUN_MIN_RECORDS)
    assert out[:m].tolist() == starts and end == python_end and out[m] == end
    assert status in (0, 1, 2, 3) and crc is None
    # span mode: the same walk, and the CRC32C of the bytes it walked from the same pass
    spanned = np.empty_like(out)
    assert _framing.walk(buf, 0, prev, scan.RUN_MIN_RECORDS, spanned, True) == (m, end, status, google_crc32c.value(buf[:end]))
    assert (spanned[: m + 1] == out[: m + 1]).all()
    head = int(rng.integers(0, 50))  # from a later position: the CRC covers buf[pos:end] only
    shifted = b"\0" * head + buf
    m2, end2, _, crc2 = _framing.walk(shifted, head, prev, scan.RUN_MIN_RECORDS, spanned, True)
    assert (m2, end2 - head) == (m, end) and crc2 == google_crc32c.value(shifted[head:end2])


def test_combine():
    for n in (0, 1, 5, 4096, 70_001, 1 << 20):
        a, b = os.urandom(100), os.urandom(n)
        assert _framing.combine(google_crc32c.value(a), google_crc32c.value(b), n) == google_crc32c.value(a + b)


def test_chunk_crc_from_parts():
    from tfrec.io.crc import ChunkCrc

    buf = os.urandom(10_000)
    chunk = ChunkCrc(buf, wanted=True)
    for start, end in [(100, 2000), (2000, 2001), (5000, 9000)]:  # gaps before, between and after
        chunk.note(start, end, google_crc32c.value(buf[start:end]))
    assert chunk.value() == google_crc32c.value(buf)
    wrong = ChunkCrc(buf, wanted=True)
    wrong.note(0, 10, 12345)  # a wrong part shows in the value: parts are trusted, not re-read
    assert wrong.value() != google_crc32c.value(buf)


def test_walk_refuses_a_short_output():
    buf = frame_record(b"abc") * 3
    with pytest.raises(ValueError, match="out too small"):
        _framing.walk(buf, 0, 0, 16, np.empty(1, np.int64))
    with pytest.raises(ValueError):
        _framing.walk(buf, len(buf) + 1, 0, 16, np.empty(100, np.int64))


@pytest.mark.parametrize("text", [
    b"0 16\n16 20\n", b"  0\t16\r\n16 20", b"\n\n5 6\n\n", b"1 2 3\n", b"0 -16\n", b"0 +16\n", b"0 16x\n", b"a b\n",
    b"1 " + b"9" * 18 + b"\n", b"1 " + b"9" * 19 + b"\n", b"1 99999999999999999999999\n", b"0 1.5\n", b"1\x002\n",
])
def test_index_parser_agrees_with_numpy(tmp_path, monkeypatch, text):
    from tfrec.errors import TfrecError
    from tfrec.io import index

    path = tmp_path / "x.idx"
    path.write_bytes(text)

    def parse():
        try:
            return index.read_index(str(path)).tolist()
        except TfrecError as e:
            return str(e)

    compiled = parse()
    monkeypatch.setattr(index, "_framing", None)
    assert compiled == parse()
