"""Verification: framing, Example parsing, image decoding and dataset.json agreement, shard by shard in parallel.

Levels, each including the ones before it:
- framing: every record's length CRC and data CRC, truncation, trailing bytes (`tfrec.io.scan`);
- parse: every record is a tf.train.Example; with a schema, its keys, kinds and value counts match
  (and a raw image holds H*W*C bytes);
- decode: every encoded image decodes with the reader's TensorFlow decoders to the declared size and format, labels lie in
  [0, num_classes), text is UTF-8.
For a tfrec dataset directory the dataset level is checked too: every shard listed in dataset.json
exists and none is extra, record counts and byte sizes agree, checksums agree (unless turned off),
and each .idx file agrees with its shard. A foreign file's .idx is compared when there is one.
"""
from __future__ import annotations

import io
import os
import re
import time
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._parallel import POOL_PAYS_SECONDS, map_shards  # noqa: F401  POOL_PAYS_SECONDS: its old place
from ..errors import TfrecError
from ..codec.images import MAX_PIXELS, PIL_FORMATS, image_format, truncation_reason
from ..codec.example import ExampleDecodeError, decode_example
from .template import Template, build_template
from .detection import LABEL_MAP, detection_problems, is_detection, label_map_beside, read_label_map
from ..io.dataset import Dataset, open_dataset, shard_entries
from ..io.manifest import MANIFEST, MISSING_SHARD
from ..io.records import HEADER_BYTES, normalize_compression
from ..io.crc import CHECKSUMS
from ..io import fs
from ..io.files import find_inputs, tfrecord_files
from ..io.index import read_index
from ..io.scan import Problem, ScanResult, scan_file
from ..codec.schema import FeatureSpec, Schema, load_schema, schema_from_json

LEVELS = ("framing", "parse", "decode")
# Below this many bytes in all, shards are checked in this process. A pool of worker processes
# costs 15-70 ms to start and stop on a 2-core machine (benchmarks/verify.py), and framing checks
# run at 4-7 GB/s in one process, so parallel framing pays only for large datasets; decoding images
# pays from 1 MB on. Parsing runs near framing speed when the records match a template and ~100x
# slower when they must be decoded one by one, so it decides as it goes (None: see POOL_PAYS_SECONDS).
PARALLEL_MIN_BYTES = {"framing": 512 << 20, "parse": None, "decode": 1 << 20}
# With PARALLEL_MIN_BYTES None, shards are checked in this process (largest first) until their pace
# says the rest would take longer than POOL_PAYS_SECONDS (tfrec._parallel.map_shards); the rest then go
# to worker processes.


@dataclass(frozen=True)
class VerifyOptions:
    """What to check and how; checks itself."""

    level: str = "parse"
    dataset: bool = True  # the dataset level: agreement with dataset.json and the .idx files
    checksums: bool = True  # part of the dataset level: whole-file checksums (a CRC32C pass over the bytes on disk)
    schema: str | None = None  # for foreign files: a schema name or file to check records against
    compression: str | None = None  # None/'auto': dataset.json's, or detected per file
    max_errors: int = 100
    workers: int = 0  # 0: one per core when the data is large enough
    progress: bool = True
    runner: str = "local"  # 'beam': each shard is a Beam work unit (write/beam.py map_on_beam)
    beam_options: tuple[str, ...] = ()

    def __post_init__(self):
        if self.runner not in ("local", "beam"):
            raise TfrecError(f"unknown runner {self.runner!r}; supported: local, beam")
        if self.level not in LEVELS:
            raise TfrecError(f"unknown level {self.level!r}; expected one of {', '.join(LEVELS)}")
        if self.max_errors < 1:
            raise TfrecError(f"--max-errors must be at least 1, not {self.max_errors}")
        if self.workers < 0:
            raise TfrecError(f"--workers must be 0 (automatic) or more, not {self.workers}")
        if self.compression not in (None, "auto"):
            normalize_compression(self.compression)


