"""What a read covers: the shard files, their compression, the schema and the mean record size."""
from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

from ..errors import TfrecError
from ..io import fs
from ..io.dataset import Dataset, is_dataset, open_dataset
from ..io.files import NOT_RECORDS
from ..io.manifest import MANIFEST, MISSING_SHARD
from ..io.records import FRAMING_BYTES, detect_compression
from ..io.index import check_index, read_index
from ..io.salvage import ReadStats, iter_intact_records
from ..codec.schema import Schema, load_schema, schema_from_json


# URL schemes TensorFlow's own file system reads (gs:// is in TensorFlow core); others go through a local cache.
TF_NATIVE = ("gs",)


@dataclass(frozen=True)
class Source:
    """What to read: shard files, their compression, the schema, and record sizes for buffer sizing."""

    files: tuple[str, ...]
    compression: str
    schema: Schema
    records: int | None  # in all files, when dataset.json says
    record_bytes: float  # mean serialized size in the uncompressed stream, framing included
    stored_bytes: float  # mean bytes on disk per record (foreign compressed files: uncompressed)
    expected: Mapping[str, dict] = field(default_factory=dict)  # dataset.json's entry per file: records, checksum


def _schema_arg(schema: str | dict | Schema) -> Schema:
    if isinstance(schema, Schema):
        return schema
    return schema_from_json(schema) if isinstance(schema, dict) else load_schema(str(schema))


def _list_files(path: str | Sequence[str]) -> list[str]:
    if not isinstance(path, (str, os.PathLike)):
        return [str(p) for p in path]
    path = str(path)
    if os.path.isdir(path):
        found = [os.path.join(path, f) for f in sorted(os.listdir(path))]
        return [f for f in found if os.path.isfile(f) and _is_record_file(f)]
    if glob.has_magic(path):  # `data/train-*` also matches each shard's .idx: only the record files are read
        return [f for f in sorted(glob.glob(path)) if _is_record_file(f)]
    return [path]


def _is_record_file(path: str) -> bool:
    """Not an index, dataset.json, a label map or another known non-record file, nor a writer's temporary file."""
    return not path.endswith(NOT_RECORDS) and ".tmp-" not in path


def _mean_record_bytes(path: str, compression: str) -> float:
    """Mean framed record size of a shard: from its .idx index, else from its first 256 records."""
    lengths = None
    if os.path.exists(path + ".idx"):
        try:  # a line that cannot be a record (a lying index) is not trusted: the records are walked instead
            size = os.path.getsize(path) if compression == "none" else None
            lengths = check_index(read_index(path + ".idx"), path + ".idx", size)[:, 1]
        except TfrecError:
            pass
    if lengths is None:  # damaged records are for the reader to report, not this estimate
        records = iter_intact_records(path, compression, ReadStats())
        lengths = [len(r) + FRAMING_BYTES for _, r in zip(range(256), records)]
    return float(np.mean(lengths)) if len(lengths) else 1.0


def present_files(dataset: Dataset, split: str, stats: ReadStats | None) -> list[str]:
    """The split's shard files that are there: a missing one fails in one line, or, given `stats`
    (skip_corrupt), is left out and counted there once with the records dataset.json lists for it.

    Raises:
        TfrecError: no such split; a shard is missing (without stats), or every shard of the split is.
    """
    present = []
    for shard in dataset.split(split):
        if shard.present:
            present.append(shard.path)
        elif stats is None:
            raise TfrecError(f"{shard.path}: {MISSING_SHARD} (pass skip_corrupt=True to read the other shards)")
        else:
            stats.skip(shard.path, 0, 0, MISSING_SHARD, shard.records or 0)
    if not present:
        raise TfrecError(f"{dataset.root}: every shard of split {split!r} is {MISSING_SHARD}")
    return present


