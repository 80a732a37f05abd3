"""The shard machinery both runners share: encode a shard's records, write it atomically with its .idx, journal it.

The local runner (write/convert.py) encodes a shard's chunks across a process pool and writes them
here with write_shard; the Beam runner (write/beam.py) hands each shard, as a ShardUnit, to a worker
that runs write_unit (or WriteAndJournal) on it. Both go through the same encoders and the same
writer, so the output is byte-identical whichever runs them.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..codec.example import encode_examples_bulk
from ..codec.schema import Schema
from ..errors import TfrecError
from ..io.journal import Journal
from ..io.records import FOOTER_BYTES, FRAMING_BYTES, HEADER_BYTES, ShardWriter, frame_record, frame_rows_inplace
from ..sources import SplitData
from .plan import ShardSpec

# Records per bulk-encoding step: bounds memory to a few MB per step; larger chunks gained < 5%.
BULK_CHUNK_RECORDS = 8192
# Records per task sent to a worker process: large enough to amortise pickling, small enough
# that a 2-worker pool stays balanced on a 3,000-image folder.
ITEM_CHUNK_RECORDS = 32


def iter_bulk(split: SplitData, schema: Schema, idx: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Framed records (a uint8 buffer) and their framed lengths for the records at `idx`, in order."""
    for lo in range(0, len(idx), BULK_CHUNK_RECORDS):
        chunk = idx[lo : lo + BULK_CHUNK_RECORDS]
        cols = {f.name: (f.storage, split.arrays[f.name]) for f in schema.features}
        groups = list(encode_examples_bulk(cols, margin=(HEADER_BYTES, FOOTER_BYTES), take=chunk))
        if len(groups) == 1:
            framed = frame_rows_inplace(groups[0][1])
            yield framed, np.full(len(chunk), framed.shape[1], np.int64)
            continue
        parts: list = [None] * len(chunk)  # rows of different widths: put them back in order
        for rows, mat in groups:
            for r, row in zip(rows.tolist(), frame_rows_inplace(mat)):
                parts[r] = row.tobytes()
        yield b"".join(parts), np.array([len(p) for p in parts], np.int64)


def encode_chunk(make_record: Callable, items: list) -> tuple[bytes, list[int], list[dict], dict[str, int]]:
    """Worker task: turns items into framed records; bad items become skip entries (and annotation events
    entries with an `event` key: see file_skips); counts the image formats."""
    framed, lengths, skipped, formats = [], [], [], {}
    for item in items:
        record, reason, fmt, *events = make_record(item)
        if events:  # a detection layout's annotation events travel with the skipped files (an `event` key)
            skipped += events[0]
        if record is None:
            skipped.append({"path": item[1], "reason": reason})
            continue
        framed.append(frame_record(record))
        lengths.append(len(record) + FRAMING_BYTES)
        formats[fmt] = formats.get(fmt, 0) + 1
    return b"".join(framed), lengths, skipped, formats


def file_skips(skipped: list[dict]) -> list[dict]:
    """The skipped files among skip entries, without the annotation events (clipped boxes, rotations, ...)."""
    return [s for s in skipped if "event" not in s]


def write_shard(path: str, compression: str, chunks: Iterable[tuple]) -> dict:
    """Writes one shard and its .idx from (framed records, framed lengths) chunks; returns its dataset.json entry.

    The one writer of both runners: the shard is written under a hidden temporary name and
    published under `path` only when complete (io/records.py ShardWriter; io/fs.py for URLs).

    Raises:
        TfrecError: the write failed (the temporary file is removed).
    """
    try:
        with ShardWriter(path, compression) as w:
            for framed, lengths in chunks:
                w.write_framed(framed, lengths)
    except OSError as e:
        hint = " (disk full)" if e.errno == errno.ENOSPC else ""
        reason = e.strerror or str(e)
        raise TfrecError(
            f"{path}: cannot write: {reason}{hint}; its temporary file was removed, no dataset.json written"
        ) from e
    return w.info.to_json()


def split_entry(infos: list[dict]) -> dict[str, Any]:
    """A split's dataset.json entry from its shards' entries, in shard order."""
    return {"records": sum(i["records"] for i in infos), "bytes": sum(i["bytes"] for i in infos), "shards": infos}


@dataclass(frozen=True)
class ShardUnit:
    """One shard as a unit of work: where it goes and its records, in write order (for Beam workers)."""

    split: str
    spec: ShardSpec
    path: str
    compression: str
    schema: Schema
    data: SplitData  # this shard's records only
    make_record: Callable | None = None


def iter_unit_chunks(unit: ShardUnit) -> Iterator[tuple[Any, np.ndarray, list[dict], dict[str, int]]]:
    """(framed, lengths, skipped items, image formats) per chunk of a unit, encoded in this process."""
    data = unit.data
    if data.arrays is not None:
        for framed, lengths in iter_bulk(data, unit.schema, np.arange(len(data))):
            yield framed, lengths, [], {}
        return
    for lo in range(0, len(data), ITEM_CHUNK_RECORDS):
        yield encode_chunk(unit.make_record, data.items[lo : lo + ITEM_CHUNK_RECORDS])


def write_unit(unit: ShardUnit) -> tuple[str, dict, list[dict]]:
    """Encodes and writes one shard here: the per-shard task of `--runner beam`.

    Returns:
        (split, the shard's dataset.json entry, the items skipped in it).
    """
    skipped: list[dict] = []
    formats: dict[str, int] = {}

    def chunks():
        for framed, lengths, bad, fmts in iter_unit_chunks(unit):
            skipped.extend(bad)
            for fmt, count in fmts.items():
                formats[fmt] = formats.get(fmt, 0) + count
            yield framed, lengths

    info = write_shard(unit.path, unit.compression, chunks())
    if unit.data.items is not None:  # image sources: which formats the shard holds
        info["formats"] = dict(sorted(formats.items()))
    return unit.split, info, skipped


@dataclass(frozen=True)
class WriteAndJournal:
    """The per-shard step of a worker: write the unit, then journal it (callable, so Beam can pickle it)."""

    journal: Journal

    def __call__(self, unit: ShardUnit) -> tuple[str, dict, list[dict]]:
        split, info, skipped = write_unit(unit)
        self.journal.record(split, info, skipped)
        return split, info, skipped
