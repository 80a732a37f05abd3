"""Conversion: source -> splits -> seeded order -> shards (+ .idx) -> dataset.json, written last."""
from __future__ import annotations

import errno
import os
import re
import shutil
import sys
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import plan
from .._parallel import process_pool
from .._version import __version__
from ..errors import ConversionInterrupted, SourceError, TfrecError
from ..codec.example import encode_examples_bulk
from ..io import fs
from ..io.journal import Journal, fingerprint
from ..io.manifest import FORMAT_VERSION, MANIFEST, write_manifest
from ..io.records import (
    FOOTER_BYTES, FRAMING_BYTES, HEADER_BYTES, ShardWriter, frame_record, frame_rows_inplace,
    normalize_compression,
)
from ..codec.schema import Schema, load_schema
from ..sources import FITS, FORMATS, LABEL_MODES, SourceData, SourceOptions, SplitData, read_source
from .tfds import remove_tfds_metadata, tfds_summary, write_tfds_metadata

# Records per bulk-encoding step: bounds memory to a few MB per step; larger chunks gained < 5%.
BULK_CHUNK_RECORDS = 8192
# Records per task sent to a worker process: large enough to amortise pickling, small enough
# that a 2-worker pool stays balanced on a 3,000-image folder.
ITEM_CHUNK_RECORDS = 32
RUNNERS = ("local", "beam")


@dataclass(frozen=True)
class ConvertOptions:
    """Everything `tfrec convert` takes besides SRC and OUT; checks itself."""

    format: str = "auto"
    name: str | None = None
    shards: int | None = None
    shard_size: int | None = None
    compression: str = "none"
    split: tuple[tuple[str, float], ...] | None = None
    shuffle: bool = True
    seed: int = 0
    workers: int = 0  # 0: automatic (see num_workers)
    overwrite: bool = False
    resume: bool = False
    resize: tuple[int, int] | None = None
    fit: str = "crop"  # how resize keeps the aspect ratio: 'crop' (centre), 'stretch' or 'pad' (FITS)
    encode: str | None = None
    quality: int = 95
    on_error: str = "skip"
    follow_symlinks: bool = False
    exif_transpose: bool = True
    max_pixels: int = SourceOptions.max_pixels
    schema: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    tfds_metadata: bool = True  # also write dataset_info.json and features.json for tfds.builder_from_directory
    subset: str | None = None  # which IDX set, when the folder holds several (EMNIST)
    labels: str = "inferred"  # image folders: 'inferred' from class folders, or 'none' (Keras' labels=None)
    progress: bool = True
    runner: str = "local"  # 'local' (a process pool) or 'beam' (an Apache Beam pipeline: write/beam.py)
    beam_options: tuple[str, ...] = ()  # Beam pipeline flags, e.g. ('--runner=DataflowRunner', ...)

    def __post_init__(self):
        if self.runner not in RUNNERS:
            raise TfrecError(f"unknown runner {self.runner!r}; supported: {', '.join(RUNNERS)}")
        if self.name is not None:
            plan.check_dataset_name(self.name, "--name")
        if self.fit not in FITS:
            raise TfrecError(f"unknown fit {self.fit!r}; supported: {', '.join(FITS)}")
        if self.labels not in LABEL_MODES:
            raise TfrecError(f"unknown labels {self.labels!r}; supported: {', '.join(LABEL_MODES)}")
        if self.format not in ("auto",) + FORMATS:
            raise TfrecError(f"unknown format {self.format!r}; supported: auto, {', '.join(FORMATS)}")
        if self.shards is not None and self.shards < 1:
            raise TfrecError(f"--shards must be at least 1, not {self.shards}")
        if self.shards is not None and self.shard_size is not None:
            raise TfrecError("give --shards or --shard-size, not both")
        if self.resume and self.overwrite:
            raise TfrecError("give --resume or --overwrite, not both")
        if self.workers < 0:
            raise TfrecError(f"--workers must be 0 (all cores) or more, not {self.workers}")
        normalize_compression(self.compression)
        SourceOptions(resize=self.resize, fit=self.fit, encode=self.encode, quality=self.quality, on_error=self.on_error)

    @property
    def num_workers(self) -> int:
        """Processes for per-record work: --workers, else one per core when re-encoding, else 1.

        Pass-through only reads files and checks headers: one process kept up with the disk in
        benchmarks/convert.py, and a pool's pickling and pipes made it about 1.5x slower.
        """
        if self.workers:
            return self.workers
        return (os.cpu_count() or 1) if (self.resize or self.encode) else 1


