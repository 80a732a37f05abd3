"""A dataset opened for viewing: its shards, schema and class names, any record by random access, filtered pages.

Records are found through each shard's `.idx` (one pread per record, whatever its position); a
foreign file without one is scanned once, on first use, and its offsets are kept. A plain shard's
records are read by the access layer's RecordSource (one file descriptor per shard, both CRCs checked
by access.records.unframe); a compressed shard, which cannot be read at an offset, is inflated up to
the record in bounded pieces and its record checked by the same unframe.
Labels for the class filter and the class counts come from one pass per shard, made on demand
(or in the background) and kept.
"""
from __future__ import annotations

import os
import re
import threading
from bisect import bisect_right
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..access.order import permuted
from ..access.records import RecordSource, unframe
from ..access.shards import ShardRef
from ..check import infer_schema, label_map_beside, read_label_map, schema_name
from ..codec.example import ExampleDecodeError, decode_example
from ..codec.schema import FeatureSpec, Schema, load_schema, schema_from_json
from ..errors import CorruptRecordError, TfrecError
from ..io.dataset import Dataset, open_dataset
from ..io.records import detect_compression, normalize_compression, open_stream
from ..io.files import find_inputs
from ..io.index import check_index, read_index
from ..io.scan import scan_file
from .cache import LruCache

# Offsets of the shards read most recently are kept (16 bytes per record: 1M records = 16 MB).
INDEX_CACHE_BYTES = 256 << 20
INFER_RECORDS = 200  # records read from the first files to infer a foreign schema
NO_LABEL = np.iinfo(np.int64).min  # a record without a readable label, in the label arrays
_SPLIT_IN_NAME = re.compile(r"^.+-([A-Za-z0-9_]+)\.(?:tfrecord|tfrec)")  # TFDS: name-split.tfrecord-...
_SKIP_CHUNK_BYTES = 1 << 20


class NotFound(TfrecError):
    """A request for a shard or record that the dataset does not have (HTTP 404)."""


@dataclass(frozen=True)
class Shard:
    """One file of the dataset: its position in the dataset (its id in URLs), path, split, listed count."""

    id: int
    path: str
    split: str | None
    listed: int | None  # records according to dataset.json, when there is one
    compression: str | None  # None: detect from the file

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass(frozen=True)
class Selection:
    """Which records a gallery shows: a split, a shard and a class (None: all), in file or shuffled order."""

    split: str | None = None
    shard: int | None = None
    label: int | None = None
    shuffle: bool = False
    seed: int = 0


def label_feature(schema: Schema | None) -> FeatureSpec | None:
    """The feature that holds the class: the first class_label (`label` first), else an int64 scalar `label`."""
    if schema is None:
        return None
    labels = sorted((f for f in schema.features if f.kind == "class_label"), key=lambda f: f.name != "label")
    if labels:
        return labels[0]
    if "label" in schema and schema["label"].storage == "int64" and schema["label"].value_count == 1:
        return schema["label"]
    return None


