"""Fixed-layout batches: raw fixed-shape records gathered with NumPy equal the Example decoder's samples exactly."""
from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest

import tfrec.access.records as records_module
import tfrec.access.samples as samples_module
from tests.damage import flip, offsets
from tfrec.access import open_source
from tfrec.codec.example import decode_example, encode_example
from tfrec.errors import CorruptRecordError
from tfrec.io.dataset import open_dataset
from tfrec.io.records import iter_records, write_records


def _slow(src, indices):
    """The samples as the Example decoder gives them, record by record."""
    return [src.parse(data, i) for i, data in zip(indices, src.records.get_many(indices))]


def _assert_columns_are(src, indices, channels_first=False):
    kept, columns = src.columns(indices, channels_first=channels_first)
    want = _slow(src, indices)
    assert kept.tolist() == list(indices)
    for f in src.schema.features:
        col = columns[f.name]
        assert isinstance(col, np.ndarray) and len(col) == len(want)
        for r, sample in enumerate(want):
            value = sample[f.name].transpose(2, 0, 1) if channels_first and f.kind == "image" else sample[f.name]
            assert np.array_equal(col[r], value)


@pytest.fixture(params=["mapped", "preadv"])
def reads(request, monkeypatch):
    """Each way read_rows reads a batch: out of the shards' read-only mappings, and with os.preadv."""
    monkeypatch.setattr(records_module, "MAP_SHARDS", request.param == "mapped")
    return request.param


@pytest.mark.parametrize("fmt", ["mnist", "cifar10", "cifar100"])
@pytest.mark.parametrize("channels_first", [False, True])
def test_fixed_layout_batches_equal_the_decoders_samples(datasets, fmt, channels_first, reads):
    src = open_source(datasets[fmt], split="train")
    assert src.fixed
    rng = np.random.default_rng(0)
    for indices in (list(range(len(src))), rng.permutation(len(src))[:23].tolist() + [3, 3]):
        _assert_columns_are(src, indices, channels_first)
    if fmt == "cifar100":
        assert {f.name for f in src.schema.features} >= {"label", "coarse_label"}


def test_getitems_of_a_fixed_layout_are_the_decoders_samples(datasets):
    src = open_source(datasets["cifar100"], split="train")
    got, want = src.__getitems__([5, 0, 7]), _slow(src, [5, 0, 7])
    assert [sorted(g) for g in got] == [sorted(w) for w in want]
    for g, w in zip(got, want):
        assert np.array_equal(g["image"], w["image"]) and g["label"] == w["label"]
        assert type(g["label"]) is int and g["coarse_label"] == w["coarse_label"]


def test_raw_fixed_shape_batches_never_run_the_example_decoder(datasets, monkeypatch):
    src = open_source(datasets["cifar10"], split="train")
    calls = []
    monkeypatch.setattr(samples_module, "decode_example", lambda data: calls.append(1) or decode_example(data))
    src.columns(list(range(10)))
    assert len(calls) <= 1  # the one record that found the layout
    calls.clear()
    for start in range(0, len(src), 16):
        src.columns(list(range(start, min(start + 16, len(src)))))
    src.__getitems__(list(range(len(src)))[::-1])
    assert calls == []


