"""The salvaging reader (skip_corrupt) on hostile framing: length fields whose CRC holds but which lie, and lying
.idx lines. It allocates nothing a length or an index line claims beyond the stream, and it finds the intact records
and counts the damaged ones exactly as the scanner (`tfrec verify`) does (issue 23, items 15 and 16)."""
from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfrec.io import salvage, scan
from tfrec.io.records import frame_record, masked_crc32c


def _lying(length: int, body: bytes) -> bytes:
    """A record whose length field says `length`, with a length CRC that holds, over `body`."""
    head = struct.pack("<Q", length)
    return head + struct.pack("<I", masked_crc32c(head)) + body + struct.pack("<I", masked_crc32c(body))


# varying: R0 at 0 (36 bytes), the liar at 36 (26), R1 at 62 (46), R2 at 108 (61), R3 at 169 (23): 192 bytes.
# equal: 40 records of 50 bytes (66 framed), the liar the 21st: runs of one length, checked together.
LAYOUTS = {
    "varying": ([b"a" * 20, b"L" * 10, b"b" * 30, b"c" * 45, b"d" * 7], 1),
    "equal": ([bytes([i]) * 50 for i in range(40)], 20),
}
# each lie from the file's size, the liar's offset and every record's offset
LIES = {
    "2**64-1": lambda size, at, offsets: (1 << 64) - 1,
    "2**63": lambda size, at, offsets: 1 << 63,
    "2**40": lambda size, at, offsets: 1 << 40,
    "2 GiB": lambda size, at, offsets: 1 << 31,
    "file size + 1": lambda size, at, offsets: size + 1,
    "1000": lambda size, at, offsets: 1000,
    "inside a later record": lambda size, at, offsets: offsets[offsets.index(at) + 2] + 10 - at - 16,
}
INDEXES = ["no idx", "honest idx", "huge first line", "huge last line", "shifted lines"]


def _shard(path: str, layout: str, lie: str, compression: str, idx: str, tail: bool = True) -> None:
    """Writes a shard whose record `k` has a lying length field (and an .idx of the kind `idx`)."""
    payloads, k = LAYOUTS[layout]
    if not tail:
        payloads = payloads[: k + 1]
    framed = [len(frame_record(p)) for p in payloads]
    offsets = np.concatenate(([0], np.cumsum(framed)[:-1])).tolist()
    size = sum(framed)
    length = LIES[lie](size, offsets[k], offsets)
    data = b"".join(_lying(length, p) if i == k else frame_record(p) for i, p in enumerate(payloads))
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compression == "gzip" else data)
    index = np.array([offsets, framed], np.int64).T  # what the writer wrote, before the length field was damaged
    if idx == "no idx":
        return
    if idx == "huge first line":
        index[0, 1] = 1 << 40
    elif idx == "huge last line":
        index[-1, 1] = 1 << 40
    elif idx == "shifted lines":  # still one line per record, contiguous: only reading can tell it lies
        index[k + 1, 1] += 8
        index[k + 2, 0] += 8
        index[k + 2, 1] -= 8
    np.savetxt(path + ".idx", index, fmt="%d")


def _scanned(path: str) -> tuple[list[bytes], list[tuple[int, int]]]:
    intact = []
    result = scan.scan_file(path, on_record=lambda i, o, d: intact.append(bytes(d)))
    return intact, [(p.record, p.offset) for p in result.problems]


def _salvaged(path: str, compression: str, start=(0, 0)) -> tuple[list[bytes], list[tuple[int, int]], dict]:
    stats = salvage.ReadStats()
    intact = list(salvage.iter_intact_records(path, compression, stats, start))
    return intact, [(d["index"], d["offset"]) for d in stats.damaged.values()], stats.to_json()


def _expected(layout: str, tail: bool = True) -> tuple[list[bytes], list[tuple[int, int]]]:
    payloads, k = LAYOUTS[layout]
    at = sum(len(frame_record(p)) for p in payloads[:k])
    return payloads[:k] + (payloads[k + 1 :] if tail else []), [(k, at)]


@pytest.mark.parametrize("idx", INDEXES)
@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("lie", list(LIES))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_salvage_finds_what_the_scanner_finds_after_a_lying_length(tmp_path, walk, layout, lie, compression, idx):
    path = str(tmp_path / "liar.tfrecord")
    _shard(path, layout, lie, compression, idx)
    intact, damaged, stats = _salvaged(path, compression)
    assert (intact, damaged) == _scanned(path) == _expected(layout)
    assert stats["records_skipped"] == len(damaged) == 1


@pytest.mark.parametrize("idx", ["no idx", "honest idx", "huge first line", "huge last line"])
@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("lie", ["2**64-1", "2**63", "2**40", "2 GiB", "file size + 1", "1000"])
def test_a_lying_length_with_nothing_after_it_is_one_truncated_record(tmp_path, lie, compression, idx):
    path = str(tmp_path / "cut.tfrecord")
    _shard(path, "varying", lie, compression, idx, tail=False)
    intact, damaged, stats = _salvaged(path, compression)
    assert (intact, damaged) == _scanned(path) == _expected("varying", tail=False)
    # an honest index knows where the liar ends: its length field, not the file, is damaged
    words = "a corrupt length field" if idx == "honest idx" else "truncated"
    assert stats["records_skipped"] == 1 and words in stats["damaged"][0]["reason"]


@pytest.mark.parametrize("idx", INDEXES)
@pytest.mark.parametrize("lie", list(LIES))
def test_reading_in_small_pieces_changes_nothing(tmp_path, monkeypatch, lie, idx):
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", 64)
    monkeypatch.setattr(scan, "FIRST_READ_BYTES", 64)
    monkeypatch.setattr(salvage, "READ_PIECE_BYTES", 7)
    for compression in ("none", "gzip"):
        path = str(tmp_path / f"liar-{compression}.tfrecord")
        _shard(path, "equal", lie, compression, idx)
        intact, damaged, _ = _salvaged(path, compression)
        assert (intact, damaged) == _scanned(path) == _expected("equal")


