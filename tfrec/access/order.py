"""The order of an epoch: the seeded global permutation of all records, disjoint shares per rank and worker, resumable.

An epoch's order is a pure function of (seed, epoch): position p of the epoch reads record
`permuted(p, n, epoch_seed(seed, epoch))` (shuffled) or record p (not). A rank's share of an epoch is
the positions p with p % world_size == rank (strided: the shares are disjoint, together complete, and
differ in length by at most one; nothing is padded or repeated, unlike torch's DistributedSampler).
Resuming is restoring a position within the share: nothing before it is read again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TfrecError

_U64 = 0xFFFFFFFFFFFFFFFF


def permuted(position: int, n: int, seed: int) -> int:
    """The seeded shuffle of [0, n) at `position`: a 4-round Feistel bijection with cycle walking, O(1) per call."""
    if n <= 1:
        return position
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    half, mask = bits // 2, (1 << (bits // 2)) - 1
    x = position
    while True:
        left, right = x >> half, x & mask
        for k in range(4):
            left, right = right, left ^ (_mix(right, seed, k) & mask)
        x = (left << half) | right
        if x < n:  # a bijection of [0, 2**bits) walked until it lands in [0, n) is a bijection of [0, n)
            return x


def permuted_many(positions: np.ndarray, n: int, seed: int) -> np.ndarray:
    """permuted() of every position at once (int64), with NumPy: the same values, ~100x faster per position."""
    x = np.asarray(positions, np.int64).astype(np.uint64)
    if n <= 1 or not len(x):
        return x.astype(np.int64)
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    half, mask = np.uint64(bits // 2), np.uint64((1 << (bits // 2)) - 1)
    keys = [np.uint64(((seed & 0xFFFFFFFF) * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9) & _U64) for k in range(4)]
    todo = np.arange(len(x))
    with np.errstate(over="ignore"):
        while len(todo):
            v = x[todo]
            left, right = v >> half, v & mask
            for key in keys:
                left, right = right, left ^ (_mix_many(right + key) & mask)
            v = (left << half) | right
            x[todo] = v
            todo = todo[v >= np.uint64(n)]  # cycle walking, as permuted()
    return x.astype(np.int64)


def _mix_many(z: np.ndarray) -> np.ndarray:
    # _mix's finaliser on uint64 arrays (the key already added; NumPy's uint64 arithmetic wraps as & _U64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix(value: int, seed: int, round_: int) -> int:
    # splitmix64's finaliser over the value, seed and round
    z = (value + (seed & 0xFFFFFFFF) * 0x9E3779B97F4A7C15 + round_ * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31)


def epoch_seed(seed: int, epoch: int) -> int:
    """The permutation seed of one epoch (permuted reads 32 bits of it): a different shuffle every epoch."""
    return _mix(epoch & _U64, seed & _U64, 7) & 0xFFFFFFFF


def share_size(n: int, rank: int, world_size: int) -> int:
    """How many of an epoch's n positions fall to a rank (positions rank, rank + world_size, ...)."""
    return max(0, (n - rank + world_size - 1) // world_size)


@dataclass(frozen=True)
class EpochOrder:
    """Which record each position of a rank's share of an epoch reads.

    Attributes:
        size: records in the dataset (the permutation's domain).
        shuffle: a seeded global permutation per epoch (False: file order).
        seed: the permutation's seed.
        rank, world_size: this rank's share: epoch positions rank, rank + world_size, ...
    """

    size: int
    shuffle: bool = False
    seed: int = 0
    rank: int = 0
    world_size: int = 1

    def __post_init__(self):
        if self.size < 0:
            raise TfrecError(f"a dataset size is not negative: {self.size}")
        if self.world_size < 1:
            raise TfrecError(f"world_size must be at least 1, not {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise TfrecError(f"rank must be in [0, {self.world_size}), not {self.rank}")

    def __len__(self) -> int:
        """Positions in this rank's share of an epoch."""
        return share_size(self.size, self.rank, self.world_size)

    def record(self, epoch: int, position: int) -> int:
        """The record read at a position of this rank's share of an epoch."""
        if not 0 <= position < len(self):
            raise IndexError(f"position {position} is outside this share's [0, {len(self)})")
        p = self.rank + position * self.world_size
        return permuted(p, self.size, epoch_seed(self.seed, epoch)) if self.shuffle else p

    def records(self, epoch: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The records read at positions [start, stop) of this rank's share of an epoch (int64)."""
        stop = len(self) if stop is None else min(stop, len(self))
        positions = range(self.rank + start * self.world_size, self.rank + stop * self.world_size, self.world_size)
        if not self.shuffle:
            return np.arange(positions.start, positions.stop, positions.step, dtype=np.int64)[: max(0, stop - start)]
        positions = np.arange(positions.start, positions.stop, positions.step, dtype=np.int64)[: max(0, stop - start)]
        return permuted_many(positions, self.size, epoch_seed(self.seed, epoch))

    def batches(self, epoch: int, batch_size: int, start: int = 0, drop_last: bool = False):
        """Yields the share's records from `start` on in batches (int64 arrays); the last may be short.

        With drop_last every rank stops after the same number of full batches (the shortest share's), so
        that ranks in lockstep (DDP) all take the same number of steps.
        """
        n = len(self)
        if drop_last:
            n = share_size(self.size, self.world_size - 1, self.world_size) // batch_size * batch_size
        for a in range(start, n, batch_size):
            yield self.records(epoch, a, min(a + batch_size, n))
