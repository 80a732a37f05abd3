"""`--runner beam`: conversion (and verification) as an Apache Beam pipeline, one shard per work unit.

The plan is computed once, in the launching process, exactly as for the local runner
(write/convert.py `prepare`: source listing, splits, seeded record order, shard layout). Each
shard still to write becomes one element of a `beam.Create`, carrying its slice of the ordered
records; a worker encodes and writes it with the local runner's own functions
(`convert.write_unit` -> `encode_chunk`/`_iter_bulk` -> `write_shard` -> `ShardWriter`), records
it in the journal (one small file per shard, so workers never share a file), and returns its
dataset.json entry. The pipeline's final step gathers those entries in plan order and writes
dataset.json: in the pipeline rather than in the launcher, so that a detached run on a remote
runner (Dataflow) still finishes the dataset when the launcher is gone, and never before every
shard is published. The output is byte-identical to `--runner local` for the same source and seed
(dataset.json differs only in its `runner` field).

Locally the DirectRunner runs in multi-processing mode with 2 worker processes (`--workers N`
for N); `--beam-option runner=DataflowRunner` (and project, region, temp_location, ...) runs the
same pipeline on Dataflow, Flink or Spark. Workers reach OUT through io/fs.py, so OUT must be a
path every worker sees: a shared disk, or gs://, s3://. memory:// lives in one process: it works
with `direct_running_mode=in_memory` only.
"""
from __future__ import annotations

import logging
import pickle
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from ..errors import ConversionInterrupted, TfrecError
from ..io import fs
from ..io.journal import Journal
from ..io.manifest import read_manifest
from ..sources import SourceData
from .convert import (
    ConvertOptions, Prepared, ShardUnit, conversion_notes, prepare, shard_units, split_entry, write_unit,
)
from .tfds import tfds_summary

# The local default: the DirectRunner with worker processes, as a remote runner would run the units.
DIRECT_WORKERS = 2