@pytest.mark.parametrize("idx", INDEXES)
@pytest.mark.parametrize("lie", list(LIES))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_taking_over_where_check_shard_says_reads_and_counts_the_same(tmp_path, layout, lie, idx):
    # skip_corrupt reads a plain shard's intact head with tf.data's reader and hands the rest to the salvaging one
    path = str(tmp_path / "liar.tfrecord")
    _shard(path, layout, lie, "none", idx)
    plan = salvage.check_shard(path, "none")
    salvage.forget_checks()
    assert not plan.intact
    whole, _, whole_stats = _salvaged(path, "none")
    rest, _, rest_stats = _salvaged(path, "none", (plan.index, plan.offset))
    assert whole[: plan.index] + rest == whole and rest_stats == whole_stats


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("line", ["0 1099511627776", "0 18446744073709551615", "-5 100", "0 3", "x y"])
def test_a_lying_index_on_an_intact_shard_loses_nothing(tmp_path, compression, line):
    path = str(tmp_path / "ok.tfrecord")
    payloads = [bytes([i]) * (10 + i) for i in range(12)]
    data = b"".join(frame_record(p) for p in payloads)
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compression == "gzip" else data)
    with open(path + ".idx", "w") as f:
        f.write(line + "\n")
    intact, damaged, _ = _salvaged(path, compression)
    assert (intact, damaged) == (payloads, [])
    assert salvage.check_shard(path, compression).intact  # tf.data's reader reads it all: the index is not used
    salvage.forget_checks()


# the huge lies under a cap on the address space, in a process of its own (no TensorFlow, whose
# libraries alone reserve more address space than the cap)
CAPPED = textwrap.dedent("""
    import json, os, resource, sys
    sys.path[:0] = [os.environ["TESTS_DIR"], os.environ["REPO_DIR"]]
    from io_test_salvage_hostile import _shard, _salvaged, _scanned
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), vm + (256 << 20)))
    out = []
    for lie in ["2**64-1", "2**63", "2**40", "2 GiB"]:
        for compression in ["none", "gzip"]:
            for idx in ["no idx", "honest idx", "huge first line", "huge last line"]:
                path = os.path.join(sys.argv[1], f"{lie}-{compression}-{idx}.tfrecord".replace(" ", "_"))
                _shard(path, "varying", lie, compression, idx)
                try:
                    big = bytearray(1 << 30)  # the cap holds: a gibibyte cannot be had
                    out.append("no cap")
                except MemoryError:
                    pass
                got, damaged, _ = _salvaged(path, compression)
                want, problems = _scanned(path)
                out.append([lie, compression, idx, got == want, damaged == problems, len(got)])
    print(json.dumps(out))
""")


def test_huge_lies_under_an_address_space_cap(tmp_path):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(tests_dir))
    shim = tmp_path / "mods"
    shim.mkdir()
    # the module under its own name, without the tests package (whose conftest imports TensorFlow)
    (shim / "io_test_salvage_hostile.py").write_text(open(os.path.abspath(__file__)).read())
    env = dict(os.environ, TESTS_DIR=str(shim), REPO_DIR=repo, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    script = tmp_path / "capped.py"
    script.write_text(CAPPED)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert "no cap" not in rows and len(rows) == 32
    assert all(row[3:] == [True, True, 4] for row in rows), rows


@pytest.mark.parametrize("idx", [True, False], ids=["idx", "no-idx"])
@pytest.mark.parametrize("damage", ["flip at 0.3", "flip at 0.6", "flip at 0.9", "cut at 0.5", "garbage after"])
def test_a_damaged_gzip_stream_yields_every_record_before_the_bad_byte_as_verify_finds(tmp_path, damage, idx):
    rng = np.random.default_rng(7)
    payloads = [bytes(rng.integers(0, 4, int(n), dtype=np.uint8)) for n in rng.integers(100, 3000, 200)]
    data = b"".join(frame_record(p) for p in payloads)
    packed = bytearray(gzip.compress(data))
    how, _, at = damage.partition(" at ")
    if how == "flip":
        packed[int(len(packed) * float(at))] ^= 0x55
    elif how == "cut":
        del packed[int(len(packed) * float(at)) :]
    else:
        packed += b"\x00garbage"
    path = str(tmp_path / "damaged.tfrecord")
    with open(path, "wb") as f:
        f.write(packed)
    if idx:
        np.savetxt(path + ".idx", np.array([np.cumsum([0] + [len(p) + 16 for p in payloads[:-1]]),
                                            [len(p) + 16 for p in payloads]]).T, fmt="%d")
    intact, damaged, stats = _salvaged(path, "gzip")
    want, problems = _scanned(path)
    assert intact == want and problems  # every record the scan finds intact, none it does not
    assert (stats["records_skipped"] > 0) == (damaged != [])


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("line", ["0 1099511627776", "0 3", "x y", "40 116"])
def test_the_mean_record_size_is_not_taken_from_a_lying_index(tmp_path, compression, line):
    from tfrec.io.records import write_records
    from tfrec.read.inputs import _mean_record_bytes

    path = str(tmp_path / "m.tfrecord")
    write_records(path, [b"x" * 100] * 10, compression)
    assert _mean_record_bytes(path, compression) == 116.0
    with open(path + ".idx", "w") as f:
        f.write(f"0 116\n{line}\n")  # a line that cannot be a record: the records are walked instead
    assert _mean_record_bytes(path, compression) == 116.0
