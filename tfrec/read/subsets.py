"""Which records a read yields and how many: the validation split, by a seeded permutation of record
indices, and the count that gives make_dataset's dataset its length (no TensorFlow)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import TfrecError
from .options import ReadOptions


@dataclass(frozen=True)
class RecordPlan:
    """The records one reader yields of a split, per epoch.

    A record's index is its place in the split: the shards in dataset.json's order, then its place
    in its shard. `keep` marks the indices of the subset asked for (None: every record); `records`
    is how many this reader yields per epoch, where dataset.json's counts tell (None: unknown).
    """

    starts: tuple[int, ...]  # the index of the first record of each of the reader's files
    keep: np.ndarray | None
    records: int | None
    sizes: tuple[int, ...] | None = None  # each of the reader's files' records (before `keep`), where known


def file_records(files: Sequence[str], expected: Mapping[str, dict]) -> list[int] | None:
    """Each file's record count from its dataset.json entry; None if one is not known."""
    counts = [(expected.get(f) or {}).get("records") for f in files]
    return counts if all(isinstance(c, int) and c >= 0 for c in counts) else None


def validation_members(total: int, fraction: float, seed: int | None) -> np.ndarray:
    """A mask over record indices, True for the validation subset: as Keras splits its file list,
    int(fraction x total) records are validation, the last ones of a seeded shuffle of the indices
    (np.random.RandomState(seed).shuffle, Keras' shuffle), or of the stored order without a seed.
    Keras shuffles only when its dataset is shuffled; here the seed alone decides, so that a
    validation dataset read in order (subset='both') holds the same records as one shuffled.

    Raises:
        TfrecError: the fraction leaves a subset empty.
    """
    count = int(fraction * total)
    if count == 0 or count == total:
        empty = "validation" if count == 0 else "training"
        raise TfrecError(f"validation_split {fraction:g} of {total} records leaves the {empty} subset empty "
                         f"(int({fraction:g} x {total}) = {count} for validation): choose another fraction")
    order = np.arange(total)
    if seed is not None:
        np.random.RandomState(seed).shuffle(order)
    keep = np.zeros(total, dtype=bool)
    keep[order[total - count:]] = True
    return keep


def plan_records(split_files: Sequence[str], files: Sequence[str], expected: Mapping[str, dict],
                 options: ReadOptions, where: str = "") -> RecordPlan:
    """What the reader of `files` (this worker's share of `split_files`, all the split's present
    shards) yields: their records, or those of options.subset.

    Raises:
        TfrecError: a validation split where a shard's record count is not known (foreign files),
            or one that leaves a subset empty.
    """
    counts = file_records(split_files, expected)
    starts = dict(zip(split_files, np.cumsum([0] + (counts or [0] * len(split_files)))[:-1].tolist()))
    mine = tuple(int(starts[f]) for f in files)
    sizes = None if counts is None else tuple(dict(zip(split_files, counts))[f] for f in files)
    if options.validation_split is None:
        return RecordPlan(mine, None, None if sizes is None else sum(sizes), sizes)
    if counts is None:
        raise TfrecError(f"{where or split_files[0]}: validation_split needs each shard's record count, which a "
                         "tfrec dataset's dataset.json lists; foreign TFRecords have none (convert them first)")
    keep = validation_members(sum(counts), options.validation_split, options.seed)
    if options.subset == "training":
        keep = ~keep
    records = sum(int(keep[s:s + n].sum()) for s, n in zip(mine, sizes))
    return RecordPlan(mine, keep, records, sizes)