def import_beam():
    """apache_beam, or a one-line error naming the extra that installs it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # Beam's import warns on the root logger about GCP clients it may not need
    try:
        import apache_beam
    except ImportError as e:
        raise TfrecError(f"--runner beam needs Apache Beam: pip install 'tfrec[beam]' ({e})") from None
    finally:
        root.setLevel(level)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # worker chatter; failures still raise
    return apache_beam


def beam_flags(options: Sequence[str], workers: int = 0) -> list[str]:
    """Beam's command-line flags from KEY=VALUE pairs (or ready flags), with the local defaults first.

    Raises:
        TfrecError: an option that is not KEY=VALUE or --flag.
    """
    flags = []
    for opt in options:
        if opt.startswith("--"):
            flags.append(opt)
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", opt, re.S):
            flags.append(f"--{opt}")
        else:
            raise TfrecError(f"--beam-option {opt!r}: expected KEY=VALUE, e.g. runner=DataflowRunner")
    given = {f[2:].partition("=")[0] for f in flags}
    defaults = []
    if "runner" not in given:
        defaults.append("--runner=DirectRunner")
    if "direct_running_mode" not in given:
        defaults.append("--direct_running_mode=multi_processing")
    if "direct_num_workers" not in given:
        defaults.append(f"--direct_num_workers={workers or DIRECT_WORKERS}")
    if "default_sdk_harness_log_level" not in given:
        defaults.append("--default_sdk_harness_log_level=ERROR")
    return defaults + flags


def _pipeline(flags: Sequence[str]):
    beam = import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    return beam, beam.Pipeline(options=PipelineOptions(list(flags)))


def _worker_error(e: Exception) -> TfrecError:
    """One line from a failed pipeline: the tfrec error a worker raised, when there is one."""
    text = str(e)
    found = re.findall(r"(?:tfrec\.errors\.)?(?:TfrecError|SourceError|SchemaError|CorruptRecordError): (.+)", text)
    reason = found[-1].strip() if found else (text.strip().splitlines() or [type(e).__name__])[-1]
    return TfrecError(f"the Beam pipeline failed: {reason}")


@dataclass(frozen=True)
class _WriteShard:
    """The per-shard step: write the unit, then journal it (callable, so Beam can pickle it)."""

    journal: Journal

    def __call__(self, unit: ShardUnit) -> tuple[str, dict, list[dict]]:
        split, info, skipped = write_unit(unit)
        self.journal.record(split, info, skipped)
        return split, info, skipped


@dataclass(frozen=True)
class _Finish:
    """The final step: every shard entry in plan order -> dataset.json (written last), journal removed."""

    prep: Prepared  # its source without its records
    options: ConvertOptions
    order: tuple[tuple[str, str], ...]  # (split, shard file) in plan order

    def __call__(self, results: list) -> str:
        done = {info["file"]: (split, info, skipped) for split, info, skipped in results}
        done.update({f: (e["split"], e["shard"], e["skipped"]) for f, e in self.prep.reuse.items()})
        missing = [f for _, f in self.order if f not in done]
        if missing:
            raise TfrecError(f"{self.prep.out}: {len(missing)} shard(s) were not written, e.g. {missing[0]}; no dataset.json")
        written: dict[str, list] = {}
        skipped = list(self.prep.source.skipped)
        for split, file in self.order:
            written.setdefault(split, []).append(done[file][1])
            skipped.extend(done[file][2])
        if self.options.on_error == "fail" and skipped:
            from ..errors import SourceError

            raise SourceError(f"{skipped[0]['path']}: {skipped[0]['reason']} (--on-error fail; no dataset.json written)")
        entries = {split: split_entry(infos) for split, infos in written.items()}
        self.prep.publish(self.options, entries, skipped)
        return self.prep.out


def convert_on_beam(source: SourceData, out: str, options: ConvertOptions,
                    shown: tuple[str, str] = ("", "")) -> dict[str, Any]:
    """Runs `convert` on a source read by the caller as a Beam pipeline (see the module docstring).

    Returns:
        What `convert` returns: the manifest, `out`, `seconds`, `reused_shards`, `notes` (and `tfds`).

    Raises:
        TfrecError: Beam is not installed, bad --beam-option, or the pipeline failed (the worker's error).
        ConversionInterrupted: Ctrl-C; complete shards are journalled for --resume.
    """
    import_beam()
    start = time.perf_counter()
    prep = prepare(source, out, options, per_shard_journal=True, shown=shown)
    if prep.done is not None:
        return prep.done
    units = shard_units(out, prep.source, prep.plans, options, set(prep.reuse))
    order = tuple((name, s.file) for name, p in prep.plans.items() for s in p.shards)
    light = replace(prep, plans={}, source=replace(prep.source, splits={}, make_record=None))
    finish = _Finish(light, options, order)
    flags = beam_flags(options.beam_options, options.workers)
    beam, pipeline = _pipeline(flags)
    try:
        with pipeline as p:
            (p
             | "Shards" >> beam.Create(units, reshuffle=False)
             | "Reshuffle" >> beam.Reshuffle()  # spread the shards over the workers
             | "WriteShard" >> beam.Map(_WriteShard(prep.journal))
             | "Gather" >> beam.combiners.ToList()
             | "WriteManifest" >> beam.Map(finish))
    except KeyboardInterrupt:
        raise ConversionInterrupted(
            f"interrupted: complete shards are journalled in {out} (no dataset.json yet); "
            "run the same command with --resume to finish"
        ) from None
    except TfrecError:
        raise
    except Exception as e:  # Beam wraps a worker's exception in its own
        raise _worker_error(e) from e
    manifest = read_manifest(out)
    result = {**manifest, "out": out, "seconds": round(time.perf_counter() - start, 3), "reused_shards": len(prep.reuse),
              "notes": conversion_notes(prep.plans, manifest["splits"], source.notes)}
    return {**result, "tfds": tfds_summary(manifest)} if options.tfds_metadata else result


@dataclass(frozen=True)
class _Store:
    """Runs fn on one (index, task) and stores the pickled result where the launcher collects it."""

    fn: Callable
    results: str

    def __call__(self, item: tuple[int, Any]) -> int:
        i, task = item
        fs.write_atomic(fs.join(self.results, f"{i:08d}.pkl"), pickle.dumps(self.fn(task)))
        return i


def map_on_beam(fn: Callable, tasks: Sequence, options: Sequence[str] = (), workers: int = 0) -> list:
    """fn over tasks as Beam work units (one task each); results in task order.

    Results travel back through files: a local temporary folder on the DirectRunner, or under
    the `temp_location` Beam option (a URL every worker can write) on a remote runner. They are
    this run's own results, written moments before by its own workers, so pickle is safe here.

    Raises:
        TfrecError: Beam is not installed, bad options, or the pipeline failed.
    """
    flags = beam_flags(options, workers)
    given = dict(f[2:].partition("=")[::2] for f in flags)
    temp = given.get("temp_location")
    results = fs.join(temp, f"tfrec-{uuid.uuid4().hex}") if temp else tempfile.mkdtemp(prefix="tfrec-beam-")
    beam, pipeline = _pipeline(flags)
    try:
        with pipeline as p:
            (p | "Tasks" >> beam.Create(list(enumerate(tasks)), reshuffle=False)
               | "Reshuffle" >> beam.Reshuffle()
               | "Run" >> beam.Map(_Store(fn, results)))
        return [pickle.loads(fs.read_bytes(fs.join(results, f"{i:08d}.pkl"))) for i in range(len(tasks))]
    except TfrecError:
        raise
    except Exception as e:
        raise _worker_error(e) from e
    finally:
        if fs.is_url(results):
            for name in fs.listdir(results):
                fs.remove(fs.join(results, name))
        else:
            shutil.rmtree(results, ignore_errors=True)
