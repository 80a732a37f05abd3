"""skip_corrupt reads intact shards (and the intact start of a damaged plain shard) with tf.data's own reader,
and skips and counts exactly what the salvaging reader skips and counts."""
from __future__ import annotations

import gzip
import os
import shutil
import struct
from collections import Counter

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfrec.io import salvage as S  # noqa: E402
from tfrec.io.index import read_index  # noqa: E402
from tfrec.io.dataset import open_dataset  # noqa: E402
from tfrec.io.manifest import read_manifest  # noqa: E402
from tfrec.io.records import iter_records, masked_crc32c, write_records  # noqa: E402
from tfrec.io.scan import scan_file  # noqa: E402
from tfrec.read import pipeline as P  # noqa: E402
from tfrec.read.options import ReadOptions  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

from ..damage import flip  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_checks():
    S.forget_checks()
    yield
    S.forget_checks()


@pytest.fixture
def salvage_calls(monkeypatch):
    """The paths the pipeline hands to the salvaging reader, one entry per file opened through it."""
    calls = []
    real = P.iter_intact_records

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(P, "iter_intact_records", counting)
    return calls


def _payloads(kind: str) -> list[bytes]:
    rng = np.random.default_rng(5)
    sizes = [100] * 300 if kind == "equal" else rng.integers(1, 3000, 80).tolist()
    return [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]


def _read_stage(files: list[str], compression: str, stats, expected=None) -> list[bytes]:
    options = ReadOptions(shuffle=False, skip_corrupt=True)
    return list(P.read_records(files, compression, options, stats, expected=expected).as_numpy_iterator())


def _damaged_json(stats) -> dict:
    out = stats.to_json()
    out["damaged"] = sorted(out["damaged"], key=lambda d: (d["path"], d["index"]))
    return out


# --------------------------------------------------------------------------- one shard, plain

PLAIN_DAMAGE = ["clean", "data CRC", "length field", "length CRC", "two records", "first record", "last record",
                "truncated", "trailing bytes", "index line missing", "index length wrong", "lying length 2**64-1",
                "lying length 1000", "lying index line"]


def _lie(data: bytes, offset: int, length: int) -> bytes:
    """The record stream with the length field at `offset` saying `length`, under a length CRC that holds."""
    head = struct.pack("<Q", length)
    return data[:offset] + head + struct.pack("<I", masked_crc32c(head)) + data[offset + 12 :]


def _damage_plain(shard: str, how: str) -> None:
    index = read_index(shard + ".idx")
    k = len(index) // 2
    at = [int(o) for o in index[:, 0]]
    if how == "data CRC":
        flip(shard, at[k] + 12 + 3)
    elif how == "length field":
        flip(shard, at[k] + 1)
    elif how == "length CRC":
        flip(shard, at[k] + 9)
    elif how == "two records":
        flip(shard, at[k] + 12)
        flip(shard, at[k + 3] + 12)
    elif how == "first record":
        flip(shard, 12)
    elif how == "last record":
        flip(shard, at[-1] + 12)
    elif how == "truncated":
        os.truncate(shard, at[k] + 20)
    elif how == "trailing bytes":
        with open(shard, "ab") as f:
            f.write(b"\x01\x02\x03\x04\x05")
    elif how == "index line missing":
        np.savetxt(shard + ".idx", index[:-1], fmt="%d")
    elif how == "index length wrong":
        index[k, 1] += 1
        np.savetxt(shard + ".idx", index, fmt="%d")
    elif how.startswith("lying length"):
        with open(shard, "rb") as f:
            data = f.read()
        with open(shard, "wb") as f:
            f.write(_lie(data, at[k], (1 << 64) - 1 if how.endswith("2**64-1") else 1000))
    elif how == "lying index line":  # contiguous, one line per record: only reading can tell
        index[k, 1] += 8
        index[k + 1, 0] += 8
        index[k + 1, 1] -= 8
        np.savetxt(shard + ".idx", index, fmt="%d")


# damage to the index needs an index: those kinds run with it only
PLAIN_CASES = [pytest.param(how, with_index, id=f"{how}-{'idx' if with_index else 'no-idx'}")
               for how in PLAIN_DAMAGE for with_index in (True, False)
               if with_index or not how.startswith(("index", "lying index"))]


@pytest.mark.parametrize("kind", ["equal", "varying"])
@pytest.mark.parametrize("how, with_index", PLAIN_CASES)
def test_a_plain_shard_reads_and_counts_as_the_salvaging_reader_does(tmp_path, how, kind, with_index):
    shard = str(tmp_path / "s.tfrecord")
    write_records(shard, _payloads(kind))
    _damage_plain(shard, how)
    if not with_index:
        os.remove(shard + ".idx")
    want_stats, got_stats = S.ReadStats(), S.ReadStats()
    want = list(S.iter_intact_records(shard, "none", want_stats))
    got = _read_stage([shard], "none", got_stats)
    assert got == want
    assert got_stats.to_json() == want_stats.to_json()


