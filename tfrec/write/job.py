"""A conversion job: the plan computed once (splits, seeded record order, shards), OUT made ready, and
dataset.json written last. What both runners (write/convert.py local, write/beam.py Beam) start from and end with.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from . import plan
from .._version import __version__
from ..codec.schema import Schema, load_schema
from ..errors import TfrecError
from ..io import fs
from ..io.journal import Journal, fingerprint
from ..io.manifest import FORMAT_VERSION, MANIFEST, read_manifest, write_manifest
from ..io.records import normalize_compression
from ..sources import SourceData, SourceOptions, SplitData, read_source
from ..sources.objects import LABEL_MAP, label_map_text, summarise_events
from .options import ConvertOptions
from .output import prepare_output
from .shards import ShardUnit, file_skips
from .tfds import tfds_summary, write_tfds_metadata


def counted(n: int, noun: str) -> str:
    """'1 file', '2 files', '1,024 records': a count with its noun in the right number."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


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


@dataclass(frozen=True)
class SplitPlan:
    """A split ready to write: its data, the record order and the shard layout."""

    split: SplitData
    order: np.ndarray
    shards: tuple[plan.ShardSpec, ...]
    requested: int | None = None  # --shards, when it asked for more shards than the split has records


def _estimate_bytes(split: SplitData, schema: Schema, options: ConvertOptions) -> int:
    image = schema.image
    if split.arrays is not None:
        per = sum(a[0].nbytes if a.ndim > 1 else 8 for a in split.arrays.values()) + 64
        return per * len(split)
    resize, encode = options.source.resize, options.source.encode
    if resize and image is not None:
        w, h = resize
        per = w * h * 3 // (8 if (encode or "jpeg") == "jpeg" else 2)
        return (per + 128) * len(split)
    return split.source_bytes + 128 * len(split)


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
    """What decides the output bytes: source content, schema, options and plan (not workers).

    The options are those their fields mark (ConvertOptions.fingerprint_values). tests/write/test_options.py
    keeps golden values: a fingerprint that changed would stop --resume from reusing an interrupted run's shards.
    """
    opts = options.fingerprint_values()
    splits = {
        k: {"content": _content_hash(p.split), "shards": [(s.file, s.start, s.stop) for s in p.shards]}
        for k, p in plans.items()
    }
    return fingerprint([__version__, source.kind, source.schema.to_json(), opts, splits])


def read_options_source(src: str | Sequence[str], options: ConvertOptions) -> SourceData:
    """The source, read with the options that concern it (close it when done)."""
    source = replace(options.source, schema=load_schema(options.schema)) if options.schema else options.source
    return read_source(src, options.format, source)


def default_name(source: SourceData) -> str:
    """The dataset's name without --name: the source's own (an image folder's name, in TFDS snake_case:
    'My Photos' -> 'my_photos'), else its format's ('mnist', 'cifar10')."""
    return plan.dataset_name(source.name, source.kind) if source.name else source.kind


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
        if self.source.class_names:  # detection layouts: the Object Detection API's label map, before dataset.json
            _write_label_map(self.out, self.source.class_names)
        write_manifest(self.out, manifest)
        self.journal.remove()
        return manifest, tfds


def prepare(source: SourceData, out: str, options: ConvertOptions, per_shard_journal: bool = False,
            shown: tuple[str, str] = ("", "")) -> Prepared:
    """Plans every split (once, from the seed) and prepares OUT; nothing is written yet."""
    splits = resolve_splits(source, dict(options.split) if options.split else None, options.seed)
    name = options.name or default_name(source)
    plans = plan_splits(source, splits, name, options)
    journal = Journal(out, run_fingerprint(source, plans, options), per_shard_journal)
    if options.resume and fs.exists(fs.join(out, MANIFEST)):
        manifest = read_manifest(out)
        done = {**manifest, "out": out, "seconds": 0.0, "reused_shards": "all (already complete)",
                "notes": conversion_notes(plans, manifest["splits"], source.notes)}
        return Prepared(out, source, name, plans, journal, {}, done, shown)
    reuse = journal.reusable(out) if options.resume and fs.isdir(out) else {}
    prepare_output(out, options, journal, set(reuse))
    return Prepared(out, source, name, plans, journal, reuse, None, shown)


def shard_units(out: str, source: SourceData, plans: dict[str, SplitPlan], options: ConvertOptions,
                skip: set[str] = frozenset()) -> list[ShardUnit]:
    """The shards still to write, each carrying its slice of the plan's record order."""
    return [
        ShardUnit(name, s, fs.join(out, s.file), options.compression, source.schema,
                  p.split.take(p.order[s.start : s.stop]), source.make_record)
        for name, p in plans.items() for s in p.shards if s.file not in skip
    ]


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


def _write_label_map(out: str, names: Sequence[str]) -> None:
    try:
        fs.write_atomic(fs.join(out, LABEL_MAP), label_map_text(names).encode("utf-8"))
    except OSError as e:
        raise TfrecError(f"{out}: cannot write {LABEL_MAP}: {e.strerror}; no dataset.json written") from e


def _task_entries(source: SourceData, skipped: list) -> dict:
    """dataset.json's task, label map file and annotation report (detection layouts only)."""
    if not source.task:
        return {}
    events = [s for s in skipped if "event" in s]
    return {"task": source.task, "label_map": LABEL_MAP, "annotations": summarise_events(events)}


def _manifest(name: str, source: SourceData, options: ConvertOptions, written: dict, skipped: list) -> dict:
    """dataset.json's content; the same for both runners but for `runner`."""
    label = source.schema.label
    names = list(label.names) if label is not None and label.names else list(source.class_names) or None
    return {
        "name": name,
        "format_version": FORMAT_VERSION,
        "tfrec_version": __version__,
        "runner": options.runner,
        # image folders: 'inferred' (from class folders) or 'none' (unlabelled: the schema has no class label)
        "source": {"format": source.kind, "description": source.description,
                   **({"labels": source.labels} if source.labels else {})},
        "schema": stored_schema(source.schema, written).to_json(),
        **({"task": source.task} if source.task else {}),
        "label_names": names,
        "compression": normalize_compression(options.compression),
        "seed": options.seed,
        "shuffled": options.shuffle,
        "splits": written,
        "skipped": file_skips(skipped),
        "warnings": list(source.warnings),
        "resize": _resize_entry(options.source),
        "ignored_files": source.ignored,  # how many files were passed over as no image
        "ignored": list(source.ignored_names),  # which: the first MAX_LISTED_IGNORED of them
        **{k: v for k, v in _task_entries(source, skipped).items() if k != "task"},
    }


def _resize_entry(source: SourceOptions) -> dict | None:
    if not source.resize:
        return None
    return {"width": source.resize[0], "height": source.resize[1], "fit": source.fit}
