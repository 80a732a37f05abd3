"""The epoch order: a seeded global permutation per epoch, disjoint complete unpadded shares per rank, resumable."""
from __future__ import annotations

import numpy as np
import pytest

from tfrec.access import EpochOrder, epoch_seed, permuted, share_size
from tfrec.access.order import permuted_many
from tfrec.errors import TfrecError


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 97, 1000])
def test_permuted_is_a_bijection_for_every_seed(n):
    for seed in (0, 1, 2**31 + 5):
        assert sorted(permuted(i, n, seed) for i in range(n)) == list(range(n))


def test_the_order_of_seed_0_is_kept():
    # a golden value: the shuffle of a seed never drifts (resumed runs and the viewer's links rely on it)
    assert [permuted(i, 10, 0) for i in range(10)] == [8, 7, 1, 3, 0, 4, 6, 9, 5, 2]
    assert EpochOrder(10, True, 0).records(0).tolist() == [9, 5, 3, 1, 6, 0, 4, 7, 2, 8]
    assert EpochOrder(10, True, 0).records(0).tolist() == [EpochOrder(10, True, 0).record(0, p) for p in range(10)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 97, 1000, 50_000, 2**20 + 3])
def test_permuted_many_is_the_scalar_permutation_vectorised(n):
    rng = np.random.default_rng(n)
    positions = np.unique(rng.integers(0, max(n, 1), 500)) if n else np.zeros(0, np.int64)
    for seed in (0, 1, 7, 2**31 + 5, 2**32 - 1):
        got = permuted_many(positions, n, seed)
        assert got.dtype == np.int64
        assert got.tolist() == [permuted(int(p), n, seed) for p in positions]


def test_shuffled_records_are_the_scalar_permutation_of_their_positions():
    order = EpochOrder(1001, True, 9, 2, 3)
    assert order.records(4, 10, 300).tolist() == [order.record(4, p) for p in range(10, 300)]


@pytest.mark.parametrize("n", [1, 7, 10, 50])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("shuffle", [False, True])
def test_rank_shares_are_disjoint_complete_and_unpadded(n, world_size, shuffle):
    shares = [EpochOrder(n, shuffle, 3, r, world_size).records(2) for r in range(world_size)]
    assert sorted(np.concatenate(shares).tolist()) == list(range(n))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert [len(s) for s in shares] == [share_size(n, r, world_size) for r in range(world_size)]


def test_each_epoch_is_a_different_permutation_and_a_pure_function_of_seed_and_epoch():
    a, b = EpochOrder(100, True, 5), EpochOrder(100, True, 5)
    assert a.records(0).tolist() == b.records(0).tolist()
    assert a.records(0).tolist() != a.records(1).tolist()
    assert a.records(0).tolist() != EpochOrder(100, True, 6).records(0).tolist()
    assert epoch_seed(5, 0) != epoch_seed(5, 1)
    assert EpochOrder(10).records(0).tolist() == list(range(10))


@pytest.mark.parametrize("start", [0, 1, 5, 9, 10])
def test_batches_from_a_position_are_the_rest_of_the_share(start):
    order = EpochOrder(23, True, 1, 1, 2)
    rest = np.concatenate(list(order.batches(4, 3, start)) or [np.zeros(0, np.int64)])
    assert rest.tolist() == order.records(4)[start:].tolist()


def test_drop_last_gives_every_rank_the_same_number_of_full_batches():
    counts = [[len(b) for b in EpochOrder(10, False, 0, r, 3).batches(0, 3, drop_last=True)] for r in range(3)]
    assert counts == [[3], [3], [3]]


@pytest.mark.parametrize("rank, world_size", [(-1, 2), (2, 2), (0, 0)])
def test_a_bad_share_is_refused(rank, world_size):
    with pytest.raises(TfrecError, match="rank|world_size"):
        EpochOrder(10, rank=rank, world_size=world_size)
