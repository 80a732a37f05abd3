"""The shards a random-access source reads: a split of a tfrec dataset or foreign TFRecord files, and each one's offsets.

A shard's offsets come from its `.idx` (checked with check_index against the file's size), or, where
there is none or it is wrong, from one framing scan of the file (the compiled walk, tfrec.io.scan).
Random access reads records at offsets with pread, so shards must be uncompressed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import CorruptRecordError, TfrecError
from ..io.dataset import Dataset, open_dataset
from ..io.files import find_inputs
from ..io.index import check_index, read_index
from ..io.manifest import MISSING_SHARD
from ..io.records import detect_compression, normalize_compression
from ..io.scan import Problem, scan_file


@dataclass(frozen=True)
class ShardRef:
    """One shard of a source: its path and its record count (dataset.json's, or its table's for foreign files)."""

    path: str
    records: int


def dataset_shards(dataset: Dataset | str, split: str) -> tuple[Dataset, tuple[ShardRef, ...]]:
    """The opened dataset and the shards of one of its splits, with dataset.json's record counts.

    Raises:
        TfrecError: no such split, a shard missing or without a record count, or compressed shards.
    """
    dataset = open_dataset(dataset)
    entries = dataset.split(split)
    missing = [s.path for s in entries if not s.present]
    if missing:
        raise TfrecError(f"{missing[0]}: {MISSING_SHARD}")
    _refuse_compressed(dataset.compression, entries[0].path if entries else dataset.root)
    bad = [s.path for s in entries if s.records is None]
    if bad:
        raise TfrecError(f"{dataset.manifest_path}: shard {os.path.basename(bad[0])} lists no record count")
    return dataset, tuple(ShardRef(s.path, s.records) for s in entries)


def foreign_shards(paths: Sequence[str], problems: list[Problem]) -> tuple[tuple[ShardRef, ...], dict[int, np.ndarray]]:
    """Foreign TFRecord files (files, directories, globs): their shards and offset tables (found now, to count them).

    What a scan finds damaged is appended to `problems` (those records are not in the tables).

    Raises:
        TfrecError: a path with no TFRecord files, a dataset directory among them, or a compressed file.
    """
    inputs = find_inputs(paths)
    if any(i.dataset for i in inputs):
        raise TfrecError("give a tfrec dataset on its own (with split=...), or foreign TFRecord files, not both")
    files = list(dict.fromkeys(f for i in inputs for f in i.files))
    tables = {}
    for k, path in enumerate(files):
        _refuse_compressed(detect_compression(path), path)
        tables[k] = offsets_table(path, problems)
    return tuple(ShardRef(p, len(tables[k])) for k, p in enumerate(files)), tables


def offsets_table(path: str, problems: list[Problem] | None = None) -> np.ndarray:
    """(N, 2) int64 offsets and framed lengths of a plain shard's records: its `.idx`, or one framing scan.

    A missing or bad `.idx` is not an error: the shard is scanned instead. Damage the scan found at a record
    it keeps (a data CRC: found again when that record is read) is left to the read; damage that lost
    records (broken framing, skipped to the next valid record) is appended to `problems`.
    """
    index = path + ".idx"
    if os.path.isfile(index):
        try:
            return check_index(read_index(index), index, os.path.getsize(path))
        except TfrecError:
            pass  # found by scanning instead
    scan = scan_file(path, "none")
    table = np.stack([scan.offsets, scan.lengths], axis=1).astype(np.int64) if scan.records else \
        np.zeros((0, 2), np.int64)
    if problems is not None:
        kept = set(table[:, 0].tolist())
        problems.extend(p for p in scan.problems if p.offset not in kept)
    return table


def check_table(table: np.ndarray, shard: ShardRef) -> np.ndarray:
    """A shard's offsets table, checked against the record count its source was sized with.

    Raises:
        CorruptRecordError: the shard holds fewer records than dataset.json lists (named at the first missing one).
    """
    if len(table) < shard.records:
        end = int(table[-1].sum()) if len(table) else 0
        raise CorruptRecordError(shard.path, len(table), end, f"dataset.json lists {shard.records} records; "
                                 f"the shard's index and framing hold {len(table)}")
    return table[: shard.records]


def _refuse_compressed(compression: str | None, path: str) -> None:
    if normalize_compression(compression) != "none":
        raise TfrecError(f"{path}: {compression}-compressed shards cannot be read by index (random access reads "
                         f"records at their offsets); convert with --compression none")