@pytest.mark.parametrize("how", ["data CRC", "length field", "truncated", "last record"])
def test_a_damaged_plain_shard_is_read_fast_up_to_its_first_damaged_record(tmp_path, how):
    shard = str(tmp_path / "s.tfrecord")
    write_records(shard, _payloads("varying"))
    _damage_plain(shard, how)
    index = read_index(shard + ".idx")
    plan = S.check_shard(shard, "none")
    k = len(index) - 1 if how == "last record" else len(index) // 2
    assert (plan.intact, plan.index, plan.offset) == (False, k, int(index[k, 0]))


# --------------------------------------------------------------------------- one shard, compressed


def _damage_compressed(shard: str, how: str) -> None:
    size = os.path.getsize(shard)
    if how == "flipped byte":
        flip(shard, size // 2, 0xFF)
    elif how == "truncated":
        os.truncate(shard, size // 2)
    elif how == "trailing bytes":
        with open(shard, "ab") as f:
            f.write(b"\x00garbage")


@pytest.mark.parametrize("compression", ["gzip", "zlib"])
@pytest.mark.parametrize("with_checksum", [True, False], ids=["checksum", "scan"])
@pytest.mark.parametrize("with_index", [True, False], ids=["idx", "no-idx"])
@pytest.mark.parametrize("how", ["clean", "flipped byte", "truncated", "trailing bytes"])
def test_a_compressed_shard_reads_and_counts_as_the_salvaging_reader_does(tmp_path, how, with_index, with_checksum,
                                                                          compression):
    shard = str(tmp_path / "s.tfrecord")
    info = write_records(shard, _payloads("varying"), compression)
    _damage_compressed(shard, how)
    if not with_index:
        os.remove(shard + ".idx")
    expected = {shard: info.to_json()} if with_checksum else None
    want_stats, got_stats = S.ReadStats(), S.ReadStats()
    want = list(S.iter_intact_records(shard, compression, want_stats))
    got = _read_stage([shard], compression, got_stats, expected)
    assert got == want
    assert got_stats.to_json() == want_stats.to_json()
    assert S.check_shard(shard, compression, expected.get(shard) if expected else None).intact == (how == "clean")


# --------------------------------------------------------------------------- whole datasets


def _damaged_dataset(src: str, dst, compression: str = "none") -> list[str]:
    """A copy of a dataset: shard 0 with a bad record (plain: and cut short), shard 1 clean, shard 2 missing."""
    shutil.copytree(src, dst)
    shards = open_dataset(str(dst)).shard_paths("train")
    if compression == "none":
        at = read_index(shards[0] + ".idx")[:, 0]
        flip(shards[0], int(at[1]) + 40)
        os.truncate(shards[0], int(at[-1]) + 30)
    else:
        flip(shards[0], os.path.getsize(shards[0]) // 2, 0xFF)
    os.remove(shards[2])
    return shards


def _records(ds) -> Counter:
    return Counter((int(lab), img.tobytes()) for images, labels in ds
                   for img, lab in zip(images.numpy(), labels.numpy()))


@pytest.fixture(scope="module")
def gzip_cifar(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("gz") / "cifar10"
    convert(sources["cifar10"], str(out), ConvertOptions(shards=3, compression="gzip", progress=False, workers=1))
    return str(out)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_clean_dataset_never_calls_the_salvaging_reader(datasets, gzip_cifar, salvage_calls, compressed):
    path = gzip_cifar if compressed else datasets["cifar10"]
    stats = S.ReadStats()
    fast = _records(P.make_dataset(path, "train", 8, dtype="uint8", skip_corrupt=True, stats=stats, repeat=2))
    assert salvage_calls == []
    assert fast == _records(P.make_dataset(path, "train", 8, dtype="uint8", repeat=2))
    assert stats.to_json() == {"records_skipped": 0, "bytes_skipped": 0, "damaged": []}


def test_foreign_clean_files_never_call_the_salvaging_reader(datasets, tmp_path, salvage_calls):
    for shard in open_dataset(datasets["mnist"]).shard_paths("train"):
        shutil.copy(shard, tmp_path)  # no dataset.json, no .idx
    ds = P.make_dataset(str(tmp_path), batch_size=8, schema="mnist", dtype="uint8", skip_corrupt=True)
    assert sum(int(b[0].shape[0]) for b in ds) == read_manifest(datasets["mnist"])["splits"]["train"]["records"]
    assert salvage_calls == []


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_a_damaged_dataset_reads_and_counts_as_the_salvaging_path_does(datasets, gzip_cifar, tmp_path, monkeypatch,
                                                                        salvage_calls, compression):
    src = datasets["cifar10"] if compression == "none" else gzip_cifar
    shards = _damaged_dataset(src, tmp_path / "bad", compression)
    kw = dict(batch_size=8, dtype="uint8", skip_corrupt=True, shuffle=False, repeat=2)
    fast_stats = S.ReadStats()
    fast = _records(P.make_dataset(str(tmp_path / "bad"), stats=fast_stats, **kw))
    assert salvage_calls == [shards[0], shards[0]]  # the damaged shard, once per epoch; the clean one never
    with monkeypatch.context() as m:  # every shard through the salvaging reader: what skip_corrupt did before
        m.setattr(P, "check_shard", lambda *a, **k: S.SALVAGE_ALL)
        slow_stats = S.ReadStats()
        slow = _records(P.make_dataset(str(tmp_path / "bad"), stats=slow_stats, **kw))
    assert fast == slow
    assert _damaged_json(fast_stats) == _damaged_json(slow_stats)
    assert fast_stats.records_skipped > 0


def test_a_shard_damaged_after_a_clean_read_is_checked_again(datasets, tmp_path, salvage_calls):
    shutil.copytree(datasets["cifar10"], tmp_path / "ds")
    shard = open_dataset(str(tmp_path / "ds")).shard_paths("train")[1]
    kw = dict(batch_size=8, dtype="uint8", skip_corrupt=True)
    clean = _records(P.make_dataset(str(tmp_path / "ds"), **kw))
    assert salvage_calls == []
    offset = int(read_index(shard + ".idx")[3, 0])
    flip(shard, offset + 100)  # a new modification time: the cached check no longer applies
    ds = P.make_dataset(str(tmp_path / "ds"), **kw)
    damaged = _records(ds)
    assert salvage_calls == [shard]
    assert sum((clean - damaged).values()) == 1 and not damaged - clean
    assert ds.read_stats.to_json()["damaged"] == [{"path": shard, "index": 3, "offset": offset, "records": 1,
                                                   "reason": "data CRC mismatch"}]
    flip(shard, offset + 100)  # repaired: back on the fast path
    assert _records(P.make_dataset(str(tmp_path / "ds"), **kw)) == clean and salvage_calls == [shard]


def test_a_shard_damaged_while_read_on_the_fast_path_fails_the_pass_rather_than_miscount(datasets, tmp_path,
                                                                                          monkeypatch):
    # Between the check and the read (here: a check that saw the shard intact), tf.data's reader still
    # checks every CRC: the pass fails with DataLossError; it never yields the damaged record.
    shutil.copytree(datasets["cifar10"], tmp_path / "ds")
    shard = open_dataset(str(tmp_path / "ds")).shard_paths("train")[0]
    flip(shard, int(read_index(shard + ".idx")[2, 0]) + 100)
    monkeypatch.setattr(P, "check_shard", lambda *a, **k: S.INTACT)
    with pytest.raises(tf.errors.DataLossError):
        _records(P.make_dataset(str(tmp_path / "ds"), batch_size=8, dtype="uint8", skip_corrupt=True))


def test_checks_are_kept_per_file_version(tmp_path, monkeypatch):
    shard = str(tmp_path / "s.tfrecord")
    write_records(shard, _payloads("equal"))
    scans = []
    real = S.scan_file
    monkeypatch.setattr(S, "scan_file", lambda *a, **k: scans.append(a[0]) or real(*a, **k))
    assert S.check_shard(shard, "none").intact and S.check_shard(shard, "none").intact
    assert scans == [shard]
    os.utime(shard, ns=(1, 1))  # another version of the file (as far as its size and times say)
    assert S.check_shard(shard, "none").intact and scans == [shard, shard]
    S.forget_checks()
    assert S.check_shard(shard, "none").intact and len(scans) == 3


@pytest.mark.parametrize("salvage_all", [False, True], ids=["checked", "salvaged"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
@pytest.mark.parametrize("epochs", [2, 3])
def test_skips_are_counted_once_per_epoch_delivered(datasets, tmp_path, monkeypatch, epochs, shuffle, salvage_all):
    # With tf.data's warm start, TF 2.21 opened every file once more than repeat(n) asks in about half
    # the runs (interleave then repeat, no shuffle between): its skips were counted for an epoch never read.
    _damaged_dataset(datasets["cifar10"], tmp_path / "bad")
    if salvage_all:
        monkeypatch.setattr(P, "check_shard", lambda *a, **k: S.SALVAGE_ALL)
    one = P.make_dataset(str(tmp_path / "bad"), batch_size=8, skip_corrupt=True, shuffle=False)
    _records(one)
    missing = sum(d["records"] for d in one.read_stats.damaged.values() if "missing" in d["reason"])
    per_epoch = one.read_stats.records_skipped - missing
    for _ in range(4):
        ds = P.make_dataset(str(tmp_path / "bad"), batch_size=8, skip_corrupt=True, shuffle=shuffle, repeat=epochs)
        _records(ds)
        assert ds.read_stats.records_skipped == missing + epochs * per_epoch


@pytest.fixture
def generators(monkeypatch):
    """How many from_generator datasets (the salvaging branch) pipelines are built with."""
    made = []
    real = tf.data.Dataset.from_generator

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.data.Dataset, "from_generator", staticmethod(counting))
    return made


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_shards_found_intact_before_are_read_without_the_salvaging_branch(datasets, gzip_cifar, generators,
                                                                         compressed):
    path = gzip_cifar if compressed else datasets["cifar10"]
    first = P.make_dataset(path, "train", 8, dtype="uint8", skip_corrupt=True)
    assert generators  # nothing known yet: each shard is checked as it is opened
    records = _records(first)
    generators.clear()
    again = P.make_dataset(path, "train", 8, dtype="uint8", skip_corrupt=True)
    assert generators == [] and _records(again) == records and again.read_stats.records_skipped == 0


def test_a_shard_damaged_after_a_dataset_without_the_salvaging_branch_was_made_fails_naming_it(datasets, tmp_path):
    shutil.copytree(datasets["cifar10"], tmp_path / "ds")
    shard = open_dataset(str(tmp_path / "ds")).shard_paths("train")[2]
    _records(P.make_dataset(str(tmp_path / "ds"), batch_size=8, dtype="uint8", skip_corrupt=True))
    ds = P.make_dataset(str(tmp_path / "ds"), batch_size=8, dtype="uint8", skip_corrupt=True, shuffle=False)
    flip(shard, int(read_index(shard + ".idx")[1, 0]) + 100)
    with pytest.raises(tf.errors.OpError, match=f"{shard}: changed since make_dataset found it intact, and is now "
                                                "damaged; .* call make_dataset again"):
        _records(ds)
    assert ds.read_stats.records_skipped == 0
    again = P.make_dataset(str(tmp_path / "ds"), batch_size=8, dtype="uint8", skip_corrupt=True)
    _records(again)
    assert again.read_stats.records_skipped == 1


# --------------------------------------------------------------------------- a lying length field, end to end


@pytest.mark.parametrize("with_index", [True, False], ids=["idx", "no-idx"])
@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("lie", ["2**64-1", "inside a later record"])
def test_make_dataset_reads_what_verify_finds_intact_after_a_lying_length(datasets, gzip_cifar, tmp_path, lie,
                                                                          compression, with_index):
    # a length field whose CRC holds but which lies (issue 23, item 16): skip_corrupt reads every record
    # the scan (`tfrec verify`) finds intact, and skips and counts the one it reports
    src = datasets["cifar10"] if compression == "none" else gzip_cifar
    shutil.copytree(src, tmp_path / "bad")
    shard = open_dataset(str(tmp_path / "bad")).shard_paths("train")[1]
    at = read_index(shard + ".idx")[:, 0].tolist()
    k = 2
    length = (1 << 64) - 1 if lie == "2**64-1" else at[k + 2] + 10 - at[k] - 16
    with open(shard, "rb") as f:
        data = f.read()
    data = _lie(gzip.decompress(data) if compression == "gzip" else data, at[k], length)
    with open(shard, "wb") as f:
        f.write(gzip.compress(data) if compression == "gzip" else data)
    if not with_index:
        os.remove(shard + ".idx")
    clean = [r.data for r in iter_records(shard.replace(str(tmp_path / "bad"), src))]
    intact = []
    result = scan_file(shard, on_record=lambda i, o, d: intact.append(bytes(d)))
    assert [(p.record, p.offset) for p in result.problems] == [(k, at[k])]
    assert intact == clean[:k] + clean[k + 1 :]
    stats = S.ReadStats()
    assert _read_stage([shard], compression, stats) == intact  # the shard's serialized records
    kw = dict(batch_size=8, dtype="uint8", skip_corrupt=True, shuffle=False)
    ds = P.make_dataset(str(tmp_path / "bad"), **kw)
    got, want = _records(ds), _records(P.make_dataset(src, **kw))
    assert sum((want - got).values()) == 1 and not got - want  # all but the liar, from every shard
    assert [(d["path"], d["index"], d["offset"]) for d in ds.read_stats.damaged.values()] == [(shard, k, at[k])]
    assert ds.read_stats.records_skipped == 1