@dataclass(frozen=True)
class ShardTask:
    """One file to verify, with what dataset.json says about it: handed to a worker process."""

    path: str
    compression: str | None
    level: str
    schema: Schema | None
    max_problems: int
    expected: dict | None = None  # the dataset.json shard entry: records, bytes, checksum
    checksum: str | None = None  # the checksum kind to compute ('crc32', 'crc32c') or None
    index_required: bool = False  # tfrec datasets always have one
    dataset: bool = True  # compare with the .idx file (and `expected`)
    labels: tuple[tuple[int, str], ...] | None = None  # label_map.pbtxt beside the data (detection records)


@dataclass(frozen=True)
class ShardReport:
    """What verifying one file found."""

    file: str
    compression: str
    records: int
    bytes: int
    checksum: str | None
    problems: tuple[Problem, ...]
    seconds: float
    stopped: bool = False  # the check stopped at max_errors before the end of the file
    detection_records: int = 0  # records with the Object Detection API's keys (their invariants checked)

    def to_json(self) -> dict:
        return {"file": self.file, "compression": self.compression, "records": self.records, "bytes": self.bytes,
                "checksum": self.checksum, "problems": len(self.problems), "stopped": self.stopped,
                "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of `verify`: ok, what was checked, and every problem found (up to max_errors)."""

    paths: tuple[str, ...]
    level: str
    shards: tuple[ShardReport, ...]
    problems: tuple[Problem, ...]
    problems_found: int  # before cutting the list at max_errors
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def truncated(self) -> bool:
        """More problems may exist: the list was cut, or a file's check stopped at max_errors."""
        return self.problems_found > len(self.problems) or any(s.stopped for s in self.shards)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.shards)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def to_json(self) -> dict:
        return {
            "ok": self.ok, "paths": list(self.paths), "level": self.level, "files": len(self.shards),
            "records": self.records, "bytes": self.bytes, "seconds": round(self.seconds, 4),
            "problems_found": self.problems_found, "truncated": self.truncated,
            "problems": [p.to_json() for p in self.problems], "shards": [s.to_json() for s in self.shards],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """The human report: one line of totals, then each problem with file, record and byte offset."""
        files = f"{len(self.shards)} file{'s' if len(self.shards) != 1 else ''}"
        head = (f"verified {', '.join(self.paths)} (level {self.level}): {files}, "
                f"{self.records:,} records, {self.bytes / 1e6:,.1f} MB in {self.seconds:.2f} s")
        lines = [head] + [f"  note: {n}" for n in self.notes]
        if self.ok:
            return "\n".join(lines + ["  OK: no problems found"])
        lines.append(f"  {self.problems_found} problem{'s' if self.problems_found != 1 else ''} found:")
        lines += [f"    {p}" for p in self.problems]
        if self.truncated:
            lines.append(f"    ... stopped at --max-errors {len(self.problems)}; there may be more")
        return "\n".join(lines)


# ---------------------------------------------------------------- record checks (parse, decode)


# Layouts learned per shard at the parse level: a dataset has one or a few (several with optional
# features); records that match none are decoded one by one.
MAX_TEMPLATES = 8


class RecordChecker:
    """Parses each record (and decodes its images at the decode level), collecting problems.

    At the parse level, `batch` checks many records at once against the layouts of clean records
    seen before (`tfrec.check.template`) and decodes one by one only those that match none.
    """

    def __init__(self, path: str, schema: Schema | None, level: str, max_problems: int,
                 labels: dict[int, str] | None = None):
        self.path, self.schema, self.level, self.max_problems = path, schema, level, max_problems
        self.labels = labels  # a detection dataset's label map
        self.detection_records = 0
        self.problems: list[Problem] = []
        self.templates: list[Template] = []
        self.raw_sizes = {f.name: int(np.prod(f.shape)) for f in (schema.features if schema else ())
                          if f.kind == "image" and f.encoding == "raw"}

    def __call__(self, index: int, offset: int, data: bytes) -> None:
        if len(self.problems) >= self.max_problems:
            return
        try:
            example = decode_example(data)
        except ExampleDecodeError as e:
            self.problems.append(Problem(self.path, index, offset, "parse", f"not a tf.train.Example: {e}"))
            return
        reasons = [("parse", r) for r in check_example(example, self.schema)] if self.schema else []
        detection = is_detection(example)  # its values matter: never a template (which checks structure only)
        if detection:
            self.detection_records += 1
            reasons += [("detection", r) for r in detection_problems(example, self.labels, self.level == "decode")]
        if self.level == "decode" and not reasons:
            reasons = [("decode", r) for r in decode_checks(example, self.schema)]
        self.problems += [Problem(self.path, index, offset, check, r) for check, r in reasons]
        if not reasons and not detection and self.level == "parse" and len(self.templates) < MAX_TEMPLATES:
            template = build_template(data, self.raw_sizes)
            if template is not None:
                self.templates.append(template)

    def batch(self, index: int, base: int, buf: bytes, starts: np.ndarray, ends: np.ndarray, stride: int) -> None:
        """Checks records buf[starts[i]:ends[i]] (indices index + i; buf starts at stream offset `base`).

        `stride` is the distance between consecutive records when they all have one length, else 0.
        """
        view = np.frombuffer(buf, np.uint8)
        pending, tried = np.arange(len(starts)), 0
        while pending.size and len(self.problems) < self.max_problems:
            while tried < len(self.templates) and pending.size:
                pending = pending[~self._match(self.templates[tried], buf, view, starts, ends, stride, pending)]
                tried += 1
            if pending.size:  # matches no layout: decoded in full (a clean one adds its layout)
                i = int(pending[0])
                pending = pending[1:]
                self(index + i, base + int(starts[i]) - HEADER_BYTES, buf[starts[i] : ends[i]])

    @staticmethod
    def _match(t: Template, buf: bytes, view: np.ndarray, starts: np.ndarray, ends: np.ndarray, stride: int,
               rows: np.ndarray) -> np.ndarray:
        """Which of the records `rows` are built as template t."""
        at, to = starts[rows], ends[rows]
        size = len(t.data)
        ok = np.zeros(len(rows), bool)
        same = (to - at) == size
        if t.words is not None and same.all() and stride and len(rows) == len(starts):  # a run, in place
            ok = t.exact(buf, int(at[0]), stride, len(rows))
        elif t.words is not None and same.any():
            ok[same] = t.exact(view[at[same][:, None] + np.arange(size)], 0, size, int(same.sum()))
        if not ok.all():
            rest = ~ok
            ok[rest] = t.walk(view, at[rest], to[rest])
        return ok


def _count_ok(spec: FeatureSpec, n: int) -> bool:
    if spec.value_count is not None:
        return n == spec.value_count
    fixed = 1
    for d in spec.shape:
        fixed *= d or 1
    return n % fixed == 0


def check_example(example: dict[str, tuple[str, list]], schema: Schema) -> list[str]:
    """Why a decoded Example does not match the schema: missing or extra keys, kinds, counts, raw sizes."""
    reasons = []
    for spec in schema.features:
        if spec.name not in example:
            reasons.append(f"feature {spec.name!r} is missing")
            continue
        kind, values = example[spec.name]
        if values and kind != spec.storage:
            reasons.append(f"feature {spec.name!r} holds {kind} values; the schema says {spec.storage} ({spec.kind})")
        elif not _count_ok(spec, len(values)):
            expected = spec.value_count if spec.value_count is not None else f"a multiple of the fixed dims of {list(spec.shape)}"
            reasons.append(f"feature {spec.name!r} has {len(values)} values; the schema expects {expected}")
        elif spec.kind == "image" and spec.encoding == "raw":
            h, w, c = spec.shape
            if len(values[0]) != h * w * c:
                reasons.append(f"raw image {spec.name!r} is {len(values[0])} bytes; shape {list(spec.shape)} needs {h * w * c}")
    extra = sorted(set(example) - {f.name for f in schema.features})
    if extra:
        reasons.append(f"feature{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} not in the schema")
    return reasons


def decode_checks(example: dict[str, tuple[str, list]], schema: Schema | None) -> list[str]:
    """Why the values do not decode: bad images, labels out of range, text that is not UTF-8."""
    reasons = []
    specs = schema.features if schema else ()
    for spec in specs:
        values = example.get(spec.name, ("", []))[1]
        if spec.kind == "class_label" and spec.num_classes is not None:
            bad = [v for v in values if not 0 <= v < spec.num_classes]
            if bad:
                reasons.append(f"label {spec.name!r} = {bad[0]} is outside [0, {spec.num_classes})")
        elif spec.kind == "image" and spec.encoding != "raw":
            reasons += [f"image {spec.name!r}: {r}" for r in (check_image(v, spec, example) for v in values) if r]
        elif spec.kind == "text":
            for v in values:
                try:
                    bytes(v).decode("utf-8")
                except UnicodeDecodeError as e:
                    reasons.append(f"text {spec.name!r} is not UTF-8 (byte {e.start})")
    if schema is None:  # a foreign file: decode whatever looks like an image
        for name, (kind, values) in example.items():
            if kind == "bytes" and values and image_format(values[0]):
                reasons += [f"image {name!r}: {r}" for r in (check_image(v, None, {}) for v in values) if r]
    return reasons


def check_image(value: bytes, spec: FeatureSpec | None, example: dict) -> str:
    """Why an encoded image fails to decode to what the schema declares, or ''.

    It is decoded with the reader's own decoder (TensorFlow's, imported here, not at module level),
    so that verify cannot pass an image the reader rejects; Pillow reads only the header first, for
    the format and the pixel cap (a decompression bomb is never decoded).
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(value)) as img:
                fmt = PIL_FORMATS.get(img.format or "", (img.format or "unknown").lower())
                w, h = img.size
    except Exception as e:  # noqa: BLE001  Pillow raises many types on bad data; none may escape
        return f"does not decode ({type(e).__name__}: {e})"
    if w * h > MAX_PIXELS:
        return f"{w}x{h} = {w * h} pixels exceeds the cap of {MAX_PIXELS}"
    truncated = truncation_reason(value, fmt)
    if truncated:
        return truncated
    if spec is not None and spec.encoding in ("png", "jpeg") and fmt != spec.encoding:
        return f"is {fmt}; the schema says {spec.encoding}"
    try:
        h, w = tf_decoded_size(value, spec.shape[2] if spec is not None else 0)
    except ValueError as e:
        return f"TensorFlow cannot decode it ({e})"
    dims = spec.shape[:2] if spec is not None else (None, None)
    if (dims[0] and dims[0] != h) or (dims[1] and dims[1] != w):
        return f"decodes to {h}x{w} (HxW); the schema says {dims[0] or 'any'}x{dims[1] or 'any'}"
    for key, actual in (("height", h), ("width", w)):
        stored = example.get(key, ("", []))[1]
        if stored and stored[0] != actual:
            return f"decodes to {h}x{w} (HxW) but feature {key!r} says {stored[0]}"
    return ""


def tf_decoded_size(value: bytes, channels: int) -> tuple[int, int]:
    """(height, width) of an encoded image as the reader decodes it (tfrec.read.decode.decode_any).

    Raises:
        ValueError: TensorFlow rejects it; the message is TensorFlow's, without its op decorations.
    """
    from .._tfimport import import_tensorflow_quietly

    tf = import_tensorflow_quietly()  # in a worker process too: without TensorFlow's start-up banner
    from ..read.decode import decode_any

    try:
        shape = decode_any(tf.constant(value), channels).shape
    except (tf.errors.OpError, ValueError) as e:
        message = getattr(e, "message", str(e)).split("\n")[0]
        message = re.sub(r"^\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]$", "", message)
        raise ValueError(message) from None
    return int(shape[0]), int(shape[1])


# ---------------------------------------------------------------- one shard (runs in a worker)


def verify_shard(task: ShardTask) -> ShardReport:
    """Verifies one file: framing, parse/decode, and agreement with dataset.json and its .idx."""
    start = time.perf_counter()
    labels = dict(task.labels) if task.labels is not None else None
    checker = (RecordChecker(task.path, task.schema, task.level, task.max_problems, labels)
               if task.level != "framing" else None)
    bulk = checker.batch if checker is not None and task.level == "parse" else None
    scan = scan_file(task.path, task.compression, checker, task.max_problems, checksum=task.checksum, on_records=bulk)
    problems = list(scan.problems) + (checker.problems if checker else [])
    problems.sort(key=lambda p: (p.record if p.record is not None else -1, p.offset or 0))
    if task.expected is not None:
        problems += _against_manifest(scan, task.expected)
    if task.dataset:
        problems += _against_index(scan, task.index_required)
    stopped = not scan.complete or (checker is not None and len(checker.problems) >= task.max_problems)
    return ShardReport(task.path, scan.compression, scan.records, scan.file_bytes, scan.checksum,
                       tuple(problems), time.perf_counter() - start, stopped,
                       checker.detection_records if checker is not None else 0)


def _against_manifest(scan: ScanResult, expected: dict) -> list[Problem]:
    out, path = [], scan.path
    listed = expected.get("records")
    if scan.complete and isinstance(listed, int) and listed != scan.records:
        if scan.records > listed:
            out.append(Problem(path, listed, int(scan.offsets[listed]), "dataset",
                               f"dataset.json lists {listed} records; the shard holds {scan.records}"))
        else:
            out.append(Problem(path, scan.records, scan.stream_bytes, "dataset",
                               f"the shard ends after {scan.records} records; dataset.json lists {listed}"))
    size = expected.get("bytes")
    if isinstance(size, int) and size != scan.file_bytes:
        out.append(Problem(path, None, min(size, scan.file_bytes), "dataset",
                           f"the file is {scan.file_bytes} bytes; dataset.json says {size}"))
    stored = expected.get("checksum")
    if scan.checksum is not None and stored and stored != scan.checksum:
        out.append(Problem(path, None, None, "dataset", f"checksum {scan.checksum} differs from dataset.json's {stored}"))
    return out


def _against_index(scan: ScanResult, required: bool) -> list[Problem]:
    path = scan.path + ".idx"
    if not os.path.exists(path):
        return [Problem(path, None, None, "dataset", "index file missing")] if required else []
    if scan.problems or not scan.complete:
        return []  # the framing is already reported broken; comparing offsets would only repeat it
    try:
        index = read_index(path)
    except (TfrecError, OSError) as e:
        return [Problem(path, None, None, "dataset", str(e).removeprefix(f"{path}: "))]
    n = min(len(index), scan.records)
    bad = (index[:n, 0] != scan.offsets[:n]) | (index[:n, 1] != scan.lengths[:n])
    if bad.any():
        i = int(bad.argmax())
        return [Problem(path, i, int(scan.offsets[i]), "dataset",
                        f"line {i + 1} says '{index[i, 0]} {index[i, 1]}'; the record is at byte "
                        f"{scan.offsets[i]}, {scan.lengths[i]} bytes long")]
    if len(index) != scan.records:
        return [Problem(path, n, int(index[n, 0]) if len(index) > n else scan.stream_bytes, "dataset",
                        f"the index lists {len(index)} records; the shard holds {scan.records}")]
    return []


# ---------------------------------------------------------------- datasets and files


def _manifest_shards(manifest: dict, manifest_path: str) -> tuple[list[tuple[str, dict]], list[Problem]]:
    listed, problems = shard_entries(manifest, manifest_path)
    return [(split, entry) for split, _, entry in listed], problems


def __getattr__(name: str):
    if name == "manifest_shards":  # moved into the dataset handle; importable from here for one release
        warnings.warn("tfrec.check.verify.manifest_shards moved to tfrec.io.dataset: tfrec.open_dataset(path) lists "
                      "the shards (.shards) and the problems (.problems)", DeprecationWarning, stacklevel=2)
        return _manifest_shards
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _labels_beside(path: str, seen: dict, problems: list[Problem]) -> tuple[tuple[int, str], ...] | None:
    """The label_map.pbtxt beside a dataset directory or a file (read once per folder); a malformed one is a problem."""
    found = label_map_beside(path)
    if found is None:
        return None
    if found not in seen:
        try:
            seen[found] = tuple(sorted(read_label_map(found).items()))
        except TfrecError as e:
            seen[found] = None
            problems.append(Problem(found, None, None, "detection", str(e).removeprefix(f"{found}: ")))
    return seen[found]


def _dataset_tasks(dataset: Dataset | str, options: VerifyOptions,
                   seen: dict | None = None) -> tuple[list[ShardTask], list[Problem]]:
    """The shard tasks of a tfrec dataset, and the problems visible from dataset.json alone (the handle's)."""
    manifest_path = dataset.manifest_path if isinstance(dataset, Dataset) else os.path.join(dataset, MANIFEST)
    try:
        dataset = open_dataset(dataset)
        schema = schema_from_json(dataset.schema, manifest_path) if options.level != "framing" else None
        compression = options.compression or dataset.compression
    except TfrecError as e:
        return [], [Problem(manifest_path, None, None, "dataset", str(e).removeprefix(f"{manifest_path}: "))]
    problems = [p for p in dataset.problems
                if options.dataset or p.reason.startswith("malformed") or p.reason == MISSING_SHARD]
    labels = _labels_beside(dataset.root, {} if seen is None else seen, problems) if options.level != "framing" else None
    tasks = []
    for s in dataset.present():
        if not options.dataset:
            tasks.append(ShardTask(s.path, compression, options.level, schema, options.max_errors, dataset=False,
                                   labels=labels))
        else:
            kind = str(s.entry.get("checksum", "")).partition(":")[0]
            checksum = kind if options.checksums and kind in CHECKSUMS else None
            tasks.append(ShardTask(s.path, compression, options.level, schema, options.max_errors, dict(s.entry),
                                   checksum, True, labels=labels))
    if options.dataset:
        listed = {os.path.normpath(s.path) for s in dataset.shards}
        problems += [Problem(p, None, None, "dataset", "a shard file not listed in dataset.json")
                     for p in tfrecord_files(dataset.root) if os.path.normpath(p) not in listed]
    return tasks, problems


def verify(paths: Sequence[str | Dataset], options: VerifyOptions | None = None) -> VerifyReport:
    """Verifies tfrec dataset directories and/or TFRecord files (globs allowed), listing every problem.

    Args:
        paths: datasets (opened with tfrec.open_dataset, or their directories with dataset.json),
            directories of TFRecord files, files, or globs.
        options: see VerifyOptions.

    Returns:
        A VerifyReport; its `ok` is False when any problem was found. Problems are never raised.

    Raises:
        TfrecError: a path does not exist or matches no file; bad options; an unreadable --schema.
    """
    options = options or VerifyOptions()
    paths = [p.root if isinstance(p, Dataset) and fs.is_url(p.root) else p for p in paths]
    if any(fs.is_url(p) for p in paths if not isinstance(p, Dataset)):  # gs://, s3://, ...: on a fresh local copy
        return fs.on_local_copies(verify, paths, options)
    start = time.perf_counter()
    foreign_schema = load_schema(options.schema) if options.schema and options.level != "framing" else None
    tasks, problems, notes, seen = [], [], [], {}
    inputs = find_inputs(paths)
    for item in inputs:
        if item.dataset:
            t, p = _dataset_tasks(item.source, options, seen)
            tasks += t
            problems += p
        else:
            if item.note:
                notes.append(item.note)
            tasks += [ShardTask(f, options.compression, options.level, foreign_schema, options.max_errors,
                                dataset=options.dataset,
                                labels=_labels_beside(f, seen, problems) if options.level != "framing" else None)
                      for f in item.files]
    sizes = [os.path.getsize(t.path) for t in tasks]
    if options.runner == "beam":
        from ..write.beam_glue import map_on_beam

        reports = map_on_beam(verify_shard, tasks, options.beam_options, options.workers)
    else:
        reports = map_shards(verify_shard, tasks, sizes, options.workers, PARALLEL_MIN_BYTES[options.level],
                             options.progress, "verify")
    problems = [p for r in reports for p in r.problems] + problems
    if options.level != "framing" and not options.schema and any(not i.dataset for i in inputs):
        notes.append("foreign files were checked as tf.train.Examples without a schema (pass --schema to check keys)")
    detected = sum(r.detection_records for r in reports)
    if detected:
        against = f"in {LABEL_MAP}" if any(t.labels is not None for t in tasks) else f">= 1 (no {LABEL_MAP} beside the data)"
        notes.append(f"{detected:,} records use the Object Detection API's detection keys: boxes (0 <= min < max <= 1), "
                     f"per-object list lengths, class ids {against} and masks were checked")
    return VerifyReport(tuple(p.root if isinstance(p, Dataset) else str(p) for p in paths), options.level, tuple(reports),
                        tuple(problems[: options.max_errors]), len(problems), time.perf_counter() - start, tuple(notes))