def _varint_at(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        value |= (buf[pos] & 0x7F) << shift
        shift, pos = shift + 7, pos + 1
        if buf[pos - 1] < 0x80:
            return value, pos


def _entries(payload: bytes) -> tuple[bytes, list[bytes]]:
    """An Example's header (its tag and length) and its features map's entries, as bytes."""
    _, pos = _varint_at(payload, 1)
    head, entries = payload[:pos], []
    while pos < len(payload):
        n, body = _varint_at(payload, pos + 1)
        entries.append(payload[pos:body + n])
        pos = body + n
    return head, entries


@pytest.fixture
def mixed(datasets, tmp_path):
    """Foreign files of CIFAR-10 records where record 4 is built another way (keys in another order, the
    same length), record 6 is two Examples that protobuf merges, and record 9 has a label of a wider varint (another length)."""
    shard = open_dataset(datasets["cifar10"]).shard_paths("train")[0]
    payloads = [r.data for r in iter_records(shard)][:12]
    head, entries = _entries(payloads[4])
    payloads[4] = head + b"".join(entries[::-1])  # the map's entries swapped: same bytes, another layout
    ex = decode_example(payloads[6])
    payloads[6] = encode_example({"label": ex["label"][1]}) + encode_example({"image": ex["image"][1]})  # merged
    ex = decode_example(payloads[9])
    payloads[9] = encode_example({"image": ex["image"][1], "label": [300]})
    path = str(tmp_path / "mixed.tfrecord")
    write_records(path, payloads)
    return path, payloads


def test_a_record_that_breaks_the_layout_mid_batch_is_decoded_and_equal(datasets, mixed):
    path, payloads = mixed
    src = open_source([path], schema=open_source(datasets["cifar10"]).schema)
    assert len(payloads[4]) == len(payloads[0]) and payloads[4] != payloads[0]
    src.columns([0, 1])  # the layout, from record 0
    calls = []
    real = src.parse
    src.parse = lambda data, i: calls.append(i) or real(data, i)
    kept, columns = src.columns(list(range(12)))
    assert {4, 6} <= set(calls) <= {4, 6, 9}
    del src.parse
    _assert_columns_are(src, list(range(12)))
    assert columns["label"][9] == 300


@pytest.fixture
def damaged(datasets, tmp_path):
    out = tmp_path / "damaged"
    shutil.copytree(datasets["cifar10"], out)
    shard = open_dataset(out).shard_paths("train")[1]
    return str(out), shard


@pytest.mark.parametrize("where, reason", [(100, "data CRC"), (2, "length CRC")])
def test_damage_in_a_gathered_batch_is_one_named_error_and_skip_corrupt_counts(damaged, where, reason):
    path, shard = damaged
    flip(shard, offsets(shard)[2] + where)
    src = open_source(path, split="train")
    first = src.records.shards[0].records
    batch = list(range(len(src)))
    with pytest.raises(CorruptRecordError, match=rf"{shard}: record 2 at byte offset {offsets(shard)[2]}: {reason}"):
        src.columns(batch)
    skipping = open_source(path, split="train", skip_corrupt=True)
    kept, columns = skipping.columns(batch)
    assert first + 2 not in kept.tolist() and len(kept) == len(src) - 1 == len(columns["image"])
    assert skipping.stats.records_skipped == 1 and list(skipping.stats.damaged) == [(shard, 2)]
    clean = [i for i in batch if i != first + 2]
    assert np.array_equal(columns["image"], np.stack([s["image"] for s in _slow(skipping, clean)]))


def test_a_shard_cut_short_is_named_not_gathered(datasets, tmp_path, reads):
    out = tmp_path / "short"
    shutil.copytree(datasets["cifar10"], out)
    shard = open_dataset(out).shard_paths("train")[0]
    src = open_source(str(out), split="train")
    src.columns([0])
    with open(shard, "r+b") as f:
        f.truncate(offsets(shard)[-1] + 20)
    with pytest.raises(CorruptRecordError, match=rf"{shard}: record {len(offsets(shard)) - 1} at byte offset"):
        src.columns(list(range(src.records.shards[0].records)))
    last = src.records.shards[0].records - 1  # read alone (far from record 0): its own preadv comes back short
    with pytest.raises(CorruptRecordError, match=rf"{shard}: record {last} at byte offset"):
        src.columns([0, last])


def test_records_far_apart_are_read_one_preadv_each_and_neighbours_together(datasets, monkeypatch):
    monkeypatch.setattr(records_module, "MAP_SHARDS", False)
    calls = []
    real = os.preadv
    monkeypatch.setattr(os, "preadv", lambda fd, bufs, off: calls.append(len(bufs)) or real(fd, bufs, off))
    src = open_source(datasets["cifar10"], split="train")
    src.columns([0])
    calls.clear()
    batch = [20, 0, 1, 12, 2]  # 0, 1, 2 adjacent; 12 and 20 more than a page from anything asked
    _assert_columns_are(src, batch, False)
    assert sorted(calls[:3]) == [1, 1, 3]


def test_mapped_batches_make_no_read_call_and_equal_the_preadv_ones(datasets, monkeypatch):
    src = open_source(datasets["cifar10"], split="train")
    batch = np.random.default_rng(1).permutation(len(src))[:30]
    shards, _, spans = src.records.spans(batch)
    monkeypatch.setattr(records_module, "MAP_SHARDS", False)
    want = src.records.read_rows(shards, spans)
    monkeypatch.setattr(records_module, "MAP_SHARDS", True)
    calls = []
    for name in ("pread", "preadv"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *a, real=real: calls.append(a) or real(*a))
    assert np.array_equal(src.records.read_rows(shards, spans), want) and calls == []
    assert len(src.records._maps) == len(set(shards.tolist()))
    assert np.array_equal(pickle.loads(pickle.dumps(src)).records.read_rows(shards, spans), want)