class DatasetView:
    """A tfrec dataset directory, or foreign TFRecord files, opened read-only for the viewer.

    Args:
        paths: one dataset (opened with tfrec.open_dataset, or its directory with dataset.json), or
            TFRecord files, directories of them, or globs.
        schema: for foreign files, a schema name or JSON file (default: inferred from the first records).
        compression: 'none', 'gzip', 'zlib', or None to use dataset.json's or detect it per file.

    Raises:
        TfrecError: nothing to view, more than one dataset, a malformed dataset.json or schema.
    """

    def __init__(self, paths: Sequence[str | Dataset], schema: str | None = None, compression: str | None = None):
        self.paths = tuple(p.root if isinstance(p, Dataset) else str(p) for p in paths)
        inputs = find_inputs(paths)
        datasets = [i for i in inputs if i.dataset]
        if datasets and (len(datasets) > 1 or len(inputs) > 1):
            raise TfrecError("view one tfrec dataset at a time, or any number of foreign TFRecord files, not both")
        self.manifest: dict | None = None
        self.dataset: Dataset | None = None  # the opened tfrec dataset, when it is one
        self.problems: list[str] = []
        comp = None if compression in (None, "auto") else normalize_compression(compression)
        if datasets:
            self.root = datasets[0].path
            self._open_dataset(datasets[0].source, comp)
        else:
            files = list(dict.fromkeys(f for i in inputs for f in i.files))
            self.root = str(paths[0]) if len(paths) == 1 else f"{len(files)} files"
            self.shards = tuple(Shard(k, f, _split_of(f), None, comp) for k, f in enumerate(files))
            self.name = schema_name(files[0])
            self.schema = load_schema(schema) if schema else self._infer_schema()
        self.label = label_feature(self.schema)
        self.label_map = self._label_map()  # detection records: id -> class name, drawn on their pictures
        self.image = next((f for f in self.schema.features if f.kind == "image"), None) if self.schema else None
        self.class_names = tuple(self.label.names) if self.label is not None and self.label.names else ()
        self.splits = tuple(dict.fromkeys(s.split for s in self.shards if s.split is not None))
        self._index = LruCache(INDEX_CACHE_BYTES, lambda r: r.table.nbytes)  # shard id -> _ShardRecords
        self._counts: dict[int, int] = {s.id: s.listed for s in self.shards if s.listed is not None}
        self._labels = LruCache(None, lambda a: a.nbytes)
        self._lock = threading.Lock()

    @property
    def is_dataset(self) -> bool:
        return self.manifest is not None

    def _open_dataset(self, dataset: Dataset | str, compression: str | None) -> None:
        dataset = open_dataset(dataset)
        self.dataset = dataset
        self.manifest = dict(dataset.manifest)
        self.name = dataset.name
        self.schema = schema_from_json(dataset.schema, dataset.manifest_path)
        self.problems += [str(p) for p in dataset.problems]
        comp = compression or dataset.compression
        self.shards = tuple(Shard(k, s.path, s.split, s.records, comp) for k, s in enumerate(dataset.present()))
        if not self.shards:
            raise TfrecError(f"{dataset.manifest_path}: lists no shard that exists")

    def _label_map(self) -> dict[int, str] | None:
        """The label_map.pbtxt beside the dataset (or the first file); a malformed one is listed in problems."""
        found = label_map_beside(self.dataset.root if self.dataset is not None else self.shards[0].path)
        if found is None:
            return None
        try:
            return read_label_map(found)
        except TfrecError as e:
            self.problems.append(str(e))
            return None

    def _infer_schema(self) -> Schema | None:
        examples: list = []
        for shard in self.shards:
            def keep(index, offset, data):
                try:
                    examples.append(decode_example(data))
                except ExampleDecodeError:
                    pass

            scan_file(shard.path, shard.compression, keep, limit=INFER_RECORDS - len(examples))
            if len(examples) >= INFER_RECORDS:
                break
        inferred = infer_schema(examples)
        return inferred.to_schema(self.name) if inferred.features else None

    # ------------------------------------------------------------ records

    def shard(self, shard_id: int) -> Shard:
        """The shard with this id. Raises NotFound."""
        if not 0 <= shard_id < len(self.shards):
            raise NotFound(f"no shard {shard_id}: this dataset has shards 0 to {len(self.shards) - 1}")
        return self.shards[shard_id]

    def offsets(self, shard_id: int) -> np.ndarray:
        """(N, 2) int64 offsets and framed lengths of a shard's records: its .idx, or a one-time framing scan."""
        return self._records(shard_id).table

    def _records(self, shard_id: int) -> _ShardRecords:
        shard = self.shard(shard_id)
        return self._index.get(shard_id, lambda: self._locate(shard))

    def _locate(self, shard: Shard) -> _ShardRecords:
        plain = _is_plain(shard)
        table, problem = _locate(shard, plain)
        if problem:
            self.problems.append(problem)
        return _ShardRecords(shard, table, plain)

    def count(self, shard_id: int) -> int:
        """Records in a shard: dataset.json's count, else its index's (scanning a foreign file once)."""
        if shard_id not in self._counts:
            self._counts[shard_id] = len(self.offsets(shard_id))
        return self._counts[shard_id]

    def read(self, shard_id: int, index: int) -> tuple[int, bytes]:
        """(byte offset, payload) of one record, its CRCs checked.

        Raises:
            NotFound: no such shard or record.
            CorruptRecordError: the record at the index's offset is damaged, or the index is wrong.
        """
        shard = self.shard(shard_id)
        records = self._records(shard_id)
        if not 0 <= index < len(records.table):
            raise NotFound(f"{shard.name}: no record {index}; it holds records 0 to {len(records.table) - 1}")
        return int(records.table[index, 0]), records.read(shard, index)

    def example(self, shard_id: int, index: int) -> tuple[int, dict]:
        """(byte offset, decoded Example) of one record. Raises NotFound, CorruptRecordError, ExampleDecodeError."""
        offset, data = self.read(shard_id, index)
        return offset, decode_example(data)

    def label_of(self, example: dict) -> int | None:
        """A decoded record's class id, or None."""
        if self.label is None:
            return None
        kind, values = example.get(self.label.name, ("", []))
        return int(values[0]) if kind == "int64" and len(values) == 1 else None

    def class_name(self, label: int | None) -> str:
        """The class's name, or its number when the schema names none."""
        if label is None:
            return ""
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    # ------------------------------------------------------------ labels (class filter and counts)

    def labels(self, shard_id: int) -> np.ndarray:
        """Every record's class id in a shard (NO_LABEL where there is none): one pass, made once."""
        shard = self.shard(shard_id)
        return self._labels.get(shard_id, lambda: self._label_pass(shard))

    def _label_pass(self, shard: Shard) -> np.ndarray:
        out: list[int] = []
        name = self.label.name if self.label is not None else None

        def on_record(index, offset, data):
            while len(out) < index:  # damaged records were skipped by the scan
                out.append(NO_LABEL)
            try:
                kind, values = decode_example(data).get(name, ("", [])) if name else ("", [])
            except ExampleDecodeError:
                kind, values = "", []
            out.append(int(values[0]) if kind == "int64" and len(values) == 1 else NO_LABEL)

        if name is not None:
            scan_file(shard.path, shard.compression, on_record)
        labels = np.asarray(out, np.int64)
        count = self.count(shard.id)
        return np.concatenate([labels, np.full(max(0, count - len(labels)), NO_LABEL)])[:count]

    def labelled_shards(self) -> int:
        """How many shards' labels are known (the class counts are complete when all are)."""
        return sum(self._labels.peek(s.id) is not None for s in self.shards)

    def class_counts(self) -> dict[int, int] | None:
        """Records per class over the whole dataset, or None while some shard's labels are not known yet."""
        arrays = [self._labels.peek(s.id) for s in self.shards]
        if any(a is None for a in arrays):
            return None
        values, counts = np.unique(np.concatenate(arrays) if arrays else np.zeros(0, np.int64), return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts) if v != NO_LABEL}

    def label_all(self) -> None:
        """Makes every shard's label array (the background pass behind the class counts)."""
        for s in self.shards:
            self.labels(s.id)

    # ------------------------------------------------------------ pages

    def candidates(self, sel: Selection) -> list[Shard]:
        """The shards a selection draws from. Raises NotFound for an unknown split or shard."""
        if sel.split is not None and sel.split not in self.splits:
            raise NotFound(f"no split {sel.split!r}; splits: {', '.join(self.splits) or '(none named)'}")
        if sel.shard is not None:
            shard = self.shard(sel.shard)
            return [shard] if sel.split in (None, shard.split) else []
        return [s for s in self.shards if sel.split in (None, s.split)]

    def page(self, sel: Selection, start: int, size: int) -> tuple[list[tuple[int, int]], int]:
        """Records [start, start + size) of a selection as (shard id, index) pairs, and the selection's total.

        Without a class filter this reads only counts (from dataset.json or the .idx), so any page
        costs the same; with one, the labels of the shards drawn from (one pass each, kept).
        """
        shards = self.candidates(sel)
        if sel.label is None:
            counts = [self.count(s.id) for s in shards]
            ids = [s.id for s in shards]
        else:
            matches = [np.flatnonzero(self.labels(s.id) == sel.label) for s in shards]
            counts = [len(m) for m in matches]
            ids = [s.id for s in shards]
        ends = np.cumsum(counts).tolist()
        total = ends[-1] if ends else 0
        out = []
        for position in range(max(0, start), min(total, start + size)):
            g = permuted(position, total, sel.seed) if sel.shuffle else position
            k = bisect_right(ends, g)
            local = g - (ends[k - 1] if k else 0)
            out.append((ids[k], int(matches[k][local]) if sel.label is not None else local))
        return out, total

    def neighbours(self, shard_id: int, index: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The records before and after one, in file order across shards."""
        prev = (shard_id, index - 1) if index > 0 else None
        if prev is None:
            for s in range(shard_id - 1, -1, -1):
                if self.count(s):
                    prev = (s, self.count(s) - 1)
                    break
        nxt = (shard_id, index + 1) if index + 1 < self.count(shard_id) else None
        if nxt is None:
            nxt = next(((s, 0) for s in range(shard_id + 1, len(self.shards)) if self.count(s)), None)
        return prev, nxt


def _split_of(path: str) -> str | None:
    match = _SPLIT_IN_NAME.match(os.path.basename(path))
    return match.group(1) if match else None


def _is_plain(shard: Shard) -> bool:
    return normalize_compression(shard.compression or detect_compression(shard.path)) == "none"


class _ShardRecords:
    """A shard's offsets table and, for a plain shard, the access layer's RecordSource over it (its one descriptor)."""

    def __init__(self, shard: Shard, table: np.ndarray, plain: bool):
        self.table = table
        self.source = RecordSource([ShardRef(shard.path, len(table))], {0: table}) if plain else None
        self._opening = threading.Lock()
        self._opened = False

    def read(self, shard: Shard, index: int) -> bytes:
        """Record `index`'s payload, its CRCs checked. Raises CorruptRecordError."""
        if self.source is None:
            offset, framed = (int(v) for v in self.table[index])
            return _read_stream(shard, index, offset, framed)
        try:
            if self._opened:
                return self.source[index]
            with self._opening:  # the first read opens the shard: one thread opens it, the others wait
                data = self.source[index]
                self._opened = True
                return data
        except CorruptRecordError:
            raise
        except TfrecError as e:  # the shard cannot be opened: shown as the record's damage, as a failed read is
            raise CorruptRecordError(shard.path, index, int(self.table[index, 0]), f"cannot read: {e}") from e


def _locate(shard: Shard, plain: bool) -> tuple[np.ndarray, str | None]:
    """The shard's (offset, framed length) table: its .idx, checked (a plain shard's against its size),
    or a framing scan where there is none or it is wrong; and what was wrong with it, if anything."""
    index, problem = shard.path + ".idx", None
    if os.path.isfile(index):
        try:
            return check_index(read_index(index), index, os.path.getsize(shard.path) if plain else None), None
        except TfrecError as e:  # a bad index: find the records by scanning instead
            problem = f"{e}; the shard's records were found by scanning it instead"
    scan = scan_file(shard.path, shard.compression)
    table = np.stack([scan.offsets, scan.lengths], axis=1) if scan.records else np.zeros((0, 2), np.int64)
    return table, problem


def _read_stream(shard: Shard, index: int, offset: int, framed: int) -> bytes:
    """One record's payload from a compressed shard: inflated up to its offset, read in bounded pieces, unframed."""
    try:
        stream = open_stream(shard.path, shard.compression)
        try:
            if hasattr(stream, "seek"):  # GzipFile's seek inflates forward
                stream.seek(offset)
            else:
                _skip(stream, offset)
            buf = _read_upto(stream, framed)
        finally:
            stream.close()
    except (OSError, EOFError) as e:
        raise CorruptRecordError(shard.path, index, offset, f"cannot read: {e}") from e
    if len(buf) < framed:
        raise CorruptRecordError(shard.path, index, offset, f"truncated: {len(buf)} of {framed} bytes remain")
    return unframe(buf, shard.path, index, offset)


def _read_upto(stream, n: int) -> bytes:
    """Up to n bytes, read in pieces: memory follows what the stream holds, not what an index claims."""
    parts = []
    while n > 0:
        got = stream.read(min(n, _SKIP_CHUNK_BYTES))
        if not got:
            break
        parts.append(got)
        n -= len(got)
    return b"".join(parts)


def _skip(stream, n: int) -> None:
    while n > 0:
        got = stream.read(min(n, _SKIP_CHUNK_BYTES))
        if not got:
            raise EOFError(f"stream ends {n} bytes before the record")
        n -= len(got)