def _clear(out: str, keep: set[str]) -> None:
    """Removes tfrec's files from OUT (dataset.json first), except the shards named in `keep`."""
    fs.remove(fs.join(out, MANIFEST))  # first, so the directory never looks complete while it is cleared
    for name in fs.listdir(out):
        base = name[:-4] if name.endswith(".idx") else name
        if (".tfrecord-" in name or (name.startswith(".") and ".tmp-" in name)) and base not in keep:
            fs.remove(fs.join(out, name))
    remove_tfds_metadata(out)


# tfrec's own shard files, complete (`NAME-SPLIT.tfrecord-00000-of-00004`, its `.idx`) or still under the
# writer's temporary name (`.NAME-SPLIT.tfrecord-00000-of-00004.tmp-PID`, `.idx` too; io/fs.py temp_name)
_SHARD_FILE = re.compile(r"[^/]+\.tfrecord-\d{5,}-of-\d{5,}(\.idx)?")
_SHARD_TEMP = re.compile(r"\.[^/]+\.tfrecord-\d{5,}-of-\d{5,}\.tmp-\d+(\.idx)?")


def interrupted_conversion(out: str, journal: Journal) -> str | None:
    """What marks OUT as a conversion that did not finish (no dataset.json, and a journal or tfrec's shard
    files, complete or temporary): e.g. "3 complete shard file(s) and a conversion journal"; None for anything else.

    A kill can land between a shard's rename and its journal line, or before the first line: the
    shard files alone still say that this is tfrec's unfinished work, for --resume to finish.
    """
    if fs.exists(fs.join(out, MANIFEST)):
        return None
    names = fs.listdir(out)
    shards = sum(1 for n in names if _SHARD_FILE.fullmatch(n) and not n.endswith(".idx"))
    temps = sum(1 for n in names if _SHARD_TEMP.fullmatch(n) and not n.endswith(".idx"))
    found = [f"{shards} complete shard file(s)"] if shards else []
    found += [f"{temps} unfinished shard file(s)"] if temps else []
    found += ["a conversion journal"] if journal.exists() else []
    if not found and any(_SHARD_FILE.fullmatch(n) or _SHARD_TEMP.fullmatch(n) for n in names):
        found = ["shard index files"]  # a lone .idx: the index is renamed before its shard
    return " and ".join(found) or None


def prepare_output(out: str, options: "ConvertOptions", journal: Journal, keep: set[str]) -> None:
    """Creates OUT, or clears it for --overwrite, or keeps the reusable shards for --resume.

    Raises:
        TfrecError: OUT is not empty (or holds an interrupted conversion) and neither flag is given,
            or it cannot be created.
    """
    try:
        if fs.isdir(out) and fs.listdir(out):
            if options.overwrite:
                _clear(out, set())
                journal.remove()
            elif options.resume:
                _clear(out, keep)
            elif found := interrupted_conversion(out, journal):
                raise TfrecError(
                    f"{out}: holds an interrupted conversion ({found}, no dataset.json); pass --resume to finish it "
                    "or --overwrite to start again"
                )
            else:
                raise TfrecError(f"{out}: output directory is not empty; pass --overwrite to replace it")
        elif fs.isfile(out):
            raise TfrecError(f"{out}: exists and is not a directory")
        fs.makedirs(out)
        probe = fs.join(out, f".tfrec-write-test-{os.getpid()}")
        fs.open(probe, "wb").close()
        fs.remove(probe)
    except OSError as e:
        raise TfrecError(f"{out}: cannot write the output directory: {e.strerror}") from e


def resolve_splits(source: SourceData, spec: dict[str, float] | None, seed: int) -> dict[str, SplitData]:
    """Applies --split: re-splits the source's train split (or its only one), keeping the others."""
    splits = dict(source.splits)
    if not spec:
        return splits
    base_name = "train" if "train" in splits else next(iter(splits))
    base = splits.pop(base_name)
    clash = set(spec) & set(splits)
    if clash:
        raise TfrecError(f"--split names {sorted(clash)} clash with the source's own splits {sorted(source.splits)}")
    for name, idx in plan.stratified_split(base.labels, spec, seed).items():
        if not len(idx):  # an empty split would be an empty shard, and a split nothing can read or validate on
            raise TfrecError(
                f"--split: split {name!r} gets no records ({spec[name]:g} of {counted(len(base), 'record')}, "
                "rounded per class); give it a larger fraction"
            )
        splits[name] = base.take(idx, name)
    return splits