def readable(dataset: Dataset) -> Dataset:
    """The dataset, or, at a URL TensorFlow's file system does not read (s3://, memory://: TensorFlow 2.x
    core no longer reads them), the same dataset copied to the local cache (fs.cached_copy) and opened there."""
    if fs.is_url(dataset.root) and fs.protocol(dataset.root) not in TF_NATIVE:
        return open_dataset(fs.cached_copy(dataset.root))
    return dataset


Readable = Union[Dataset, str, Sequence[str]]


def resolve_source(path: Readable, split: str = "train", schema: str | dict | Schema | None = None,
                   stats: ReadStats | None = None) -> Source:
    """Finds the files, compression and schema: from the dataset (dataset.json), or from `schema` for foreign TFRecords.

    Args:
        path: a dataset (tfrec.open_dataset's, or its directory or URL); or foreign TFRecords: a file,
            a glob, a directory, a list.
        split: the split of a tfrec dataset (ignored for foreign files).
        schema: a schema JSON path, built-in name, JSON object or Schema; overrides dataset.json's.
        stats: where skip_corrupt counts what it skips: a shard missing from a tfrec dataset is
            then left out and counted (see present_files) instead of failing.

    Raises:
        TfrecError: no dataset.json and no schema, no such split, no files, a missing shard.
    """
    if isinstance(path, str) and fs.is_url(path) and fs.protocol(path) not in TF_NATIVE:
        path = fs.cached_copy(path)  # e.g. s3://: TensorFlow 2.x core no longer reads it
    if is_dataset(path):
        return dataset_source(readable(open_dataset(path)), split, schema, stats)
    files = _list_files(path)
    missing = [f for f in files if not os.path.isfile(f)]
    if not files or missing:
        raise TfrecError(f"{path}: no TFRecord files found" + (f" ({missing[0]} does not exist)" if missing else ""))
    if schema is None:
        raise TfrecError(f"{path}: no {MANIFEST}; foreign TFRecords need a schema (schema= or --schema: "
                         "a schema JSON file)")
    compression = detect_compression(files[0])
    mean = _mean_record_bytes(files[0], compression)
    return Source(tuple(files), compression, _schema_arg(schema), None, mean, mean)


def dataset_source(dataset: Dataset, split: str, schema: str | dict | Schema | None = None,
                   stats: ReadStats | None = None) -> Source:
    """What a read of one split of an opened dataset covers (see resolve_source); reads no dataset.json."""
    files = present_files(dataset, split, stats)
    info = dataset.split_info(split)
    use = _schema_arg(schema) if schema is not None else schema_from_json(dataset.schema, dataset.manifest_path)
    compression = dataset.compression
    records, size = dataset.records(split), info.get("bytes")
    stored = size / max(records, 1) if records is not None and isinstance(size, (int, float)) else None
    mean = stored if compression == "none" and stored is not None else _mean_record_bytes(files[0], compression)
    expected = {s.path: s.entry for s in dataset.split(split) if s.present}
    return Source(tuple(files), compression, use, records, mean, stored if stored is not None else mean, expected)


def _present_shards(directory: str, manifest: dict, split: str, stats: ReadStats | None) -> list[str]:
    return present_files(Dataset.of(directory, manifest), split, stats)


def __getattr__(name: str):
    if name == "present_shards":  # merged into the dataset handle; importable from here for one release
        warnings.warn("tfrec.read.inputs.present_shards moved to tfrec.read.inputs.present_files, which takes a "
                      "dataset (tfrec.open_dataset(path))", DeprecationWarning, stacklevel=2)
        return _present_shards
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def shard_files(files: Sequence[str], num_shards: int, shard_index: int) -> list[str]:
    """Worker `shard_index` of `num_shards` reads every num_shards-th file: disjoint, and together complete.

    Raises:
        TfrecError: fewer files than workers (re-convert with more shards).
    """
    if num_shards > len(files):
        raise TfrecError(f"{num_shards} workers but {len(files)} shard files: each worker reads whole files; "
                         f"convert with --shards {num_shards} or more")
    return list(files[shard_index::num_shards])
