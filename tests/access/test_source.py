"""The random-access source: records by index (pread, CRC-checked, coalesced), parsed with the schema; damage named."""
from __future__ import annotations

import glob
import os
import pickle
import shutil

import numpy as np
import pytest

from tests.damage import flip, offsets
from tfrec.access import RecordSource, open_source
from tfrec.errors import CorruptRecordError, TfrecError
from tfrec.io.dataset import open_dataset
from tfrec.io.records import iter_records


def _shards(path, split="train"):
    return open_dataset(path).shard_paths(split)


def _file_order(path, split="train"):
    return [r.data for shard in _shards(path, split) for r in iter_records(shard)]


@pytest.mark.parametrize("fmt", ["mnist", "cifar10", "imagefolder"])
def test_records_by_index_are_the_shards_records_in_file_order(datasets, fmt):
    src = open_source(datasets[fmt], split="train")
    want = _file_order(datasets[fmt])
    assert len(src) == len(want)
    assert [src.records[i] for i in range(len(src))] == want
    rng = np.random.default_rng(0)
    batch = rng.permutation(len(src))[:17].tolist() + [0, len(src) - 1]
    assert src.records.get_many(batch) == [want[i] for i in batch]


def test_raw_samples_are_the_stored_pixels_and_labels(datasets):
    src = open_source(datasets["cifar10"], split="test")
    sample = src[3]
    assert sample["image"].shape == (32, 32, 3) and sample["image"].dtype == np.uint8
    assert isinstance(sample["label"], int)
    batch = src.__getitems__([3, 0])
    assert np.array_equal(batch[0]["image"], sample["image"]) and batch[0]["label"] == sample["label"]
    assert open_source(datasets["mnist"], split="train")[0]["image"].shape == (28, 28, 1)


def test_encoded_samples_decode_to_hwc_uint8_at_their_stored_size(datasets):
    sample = open_source(datasets["imagefolder"])[0]
    assert sample["image"].shape == (20, 24, 3) and sample["image"].dtype == np.uint8
    assert sample["height"] == 20 and sample["width"] == 24


@pytest.mark.parametrize("index", [-1, 10**6])
def test_an_index_outside_the_source_is_an_index_error(datasets, index):
    src = open_source(datasets["cifar10"], split="test")
    with pytest.raises(IndexError, match="outside"):
        src[index]


def test_a_missing_split_is_named(datasets):
    with pytest.raises(TfrecError, match="no split 'nope'"):
        open_source(datasets["cifar10"], split="nope")


def test_the_source_pickles_without_its_open_files_and_reads_after(datasets):
    src = open_source(datasets["cifar10"], split="train")
    first = src[0]
    assert src.records._fds  # opened lazily, once per shard
    copy = pickle.loads(pickle.dumps(src))
    assert copy.records._fds == {}
    assert np.array_equal(copy[0]["image"], first["image"])


def test_a_forked_child_opens_its_own_files(datasets):
    src = open_source(datasets["cifar10"], split="train")
    src[0]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: reads through its own descriptors, not the parent's
        try:
            ok = src[1]["label"] == open_source(datasets["cifar10"], split="train")[1]["label"] \
                and src.records._pid == os.getpid()
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"


@pytest.fixture
def damaged(datasets, tmp_path):
    """A copy of the CIFAR-10 dataset whose second shard has a flipped byte in its record 2's data."""
    out = tmp_path / "damaged"
    shutil.copytree(datasets["cifar10"], out)
    shard = _shards(out)[1]
    flip(shard, offsets(shard)[2] + 100)
    return str(out), shard


def test_a_damaged_record_is_one_error_naming_shard_record_and_offset(damaged):
    path, shard = damaged
    src = open_source(path, split="train")
    first = src.records.shards[0].records
    with pytest.raises(CorruptRecordError, match=rf"{shard}: record 2 at byte offset {offsets(shard)[2]}: data CRC"):
        src[first + 2]
    with pytest.raises(CorruptRecordError, match="record 2 at byte offset"):
        src.__getitems__([0, first + 2, 1])
    assert src[first + 1] is not None  # its neighbours read


def test_skip_corrupt_skips_and_counts(damaged):
    path, shard = damaged
    src = open_source(path, split="train", skip_corrupt=True)
    first = src.records.shards[0].records
    assert src[first + 2] is None
    batch = src.__getitems__(list(range(len(src))))
    assert len(batch) == len(src) - 1
    assert src.stats.records_skipped == 2
    assert list(src.stats.damaged) == [(shard, 2)]


def test_without_crc_checks_the_damage_reads_through(damaged):
    path, _ = damaged
    src = open_source(path, split="train", check_crc=False)
    assert len(src.__getitems__(list(range(len(src))))) == len(src)


