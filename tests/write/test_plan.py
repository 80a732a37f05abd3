"""Golden values for the write plan: record order, shard counts and names, sizes, split specs and splits.

The numbers pin today's behaviour: a change here changes which record lands in which shard of every
dataset converted with the same seed, so it must be deliberate.
"""
from __future__ import annotations

import numpy as np
import pytest

from tfrec.errors import TfrecError
from tfrec.write.plan import (
    choose_num_shards,
    named_seed,
    parse_size,
    parse_split_spec,
    plan_shards,
    record_order,
    stratified_split,
)

MB = 10**6


# ---------------------------------------------------------------- record order


def test_named_seed_is_sha256_of_seed_and_name():
    # The first 8 bytes, little-endian, of sha256(b"0:train").
    assert named_seed(0, "train") == 0x3003A6333B84B393


def test_record_order_for_seed_0():
    assert record_order(10, True, 0, "train").tolist() == [1, 0, 9, 7, 3, 6, 5, 2, 8, 4]
    assert record_order(10, True, 0, "val").tolist() == [7, 9, 8, 4, 1, 3, 5, 0, 2, 6]
    assert record_order(10, True, 1, "train").tolist() == [0, 1, 2, 6, 7, 8, 4, 5, 9, 3]


def test_record_order_without_shuffle_is_source_order():
    assert record_order(5, False, 0, "train").tolist() == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- shard counts and names


@pytest.mark.parametrize("total_bytes, num_records, shard_size, expected", [
    (0, 0, None, 1),                   # nothing to write still gets one (empty) shard
    (5 * MB, 1000, None, 1),           # under 10 MB: one shard
    (25 * MB, 1000, None, 2),          # as many 10 MB shards as fit, up to 4
    (45 * MB, 1000, None, 4),
    (150 * MB, 1000, None, 4),         # 4 for parallel reads beats one 100 MB shard
    (999 * MB, 1000, None, 9),         # past 400 MB: whole 100 MB shards
    (10**9, 1000, None, 10),
    (10**9, 3, None, 3),               # never more shards than records
    (10**12, 10**6, None, 10_000),
    (200 * MB, 1000, 100 * MB, 2),     # shard_size: at most that many bytes each
    (250 * MB, 1000, 100 * MB, 3),
    (250 * MB, 2, 100 * MB, 2),
    (10**9, 10**6, 2**27, 8),          # 128 MiB shards
    (1, 10, 100, 1),
])
def test_choose_num_shards(total_bytes, num_records, shard_size, expected):
    assert choose_num_shards(total_bytes, num_records, shard_size) == expected


def test_plan_shards_cuts_near_equal_contiguous_slices():
    specs = plan_shards("mnist", "train", 10, 3)
    assert [(s.index, s.file, s.start, s.stop, s.records) for s in specs] == [
        (0, "mnist-train.tfrecord-00000-of-00003", 0, 3, 3),
        (1, "mnist-train.tfrecord-00001-of-00003", 3, 7, 4),
        (2, "mnist-train.tfrecord-00002-of-00003", 7, 10, 3),
    ]
    with pytest.raises(TfrecError, match="number of shards must be at least 1, not 0"):
        plan_shards("mnist", "train", 10, 0)


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("text, expected", [
    ("128MB", 128_000_000),
    ("1GiB", 2**30),
    ("100", 100),
    ("1.5GB", 1_500_000_000),
    ("64MiB", 64 * 2**20),
    (" 2 kb ", 2000),        # units in any case, spaces around
    ("1.5B", 1),             # fractions of a byte are dropped
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["abc", "12XB", "", "-5", "1e6", "MB"])
def test_parse_size_rejects_what_it_cannot_read(text):
    with pytest.raises(TfrecError, match=f"cannot read size '{text}'; expected e.g. 128MB, 1GB, 64MiB"):
        parse_size(text)


@pytest.mark.parametrize("text", ["0", "0.5", "0.0001KB"])
def test_parse_size_rejects_less_than_a_byte(text):
    with pytest.raises(TfrecError, match=f"size '{text}' must be at least one byte"):
        parse_size(text)


# ---------------------------------------------------------------- split specs


@pytest.mark.parametrize("text, expected", [
    ("train=0.9,val=0.1", {"train": 0.9, "val": 0.1}),
    (" train=0.8, val=0.2 ", {"train": 0.8, "val": 0.2}),
    ("train=1,", {"train": 1.0}),
    ("a=0.7,b=0.2,c=0.1", {"a": 0.7, "b": 0.2, "c": 0.1}),  # sums to 0.9999999999999999: within tolerance
])
def test_parse_split_spec(text, expected):
    result = parse_split_spec(text)
    assert result == expected and list(result) == list(expected)


@pytest.mark.parametrize("text, message", [
    ("train=0.9", r"split fractions in 'train=0.9' add up to 0.9; they must add up to 1"),
    ("", r"split fractions in '' add up to 0; they must add up to 1"),
    ("train=0.5,train=0.5", r"split 'train' named twice"),
    ("train", r"bad split 'train' in 'train'; expected name=fraction"),
    ("train=abc", r"bad split 'train=abc'"),
    ("train=0,val=1", r"bad split 'train=0' in 'train=0,val=1'"),
    ("a-b=1", r"bad split 'a-b=1'"),
    ("train = 1", r"bad split 'train = 1'"),
])
def test_parse_split_spec_rejects(text, message):
    with pytest.raises(TfrecError, match=message):
        parse_split_spec(text)


# ---------------------------------------------------------------- stratified split


def test_stratified_split_golden_for_seed_0():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    out = stratified_split(labels, {"train": 0.5, "val": 0.5}, 0)
    assert {k: v.tolist() for k, v in out.items()} == {"train": [1, 2, 6, 7], "val": [0, 3, 4, 5]}
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 1, 2, 0])
    out = stratified_split(labels, {"train": 0.6, "val": 0.4}, 0)
    assert {k: v.tolist() for k, v in out.items()} == {"train": [2, 3, 4, 6, 7, 8], "val": [0, 1, 5, 9]}


def test_stratified_split_keeps_class_balance_and_covers_every_record():
    labels = np.repeat([0, 1, 2], [40, 20, 10])
    np.random.default_rng(3).shuffle(labels)
    out = stratified_split(labels, {"train": 0.75, "val": 0.25}, 0)
    # Per class, the train share is rounded half to even: 7.5 of class 2's 10 records -> 8.
    assert {k: np.bincount(labels[v], minlength=3).tolist() for k, v in out.items()} == {
        "train": [30, 15, 8], "val": [10, 5, 2]}
    assert np.array_equal(np.sort(np.concatenate(list(out.values()))), np.arange(len(labels)))
    assert all(np.array_equal(v, np.sort(v)) for v in out.values())


def test_stratified_split_is_deterministic_by_seed():
    labels = np.repeat(np.arange(5), 20)
    fractions = {"train": 0.8, "val": 0.2}
    first, again, other = (stratified_split(labels, fractions, s) for s in (7, 7, 8))
    assert all(np.array_equal(first[k], again[k]) for k in fractions)
    assert not np.array_equal(first["val"], other["val"])


def test_stratified_split_of_no_records():
    out = stratified_split(np.zeros(0, np.int64), {"train": 1.0}, 0)
    assert list(out) == ["train"] and out["train"].size == 0
