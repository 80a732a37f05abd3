"""Conversion: source -> splits -> seeded order -> shards (+ .idx) -> dataset.json, written last.

`convert` reads the source, then runs the conversion job (write/job.py) here, as a process pool over
the shard machinery (write/shards.py), or hands it to the Beam runner (write/beam.py), which uses the
same job and machinery and never this module.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections import deque
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import job, shards
from ._moved import moved_attribute
from .._parallel import process_pool
from ..errors import ConversionInterrupted, SourceError
from ..io import fs
from ..io.journal import Journal
from ..sources import SourceData
from .options import ConvertOptions  # defined in write/options.py; tfrec.write.convert stays its public home

# Names that moved out of this module when the shard machinery and the job got their own (issue 25):
# still importable from here for one release, with a DeprecationWarning.
_MOVED = {
    **dict.fromkeys(("BULK_CHUNK_RECORDS", "ITEM_CHUNK_RECORDS", "ShardUnit", "encode_chunk", "iter_unit_chunks",
                     "split_entry", "write_shard", "write_unit"), "tfrec.write.shards"),
    **dict.fromkeys(("Prepared", "SplitPlan", "conversion_notes", "counted", "default_name", "plan_splits", "prepare",
                     "read_options_source", "resolve_splits", "run_fingerprint", "shard_units", "stored_schema"),
                    "tfrec.write.job"),
    **dict.fromkeys(("interrupted_conversion", "prepare_output"), "tfrec.write.output"),
    "RUNNERS": "tfrec.write.options",
}


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


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
    source = job.read_options_source(src, options)
    try:
        if options.runner == "beam":
            from .beam import convert_on_beam  # here: Beam's runner is loaded only when asked (it never imports this)

            return convert_on_beam(source, out, options, shown)
        return _convert_source(source, out, options, start, shown)
    finally:
        source.close()


def _convert_source(source: SourceData, out: str, options: ConvertOptions, start: float,
                    shown: tuple[str, str] = ("", "")) -> dict[str, Any]:
    prep = job.prepare(source, out, options, shown=shown)
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
              "notes": job.conversion_notes(prep.plans, written, source.notes)}
    return {**result, "tfds": tfds} if tfds is not None else result


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
        files = shards.file_skips(self.skipped)
        if self.options.source.on_error == "fail" and files:
            first = files[0]
            raise SourceError(f"{first['path']}: {first['reason']} (--on-error fail; no dataset.json written)")

    def write_split(self, name: str, p: job.SplitPlan) -> dict[str, Any]:
        bar = self.tqdm(total=len(p.split), unit="rec", desc=name, disable=not self.options.progress, file=sys.stderr)
        try:
            infos = list(self._write_shards(name, p, bar))
        finally:
            bar.close()
        return shards.split_entry(infos)

    def _write_shards(self, name: str, p: job.SplitPlan, bar) -> Iterator[dict]:
        todo = [s for s in p.shards if s.file not in self.reuse]
        if p.split.arrays is not None:
            blocks = ((s, shards.iter_bulk(p.split, self.source.schema, p.order[s.start : s.stop])) for s in todo)
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
            info = shards.write_shard(fs.join(self.out, spec.file), self.options.compression, _counted(chunks, bar))
            if p.split.items is not None:  # image sources: which formats the shard holds
                info["formats"] = dict(sorted(self.shard_formats.items()))
            self.journal.record(name, info, self.shard_skipped)
            self.written += 1
            yield info

    def _item_blocks(self, p: job.SplitPlan, todo, bar):  # chunks of a shard are encoded across processes
        items, order = p.split.items, p.order
        tasks = (
            (self.source.make_record, [items[i] for i in order[lo : min(lo + shards.ITEM_CHUNK_RECORDS, s.stop)]])
            for s in todo
            for lo in range(s.start, s.stop, shards.ITEM_CHUNK_RECORDS)
        )
        results = _ordered_map(shards.encode_chunk, tasks, self.options.num_workers)

        def chunks(spec):
            for _ in range(spec.start, spec.stop, shards.ITEM_CHUNK_RECORDS):
                framed, lengths, skipped, formats = next(results)
                self.skipped.extend(skipped)
                self.shard_skipped.extend(skipped)
                for fmt, count in formats.items():
                    self.shard_formats[fmt] = self.shard_formats.get(fmt, 0) + count
                self._check_fail()
                bar.update(len(shards.file_skips(skipped)))
                yield framed, lengths

        for spec in todo:
            yield spec, chunks(spec)