def test_a_shard_shorter_than_dataset_json_says_is_named(datasets, tmp_path):
    out = tmp_path / "short"
    shutil.copytree(datasets["cifar10"], out)
    shard = _shards(out)[0]
    cut = offsets(shard)[-1]
    with open(shard, "r+b") as f:
        f.truncate(cut)
    os.remove(shard + ".idx")  # found by scanning: one record fewer than listed
    src = open_source(str(out), split="train")
    with pytest.raises(CorruptRecordError, match=rf"{shard}: record \d+ at byte offset {cut}: dataset.json lists"):
        src[0]


@pytest.mark.parametrize("index", ["beside", "missing", "lying"])
def test_foreign_files_with_a_schema(datasets, tmp_path, index):
    for f in _shards(datasets["cifar10"]):
        shutil.copy(f, tmp_path)
        if index == "beside":
            shutil.copy(f + ".idx", tmp_path)
        elif index == "lying":
            (tmp_path / (os.path.basename(f) + ".idx")).write_text("0 1099511627776\n")
    files = sorted(glob.glob(str(tmp_path / "*-train.tfrecord-*[0-9]")))
    src = open_source(files, schema="cifar10")
    ref = open_source(datasets["cifar10"], split="train")
    assert len(src) == len(ref)
    for i in (0, 17, len(src) - 1):
        assert np.array_equal(src[i]["image"], ref[i]["image"]) and src[i]["label"] == ref[i]["label"]
    inferred = open_source(str(tmp_path))  # a directory, the schema inferred as `tfrec inspect` infers it
    assert len(inferred) == len(ref) and inferred[0]["label"] == ref[0]["label"]


def test_damaged_foreign_files_without_an_index(datasets, tmp_path):
    shard = _shards(datasets["cifar10"])[0]
    copy = str(tmp_path / os.path.basename(shard))
    shutil.copy(shard, copy)
    flip(copy, offsets(shard)[1] + 50)  # a data CRC: the scan keeps the record, reading it finds the damage
    flip(copy, offsets(shard)[4] + 3)  # a length field: the scan resynchronises, the record is lost
    with pytest.raises(CorruptRecordError, match=rf"{copy}: record 4 at byte offset {offsets(shard)[4]}: .*length"):
        open_source(copy, schema="cifar10")
    src = open_source(copy, schema="cifar10", skip_corrupt=True)
    assert len(src) == len(offsets(shard)) - 1 and src.stats.records_skipped == 1
    with pytest.raises(CorruptRecordError, match=rf"{copy}: record 1 at byte offset {offsets(shard)[1]}: data CRC"):
        RecordSource(src.records.shards, src.records._tables)[1]  # the same table, without skip_corrupt
    assert len(src.__getitems__(list(range(len(src))))) == len(src) - 1
    assert src.stats.records_skipped == 2


def test_compressed_shards_are_refused_with_the_way_out(sources, tmp_path):
    from tfrec.write.convert import ConvertOptions, convert

    convert(sources["cifar10"], str(tmp_path / "gz"), ConvertOptions(shards=1, progress=False, workers=1,
                                                                      compression="gzip"))
    with pytest.raises(TfrecError, match="gzip-compressed shards cannot be read by index.*--compression none"):
        open_source(str(tmp_path / "gz"), split="train")


def test_batched_reads_are_coalesced(datasets, monkeypatch):
    calls = []
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: calls.append(n) or real(fd, n, off))
    src = RecordSource(open_source(datasets["cifar10"], split="train").records.shards)
    src.get_many(list(range(len(src)))[::-1])
    assert len(calls) == len(src.shards)  # one read per shard for a whole, contiguous batch


def test_threads_opening_a_shard_at_once_keep_one_descriptor(datasets, monkeypatch):
    # Threads sharing one source (Grain's thread reads, the viewer) each opened the shard and leaked all but one.
    import threading

    from tfrec.access import records as R

    paths = open_dataset(datasets["cifar10"]).shard_paths("train")
    records = open_source(datasets["cifar10"], split="train").records
    opened, closed, barrier = [], [], threading.Barrier(8)
    real_open, real_close = os.open, os.close

    def slow_open(path, *args):
        fd = real_open(path, *args)
        if path in paths:
            opened.append(fd)
            barrier.wait(timeout=10)  # every thread has opened before any keeps its descriptor
        return fd

    def spy_close(fd):
        closed.append(fd)
        return real_close(fd)

    monkeypatch.setattr(R.os, "open", slow_open)
    monkeypatch.setattr(R.os, "close", spy_close)
    threads = [threading.Thread(target=records.__getitem__, args=(0,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(opened) == 8 and len(set(opened) - set(closed)) == 1