def _estimate_bytes(split: SplitData, schema: Schema, options: ConvertOptions) -> int:
    image = schema.image
    if split.arrays is not None:
        per = sum(a[0].nbytes if a.ndim > 1 else 8 for a in split.arrays.values()) + 64
        return per * len(split)
    if options.resize and image is not None:
        w, h = options.resize
        per = w * h * 3 // (8 if (options.encode or "jpeg") == "jpeg" else 2)
        return (per + 128) * len(split)
    return split.source_bytes + 128 * len(split)


def _iter_bulk(split: SplitData, schema: Schema, idx: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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
    """Worker task: turns items into framed records; bad items become skip entries; counts the image formats."""
    framed, lengths, skipped, formats = [], [], [], {}
    for item in items:
        record, reason, fmt = make_record(item)
        if record is None:
            skipped.append({"path": item[1], "reason": reason})
            continue
        framed.append(frame_record(record))
        lengths.append(len(record) + FRAMING_BYTES)
        formats[fmt] = formats.get(fmt, 0) + 1
    return b"".join(framed), lengths, skipped, formats


def _ordered_map(fn: Callable, tasks: Iterator, workers: int) -> Iterator:
    """Maps fn over tasks in processes, yielding results in task order with a bounded window."""
    if workers <= 1:
        yield from (fn(*t) for t in tasks)
        return
    with process_pool(workers) as pool:
        pending: deque = deque()
        for t in tasks:
            pending.append(pool.apply_async(fn, t))
            if len(pending) >= 4 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


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


@dataclass(frozen=True)
class ShardUnit:
    """One shard as a unit of work: where it goes and its records, in write order (for Beam workers)."""

    split: str
    spec: plan.ShardSpec
    path: str
    compression: str
    schema: Schema
    data: SplitData  # this shard's records only
    make_record: Callable | None = None


def shard_units(out: str, source: SourceData, plans: dict[str, "SplitPlan"], options: ConvertOptions,
                skip: set[str] = frozenset()) -> list[ShardUnit]:
    """The shards still to write, each carrying its slice of the plan's record order."""
    return [
        ShardUnit(name, s, fs.join(out, s.file), options.compression, source.schema,
                  p.split.take(p.order[s.start : s.stop]), source.make_record)
        for name, p in plans.items() for s in p.shards if s.file not in skip
    ]


def iter_unit_chunks(unit: ShardUnit) -> Iterator[tuple[Any, np.ndarray, list[dict], dict[str, int]]]:
    """(framed, lengths, skipped items, image formats) per chunk of a unit, encoded in this process."""
    data = unit.data
    if data.arrays is not None:
        for framed, lengths in _iter_bulk(data, unit.schema, np.arange(len(data))):
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


def split_entry(infos: list[dict]) -> dict[str, Any]:
    """A split's dataset.json entry from its shards' entries, in shard order."""
    return {"records": sum(i["records"] for i in infos), "bytes": sum(i["bytes"] for i in infos), "shards": infos}


@dataclass(frozen=True)
class SplitPlan:
    """A split ready to write: its data, the record order and the shard layout."""

    split: SplitData
    order: np.ndarray
    shards: tuple[plan.ShardSpec, ...]
    requested: int | None = None  # --shards, when it asked for more shards than the split has records


def plan_splits(source: SourceData, splits: dict[str, SplitData], name: str, options: ConvertOptions) -> dict[str, SplitPlan]:
    """Orders each split's records (seeded) and cuts them into shards; pure, nothing written.

    Never more shards than records (a shard with none would be an empty file): --shards above a
    split's record count is cut to it, and the plan keeps what was asked (see conversion_notes).
    """
    plans = {}
    for split_name, split in splits.items():
        order = plan.record_order(len(split), options.shuffle, options.seed, split_name)
        n = options.shards or plan.choose_num_shards(
            _estimate_bytes(split, source.schema, options), len(split), options.shard_size
        )
        capped = min(n, max(len(split), 1))
        requested = options.shards if capped < n else None
        plans[split_name] = SplitPlan(split, order, plan.plan_shards(name, split_name, len(split), capped), requested)
    return plans


def counted(n: int, noun: str) -> str:
    """'1 file', '2 files', '1,024 records': a count with its noun in the right number."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def conversion_notes(plans: dict[str, SplitPlan], written: dict[str, dict], source_notes: Sequence[str] = ()) -> list[str]:
    """What the result says besides its counts: the source's notes (e.g. an unlabelled image folder),
    --shards cut to a split's records, and shards that came out empty because every file planned for
    them was skipped as bad."""
    notes = list(source_notes)
    notes += [
        f"--shards {p.requested}: split {name!r} has {counted(len(p.split), 'record')}, "
        f"so {counted(len(p.shards), 'shard')} (one record each)"
        for name, p in plans.items() if p.requested
    ]
    notes += [
        f"shard {s['file']} holds no records: every file planned for it was skipped"
        for name, entry in written.items() for s, spec in zip(entry["shards"], plans[name].shards if name in plans else ())
        if s["records"] == 0 and spec.records > 0
    ]
    return notes


def _content_hash(split: SplitData) -> str:
    if split.content_id:
        return split.content_id
    if split.items is not None:
        return fingerprint([(it[1], it[2], it[3]) for it in split.items])
    crc = 0
    for key in sorted(split.arrays):
        crc = zlib.crc32(np.ascontiguousarray(split.arrays[key]), crc)
    return f"{crc:08x}"


def run_fingerprint(source: SourceData, plans: dict[str, SplitPlan], options: ConvertOptions) -> str:
    """What decides the output bytes: source content, schema, options and plan (not workers)."""
    opts = {k: getattr(options, k) for k in (
        "format", "name", "compression", "shuffle", "seed", "resize", "encode", "quality", "on_error",
        "follow_symlinks", "exif_transpose", "max_pixels", "image_column", "label_column",
    )}
    if options.resize:  # only with --resize does --fit change a byte (and older journals keep their fingerprint)
        opts["fit"] = options.fit
    splits = {
        k: {"content": _content_hash(p.split), "shards": [(s.file, s.start, s.stop) for s in p.shards]}
        for k, p in plans.items()
    }
    return fingerprint([__version__, source.kind, source.schema.to_json(), opts, splits])


def _counted(chunks: Iterable[tuple], bar) -> Iterator[tuple]:
    for framed, lengths in chunks:
        yield framed, lengths
        bar.update(len(lengths))


class _NoBar:
    """Stands in for a disabled tqdm bar."""

    def __init__(self, *args, **kwargs):
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class _Run:
    """Per-conversion state: options, journal, progress bar, skipped files, and the shards written."""

    def __init__(self, out: str, source: SourceData, options: ConvertOptions, journal: Journal, reuse: dict):
        self.out, self.source, self.options = out, source, options
        self.journal, self.reuse = journal, reuse
        self.skipped: list[dict] = list(source.skipped)
        self.shard_skipped: list[dict] = []
        self.shard_formats: dict[str, int] = {}  # image formats stored in the shard being written
        self.written = 0
        if options.progress:
            from tqdm import tqdm

            self.tqdm = tqdm
        else:  # --quiet/--json: no bar, and no tqdm import (~20 ms of the command's start-up)
            self.tqdm = _NoBar
        self._check_fail()

    def _check_fail(self) -> None:
        if self.options.on_error == "fail" and self.skipped:
            first = self.skipped[0]
            raise SourceError(f"{first['path']}: {first['reason']} (--on-error fail; no dataset.json written)")

    def write_split(self, name: str, p: SplitPlan) -> dict[str, Any]:
        bar = self.tqdm(total=len(p.split), unit="rec", desc=name, disable=not self.options.progress, file=sys.stderr)
        try:
            infos = list(self._write_shards(name, p, bar))
        finally:
            bar.close()
        return split_entry(infos)

    def _write_shards(self, name: str, p: SplitPlan, bar) -> Iterator[dict]:
        todo = [s for s in p.shards if s.file not in self.reuse]
        if p.split.arrays is not None:
            blocks = ((s, _iter_bulk(p.split, self.source.schema, p.order[s.start : s.stop])) for s in todo)
        else:
            blocks = self._item_blocks(p, todo, bar)
        blocks = iter(blocks)
        for spec in p.shards:
            if spec.file in self.reuse:
                entry = self.reuse[spec.file]
                self.skipped.extend(entry["skipped"])
                bar.update(spec.records)
                yield entry["shard"]
                continue
            _, chunks = next(blocks)
            self.shard_skipped, self.shard_formats = [], {}
            info = write_shard(fs.join(self.out, spec.file), self.options.compression, _counted(chunks, bar))
            if p.split.items is not None:  # image sources: which formats the shard holds
                info["formats"] = dict(sorted(self.shard_formats.items()))
            self.journal.record(name, info, self.shard_skipped)
            self.written += 1
            yield info

    def _item_blocks(self, p: SplitPlan, todo, bar):  # chunks of a shard are encoded across processes
        items, order = p.split.items, p.order
        tasks = (
            (self.source.make_record, [items[i] for i in order[lo : min(lo + ITEM_CHUNK_RECORDS, s.stop)]])
            for s in todo
            for lo in range(s.start, s.stop, ITEM_CHUNK_RECORDS)
        )
        results = _ordered_map(encode_chunk, tasks, self.options.num_workers)

        def chunks(spec):
            for _ in range(spec.start, spec.stop, ITEM_CHUNK_RECORDS):
                framed, lengths, skipped, formats = next(results)
                self.skipped.extend(skipped)
                self.shard_skipped.extend(skipped)
                for fmt, count in formats.items():
                    self.shard_formats[fmt] = self.shard_formats.get(fmt, 0) + count
                self._check_fail()
                bar.update(len(skipped))
                yield framed, lengths

        for spec in todo:
            yield spec, chunks(spec)


@dataclass(frozen=True)
class Prepared:
    """A conversion planned and its OUT made ready: what both runners start from."""

    out: str
    source: SourceData
    name: str
    plans: dict[str, SplitPlan]
    journal: Journal
    reuse: dict  # shard file -> journal entry, for --resume
    done: dict | None = None  # --resume of a conversion that already finished: its result
    shown: tuple[str, str] = ("", "")  # (local copy, URL) of a remote SRC: dataset.json names the URL

    def publish(self, options: ConvertOptions, written: dict, skipped: list) -> tuple[dict, dict | None]:
        """Writes the TFDS metadata, then dataset.json (last), then drops the journal; both runners end here."""
        manifest = _manifest(self.name, self.source, options, written, skipped)
        manifest = fs.remap(manifest, *self.shown) if self.shown[0] else manifest
        tfds = _write_tfds(self.out, manifest) if options.tfds_metadata else None
        write_manifest(self.out, manifest)
        self.journal.remove()
        return manifest, tfds


def read_options_source(src: str | Sequence[str], options: ConvertOptions) -> SourceData:
    """The source, read with the options that concern it (close it when done)."""
    user_schema = load_schema(options.schema) if options.schema else None
    return read_source(src, options.format, SourceOptions(
        resize=options.resize, fit=options.fit, encode=options.encode, quality=options.quality, on_error=options.on_error,
        follow_symlinks=options.follow_symlinks, exif_transpose=options.exif_transpose,
        max_pixels=options.max_pixels, schema=user_schema, subset=options.subset, image_column=options.image_column,
        label_column=options.label_column, labels=options.labels,
    ))


def default_name(source: SourceData) -> str:
    """The dataset's name without --name: the source's own (an image folder's name, in TFDS snake_case:
    'My Photos' -> 'my_photos'), else its format's ('mnist', 'cifar10')."""
    return plan.dataset_name(source.name, source.kind) if source.name else source.kind


def prepare(source: SourceData, out: str, options: ConvertOptions, per_shard_journal: bool = False,
            shown: tuple[str, str] = ("", "")) -> Prepared:
    """Plans every split (once, from the seed) and prepares OUT; nothing is written yet."""
    splits = resolve_splits(source, dict(options.split) if options.split else None, options.seed)
    name = options.name or default_name(source)
    plans = plan_splits(source, splits, name, options)
    journal = Journal(out, run_fingerprint(source, plans, options), per_shard_journal)
    if options.resume and fs.exists(fs.join(out, MANIFEST)):
        from ..io.manifest import read_manifest

        manifest = read_manifest(out)
        done = {**manifest, "out": out, "seconds": 0.0, "reused_shards": "all (already complete)",
                "notes": conversion_notes(plans, manifest["splits"], source.notes)}
        return Prepared(out, source, name, plans, journal, {}, done, shown)
    reuse = journal.reusable(out) if options.resume and fs.isdir(out) else {}
    prepare_output(out, options, journal, set(reuse))
    return Prepared(out, source, name, plans, journal, reuse, None, shown)


def convert(src: str | Sequence[str], out: str, options: ConvertOptions | None = None) -> dict[str, Any]:
    """Converts a source dataset into sharded TFRecords with .idx files, TFDS metadata and dataset.json.

    Args:
        src: an MNIST IDX folder, a CIFAR-10/100 binary folder or .tar.gz, an image folder, Parquet
            file(s) or a folder of them, or a Keras-layout .npz archive; or a URL of one (gs://,
            s3://, any fsspec protocol), copied to a local temporary folder first.
        out: the output directory (created; must be empty unless options.overwrite or .resume); or a
            URL, where shards are published complete (io/fs.py) and dataset.json last.
        options: see ConvertOptions; options.runner='beam' runs the shards as an Apache Beam pipeline.

    Returns:
        The manifest written to OUT/dataset.json, plus `out`, `seconds`, `reused_shards` and `notes`
        (e.g. --shards cut to a split's record count; see conversion_notes).

    Raises:
        SourceError: the source is malformed (or, with on_error='fail', one image is bad).
        ConversionInterrupted: Ctrl-C/SIGTERM; complete shards are kept for options.resume.
        TfrecError: bad options, an unusable output directory, a failed write.
    """
    options = options or ConvertOptions()
    if not (isinstance(src, str) and fs.is_url(src)):
        return _convert(src, out, options)
    staged = fs.download(src)  # sources read local files; a remote SRC is copied here first
    try:
        return _convert(staged, out, options, (staged, src.rstrip("/")))
    finally:
        shutil.rmtree(os.path.dirname(staged), ignore_errors=True)


def _convert(src: str | Sequence[str], out: str, options: ConvertOptions, shown: tuple[str, str] = ("", "")) -> dict:
    start = time.perf_counter()
    source = read_options_source(src, options)
    try:
        if options.runner == "beam":
            from .beam import convert_on_beam

            return convert_on_beam(source, out, options, shown)
        return _convert_source(source, out, options, start, shown)
    finally:
        source.close()


def _convert_source(source: SourceData, out: str, options: ConvertOptions, start: float,
                    shown: tuple[str, str] = ("", "")) -> dict[str, Any]:
    prep = prepare(source, out, options, shown=shown)
    if prep.done is not None:
        return prep.done
    run = _Run(out, source, options, prep.journal, prep.reuse)
    try:
        written = {split_name: run.write_split(split_name, p) for split_name, p in prep.plans.items()}
    except KeyboardInterrupt:
        kept = len(prep.reuse) + run.written
        raise ConversionInterrupted(
            f"interrupted: {kept} complete shard(s) kept in {out} (no dataset.json yet); "
            "run the same command with --resume to finish"
        ) from None
    manifest, tfds = prep.publish(options, written, run.skipped)
    result = {**manifest, "out": out, "seconds": round(time.perf_counter() - start, 3), "reused_shards": len(prep.reuse),
              "notes": conversion_notes(prep.plans, written, source.notes)}
    return {**result, "tfds": tfds} if tfds is not None else result


def _write_tfds(out: str, manifest: dict) -> dict:
    """TFDS metadata for a new dataset, or why there is none (compressed shards): never fails the conversion."""
    summary = tfds_summary(manifest)
    return summary if "skipped" in summary else write_tfds_metadata(out, manifest)


def stored_schema(schema: Schema, written: dict) -> Schema:
    """The schema dataset.json records: an `encoded` image feature becomes `jpeg` when every image
    stored is a JPEG (the common image folder), so readers need no per-image format check."""
    image = schema.image
    if image is None or image.encoding != "encoded":
        return schema
    shards = [s for entry in written.values() for s in entry["shards"]]
    formats = {f for s in shards for f in s.get("formats", {"unknown": 1})}
    return schema.with_image(encoding="jpeg") if shards and formats == {"jpeg"} else schema


def _manifest(name: str, source: SourceData, options: ConvertOptions, written: dict, skipped: list) -> dict:
    """dataset.json's content; the same for both runners but for `runner`."""
    label = source.schema.label
    return {
        "name": name,
        "format_version": FORMAT_VERSION,
        "tfrec_version": __version__,
        "runner": options.runner,
        # image folders: 'inferred' (from class folders) or 'none' (unlabelled: the schema has no class label)
        "source": {"format": source.kind, "description": source.description,
                   **({"labels": source.labels} if source.labels else {})},
        "schema": stored_schema(source.schema, written).to_json(),
        "label_names": list(label.names) if label is not None and label.names else None,
        "compression": normalize_compression(options.compression),
        "seed": options.seed,
        "shuffled": options.shuffle,
        "splits": written,
        "skipped": skipped,
        "warnings": list(source.warnings),
        "resize": {"width": options.resize[0], "height": options.resize[1], "fit": options.fit} if options.resize else None,
        "ignored_files": source.ignored,  # how many files were passed over as no image
        "ignored": list(source.ignored_names),  # which: the first MAX_LISTED_IGNORED of them
    }
