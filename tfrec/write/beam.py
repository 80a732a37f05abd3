"""`--runner beam`: conversion as an Apache Beam pipeline, one shard per work unit (glue: write/beam_glue.py).

The plan is computed once, in the launching process, exactly as for the local runner
(write/job.py `prepare`: source listing, splits, seeded record order, shard layout). Each
shard still to write becomes one element of a `beam.Create`, carrying its slice of the ordered
records; a worker encodes and writes it with the local runner's own functions
(write/shards.py `write_unit` -> `encode_chunk`/`iter_bulk` -> `write_shard` -> `ShardWriter`), records
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

import time
from dataclasses import dataclass, replace
from typing import Any

from . import beam_glue, job, shards
from ._moved import moved_attribute
from ..errors import ConversionInterrupted, SourceError, TfrecError
from ..io.manifest import read_manifest
from ..sources import SourceData
from .options import ConvertOptions
from .tfds import tfds_summary

# The Beam glue that verify shares moved to write/beam_glue.py (issue 25): importable from here for one
# release, with a DeprecationWarning.
_MOVED = dict.fromkeys(("DIRECT_WORKERS", "beam_flags", "import_beam", "map_on_beam"), "tfrec.write.beam_glue")


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


@dataclass(frozen=True)
class _Finish:
    """The final step: every shard entry in plan order -> dataset.json (written last), journal removed."""

    prep: job.Prepared  # its source without its records
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
        files = shards.file_skips(skipped)  # not the annotation events (clipped boxes, ...)
        if self.options.source.on_error == "fail" and files:
            raise SourceError(f"{files[0]['path']}: {files[0]['reason']} (--on-error fail; no dataset.json written)")
        entries = {split: shards.split_entry(infos) for split, infos in written.items()}
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
    beam_glue.import_beam()
    start = time.perf_counter()
    prep = job.prepare(source, out, options, per_shard_journal=True, shown=shown)
    if prep.done is not None:
        return prep.done
    units = job.shard_units(out, prep.source, prep.plans, options, set(prep.reuse))
    order = tuple((name, s.file) for name, p in prep.plans.items() for s in p.shards)
    light = replace(prep, plans={}, source=replace(prep.source, splits={}, make_record=None))
    finish = _Finish(light, options, order)
    flags = beam_glue.beam_flags(options.beam_options, options.workers)
    beam, pipeline = beam_glue.make_pipeline(flags)
    try:
        with pipeline as p:
            (p
             | "Shards" >> beam.Create(units, reshuffle=False)
             | "Reshuffle" >> beam.Reshuffle()  # spread the shards over the workers
             | "WriteShard" >> beam.Map(shards.WriteAndJournal(prep.journal))
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
        raise beam_glue.worker_error(e) from e
    manifest = read_manifest(out)
    result = {**manifest, "out": out, "seconds": round(time.perf_counter() - start, 3), "reused_shards": len(prep.reuse),
              "notes": job.conversion_notes(prep.plans, manifest["splits"], source.notes)}
    return {**result, "tfds": tfds_summary(manifest)} if options.tfds_metadata else result
