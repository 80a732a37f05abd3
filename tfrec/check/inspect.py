"""Inspection: what a tfrec dataset or any TFRecord files hold: schema, counts, labels, images, samples.

A tfrec dataset is described from dataset.json plus one pass over its records (label histogram,
image formats and sizes, bytes per record). Foreign files are counted from their .idx or a framing
scan, and their schema is inferred from sampled records (`tfrec.check.infer`). Either can be written out
as a contact sheet (`tfrec.check.grid`), a per-record Parquet catalog, and a schema file.
"""
from __future__ import annotations

import io
import json
import math
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import TfrecError
from ..codec.example import ExampleDecodeError, decode_example
from ..codec.images import as_text, image_format, image_header
from .infer import class_labels_beside, infer_schema, schema_name
from .detection import Objects, caption_of, draw_objects, is_detection, label_map_beside, objects_of, read_label_map
from ..io.dataset import Dataset, open_dataset
from ..io.records import detect_compression, normalize_compression
from ..io import fs
from ..io.files import find_inputs
from ..io.index import check_index, read_index
from ..io.scan import Problem, scan_file
from ..codec.schema import FeatureSpec, Schema, schema_from_json
from .._parallel import map_shards

# The stats pass decodes every record (~10 us each); below this many bytes it stays in-process.
PARALLEL_MIN_BYTES = 4 << 20
# Counting by framing scan runs at several GB/s; worker processes pay only for much more data.
COUNT_PARALLEL_MIN_BYTES = 512 << 20
SUMMARY_BYTES = 24  # binary values longer than this are summarised in samples
SUMMARY_TEXT = 60  # text longer than this is cut in samples
SUMMARY_VALUES = 8  # numeric lists longer than this are cut in samples
MAX_UNPARSED_LISTED = 100  # sampled records that are not Examples, listed (all are counted)
SKIPPED_SHOWN = 20  # skipped source files named in the human views; dataset.json lists all
CATALOG_COLUMNS = ("shard", "split", "index", "offset", "length", "label", "height", "width", "format", "image_bytes")


@dataclass(frozen=True)
class InspectOptions:
    """What to show and write besides the summary; checks itself."""

    samples: int = 0  # records to print
    sample_records: int = 1000  # records read to infer the schema of foreign files
    grid: str | None = None  # write a contact sheet PNG here
    grid_images: int = 36
    augment: str | None = None  # show the grid's images through this augmentation preset
    seed: int = 0  # for augment
    split: str = "train"  # the split augment draws from
    catalog: str | None = None  # write a per-record Parquet catalog here
    save_schema: str | None = None  # write the (inferred) schema here
    compression: str | None = None  # None/'auto': dataset.json's, or detected per file
    workers: int = 0
    progress: bool = True

    def __post_init__(self):
        for name in ("samples", "sample_records", "grid_images", "workers"):
            if getattr(self, name) < 0:
                raise TfrecError(f"--{name.replace('_', '-')} must be 0 or more, not {getattr(self, name)}")
        if self.sample_records < 1:
            raise TfrecError("--sample-records must be at least 1")
        if self.augment is not None and not self.grid:
            raise TfrecError("--augment shows augmented images on the contact sheet: give --grid FILE.png too")
        if self.compression not in (None, "auto"):
            normalize_compression(self.compression)


@dataclass(frozen=True)
class InspectReport:
    """One section per input (a dataset, or a group of foreign files), problems met, files written."""

    sections: tuple[dict, ...]
    problems: tuple[Problem, ...] = ()
    written: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"inputs": list(self.sections), "problems": [p.to_json() for p in self.problems],
                "written": self.written, "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        """The human report: tables, histograms, inferred schema, samples, files written."""
        lines: list[str] = []
        for section in self.sections:
            lines += _render_dataset(section) if section["kind"] == "dataset" else _render_files(section)
            lines += _render_samples(section.get("samples", []))
        for kind, what in self.written.items():
            lines.append(f"wrote {kind}: {what['path']}" + (f" ({what['detail']})" if what.get("detail") else ""))
        if self.problems:
            lines.append(f"{len(self.problems)} problem{'s' if len(self.problems) > 1 else ''} met while reading:")
            lines += [f"  {p}" for p in self.problems[:20]]
        return "\n".join(lines)


# ---------------------------------------------------------------- per-record facts


@dataclass(frozen=True)
class _Layout:
    """Which features carry the image and the labels, and how the image is stored."""

    image: FeatureSpec | None = None
    labels: tuple[str, ...] = ()  # features to histogram; the first is the catalog's `label`

    @classmethod
    def of(cls, schema: Schema | None) -> "_Layout":
        if schema is None:
            return cls()
        image = next((f for f in schema.features if f.kind == "image"), None)
        labels = [f.name for f in schema.features if f.kind == "class_label"]
        if not labels and "label" in schema and schema["label"].storage == "int64" and schema["label"].value_count == 1:
            labels = ["label"]
        return cls(image, tuple(sorted(labels, key=lambda n: n != "label")))


def image_facts(example: dict, spec: FeatureSpec | None) -> tuple[str, int | None, int | None, int | None, int]:
    """(format, height, width, channels, bytes) of a record's image; ('', None, ...) without one."""
    values = example.get(spec.name, ("", []))[1] if spec is not None else []
    if not values:
        return "", None, None, None, 0
    value = values[0]
    if spec.encoding == "raw":
        h, w, c = spec.shape
        return "raw", h, w, c, len(value)
    fmt = image_format(value) or "unknown"
    h = _scalar(example, "height")
    w = _scalar(example, "width")
    c = None
    if h is None or w is None:
        header = image_header(value)
        if header is not None:
            h, w, c = header
    return fmt, h, w, c, len(value)


def _scalar(example: dict, key: str):
    kind, values = example.get(key, ("", []))
    return values[0] if kind == "int64" and len(values) == 1 else None


def image_array(example: dict, spec: FeatureSpec) -> np.ndarray | None:
    """A record's image as a uint8 array HxWxC (raw bytes reshaped, or decoded with Pillow), or None."""
    from PIL import Image

    values = example.get(spec.name, ("", []))[1]
    if not values:
        return None
    if spec.encoding == "raw":
        h, w, c = spec.shape
        return np.frombuffer(values[0], np.uint8).reshape(h, w, c) if len(values[0]) == h * w * c else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(values[0])) as img:
                if img.width * img.height > (1 << 26):
                    return None
                return np.asarray(img.convert("L" if img.mode in ("1", "L", "I", "I;16", "F") else "RGB"))
    except Exception:  # noqa: BLE001  an undecodable image is shown as missing, not a crash
        return None


def describe_value(kind: str, values: list, names: Sequence[str] | None = None, spec: FeatureSpec | None = None) -> str:
    """One feature of one record, readable: numbers (cut after 8), text, or a summary of long bytes.

    `names` are class names for an int64 label, shown beside the value. `spec` is the feature's
    schema entry: a `text` feature stored as bytes is shown as text (`'a'`, or `['a', 'b']` when
    declared a list or holding other than one value), not as `bytes[...]`.
    """
    if spec is not None and spec.kind == "text" and kind == "bytes":
        return describe_text(values, scalar=not spec.shape)
    if kind != "bytes":
        shown = ", ".join(f"{v:.6g}" if kind == "float" else str(v) for v in values[:SUMMARY_VALUES])
        more = f", ... ({len(values)} values)" if len(values) > SUMMARY_VALUES else ""
        label = f" ({names[values[0]]})" if names and len(values) == 1 and 0 <= values[0] < len(names) else ""
        return f"{kind}[{shown}{more}]{label}"
    parts = []
    for v in values[:SUMMARY_VALUES]:
        fmt = image_format(v)
        text = as_text(v)
        if fmt:
            header = image_header(v)
            size = f" {'x'.join(map(str, header))} (HxWxC)" if header else ""
            parts.append(f"<{fmt}{size}, {len(v):,} bytes>")
        elif text is not None:
            parts.append(_quoted_text(v))
        elif len(v) <= SUMMARY_BYTES:
            parts.append(repr(bytes(v)))
        else:
            parts.append(f"<{len(v):,} bytes: {bytes(v[:12]).hex(' ')} ...>")
    more = f", ... ({len(values)} values)" if len(values) > SUMMARY_VALUES else ""
    return f"bytes[{', '.join(parts)}{more}]"


def describe_text(values: list, scalar: bool = True) -> str:
    """A text feature's values: `'a'` for a scalar's one value, else `['a', 'b', ...]` (cut after 8).

    Each value is quoted as Python does (so control characters show as escapes, never reach a
    terminal) and cut after 60 characters with its length; bytes that are not UTF-8 are shown as a
    `b'...'` literal saying so.
    """
    if scalar and len(values) == 1:
        return _quoted_text(values[0])
    more = f", ... ({len(values)} values)" if len(values) > SUMMARY_VALUES else ""
    return f"[{', '.join(_quoted_text(v) for v in values[:SUMMARY_VALUES])}{more}]"


def _quoted_text(value: bytes) -> str:
    raw = bytes(value)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        cut = "..." if len(raw) > SUMMARY_TEXT else ""
        return f"{raw[:SUMMARY_TEXT]!r}{cut} (not valid UTF-8, {len(raw):,} bytes)"
    return repr(text) if len(text) <= SUMMARY_TEXT else f"{text[:SUMMARY_TEXT]!r}... ({len(text):,} chars)"


# ---------------------------------------------------------------- the stats pass (runs in workers)


@dataclass(frozen=True)
class _StatsTask:
    path: str
    split: str | None
    compression: str | None
    layout: _Layout
    catalog: bool


def shard_stats(task: _StatsTask) -> dict:
    """Counts one shard's labels, image formats and sizes, record sizes; with catalog rows if asked."""
    labels = {name: Counter() for name in task.layout.labels}
    formats, sizes, bad = Counter(), Counter(), []
    rows: dict[str, list] = {c: [] for c in CATALOG_COLUMNS} if task.catalog else {}
    shard = os.path.basename(task.path)

    def on_record(index: int, offset: int, data: bytes) -> None:
        try:
            example = decode_example(data)
        except ExampleDecodeError as e:
            bad.append(Problem(task.path, index, offset, "parse", f"not a tf.train.Example: {e}"))
            return
        for name, counter in labels.items():
            counter[_scalar(example, name)] += 1
        fmt, h, w, c, nbytes = image_facts(example, task.layout.image)
        if fmt:
            formats[fmt] += 1
            sizes[f"{h}x{w}" + (f"x{c}" if c else "")] += 1
        if rows:
            label = _scalar(example, task.layout.labels[0]) if task.layout.labels else None
            for col, v in zip(CATALOG_COLUMNS, (shard, task.split, index, offset, len(data) + 16, label, h, w,
                                                 fmt or None, nbytes if fmt else None)):
                rows[col].append(v)

    scan = scan_file(task.path, task.compression, on_record, max_problems=100)
    lengths = scan.lengths - 16
    return {
        "path": task.path, "records": scan.records, "bytes": scan.file_bytes, "compression": scan.compression,
        "labels": labels, "formats": formats, "sizes": sizes, "rows": rows,
        "data_bytes": [int(lengths.min()), int(lengths.sum()), int(lengths.max())] if len(lengths) else [0, 0, 0],
        "problems": list(scan.problems) + bad[:100],
    }


def _merge(stats: list[dict]) -> dict:
    labels: dict[str, Counter] = {}
    formats, sizes = Counter(), Counter()
    lo, total, hi, records = math.inf, 0, 0, 0
    for s in stats:
        for name, counter in s["labels"].items():
            labels.setdefault(name, Counter()).update(counter)
        formats.update(s["formats"])
        sizes.update(s["sizes"])
        if s["records"]:
            lo, hi = min(lo, s["data_bytes"][0]), max(hi, s["data_bytes"][2])
        total += s["data_bytes"][1]
        records += s["records"]
    per_record = {"min": lo if records else 0, "mean": round(total / records, 1) if records else 0, "max": hi}
    return {"labels": labels, "formats": formats, "sizes": sizes, "bytes_per_record": per_record}


def _histograms(labels: dict[str, Counter], schema: Schema | None) -> dict:
    out = {}
    for name, counter in labels.items():
        spec = schema[name] if schema is not None and name in schema else None
        names = list(spec.names) if spec is not None and spec.names else None
        rows = []
        for value, count in sorted(counter.items(), key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else 0)):
            name_of = names[value] if names and isinstance(value, int) and 0 <= value < len(names) else None
            rows.append({"label": value, "name": name_of, "count": count})
        out[name] = {"num_classes": spec.num_classes if spec is not None else None, "counts": rows}
    return out


def _images(merged: dict, layout: _Layout) -> dict | None:
    if layout.image is None:
        return None
    spec = layout.image
    return {"feature": spec.name, "encoding": spec.encoding, "shape": list(spec.shape),
            "formats": dict(merged["formats"].most_common()),
            "sizes": [{"size": k, "count": v} for k, v in merged["sizes"].most_common(12)],
            "distinct_sizes": len(merged["sizes"])}


# ---------------------------------------------------------------- samples and pictures


def _first_records(files: Sequence[str], compression: str | None, n: int,
                   unparsed: list[Problem] | None = None) -> list[tuple[str, int, int, dict]]:
    """The first n records of the files, in order, decoded: (file, index, offset, example).

    Records that are not tf.train.Examples are passed over, and listed in `unparsed` when given.
    """
    out: list = []
    for path in files:
        if len(out) >= n:
            break
        got: list = []

        def keep(index, offset, data, path=path, got=got):
            try:
                got.append((path, index, offset, decode_example(data)))
            except ExampleDecodeError as e:
                if unparsed is not None:
                    unparsed.append(Problem(path, index, offset, "parse", f"not a tf.train.Example: {e}"))

        scan_file(path, compression, keep, limit=n - len(out))
        out += got
    return out


def _sample_json(records: list, k: int, schema: Schema | None = None) -> list[dict]:
    def spec(key: str) -> FeatureSpec | None:
        return schema[key] if schema is not None and key in schema else None

    def describe(key: str, kind: str, values: list) -> str:
        names = spec(key).names if spec(key) is not None and spec(key).kind == "class_label" else None
        return describe_value(kind, values, names, spec(key))

    return [{"file": f, "record": i, "offset": o,
             "features": {key: describe(key, kind, values) for key, (kind, values) in sorted(ex.items())}}
            for f, i, o, ex in records[:k]]


def _pictures(records: list, layout: _Layout, schema: Schema | None, n: int,
              boxes: dict[int, str] | None = None) -> list[tuple[np.ndarray, str]]:
    """Images and captions for the contact sheet; detection records with their boxes, masks and class names
    drawn on (`boxes`: the label map, id -> name, or None)."""
    if layout.image is None:
        return []
    label = layout.labels[0] if layout.labels else None
    names = schema[label].names if schema is not None and label and label in schema else None
    out = []
    for _, index, _, example in records[:n]:
        image = image_array(example, layout.image)
        if image is None:
            continue
        value = _scalar(example, label) if label else None
        caption = f"#{index}" if value is None else (names[value] if names and 0 <= value < len(names) else str(value))
        if is_detection(example):
            image, caption = _with_objects(image, example, boxes)
        out.append((image, caption))
    return out


def _with_objects(image: np.ndarray, example: dict, labels: dict[int, str] | None) -> tuple[np.ndarray, str]:
    from PIL import Image

    objects = objects_of(example)
    return np.asarray(draw_objects(Image.fromarray(image), objects, labels)), caption_of(objects, labels)


def _label_map_or_none(path: str) -> dict[int, str] | None:
    """The label map beside a dataset or file for drawing (a malformed one is verify's to report: none drawn)."""
    found = label_map_beside(path)
    try:
        return read_label_map(found) if found else None
    except TfrecError:
        return None


# ---------------------------------------------------------------- sections


def _dataset_section(dataset: Dataset | str, options: InspectOptions) -> tuple[dict, list, list, Schema, list]:
    """The section for a tfrec dataset, its problems, its first records, its schema and shard stats."""
    dataset = open_dataset(dataset)
    manifest = dataset.manifest
    schema = schema_from_json(dataset.schema, dataset.manifest_path)
    problems = list(dataset.problems)
    compression = options.compression or manifest.get("compression")
    layout = _Layout.of(schema)
    tasks = [_StatsTask(s.path, s.split, compression, layout, bool(options.catalog)) for s in dataset.present()]
    stats = map_shards(shard_stats, tasks, [os.path.getsize(t.path) for t in tasks], options.workers,
                       PARALLEL_MIN_BYTES, options.progress, "inspect")
    merged = _merge(stats)
    found = {s["path"]: s for s in stats}
    section = {
        "kind": "dataset", "path": dataset.root, "name": manifest.get("name"),
        "tfrec_version": manifest.get("tfrec_version"), "source": manifest.get("source"),
        "compression": manifest.get("compression"), "seed": manifest.get("seed"), "shuffled": manifest.get("shuffled"),
        "schema": manifest.get("schema"), "records": sum(s["records"] for s in stats),
        "splits": _splits_json(dataset, found),
        "labels": _histograms(merged["labels"], schema), "images": _images(merged, layout),
        "bytes_per_record": merged["bytes_per_record"], "skipped_files": len(manifest.get("skipped") or []),
        "skipped": _skipped_json(manifest.get("skipped")),
    }
    first_split = [t.path for t in tasks if t.split == tasks[0].split] if tasks else []
    records = _first_records(first_split, compression, max(options.samples, options.grid_images if options.grid else 0))
    section["samples"] = _sample_json(records, options.samples, schema)
    problems += [p for s in stats for p in s["problems"]]
    return section, problems, records, schema, stats


def _skipped_json(skipped: object) -> list[dict]:
    """dataset.json's skipped source files as {path, reason} (an entry of another shape is kept as text)."""
    if not isinstance(skipped, list):
        return []
    return [{"path": str(s.get("path", s.get("file", ""))), "reason": str(s.get("reason", ""))} if isinstance(s, dict)
            else {"path": str(s), "reason": ""} for s in skipped]


def _splits_json(dataset: Dataset, found: dict) -> dict:
    out: dict = {}
    for s in dataset.shards:
        got = found.get(s.path)
        out.setdefault(s.split, {"records": 0, "listed_records": dataset.split_info(s.split).get("records"), "bytes": 0,
                                 "shards": []})
        out[s.split]["shards"].append({"file": s.file, "records": got["records"] if got else None,
                                       "bytes": got["bytes"] if got else None, "listed_records": s.entry.get("records")})
        out[s.split]["records"] += got["records"] if got else 0
        out[s.split]["bytes"] += got["bytes"] if got else 0
    return out


def count_records(item: tuple[str, str | None]) -> dict:
    """One foreign file's record count: from its .idx when there is one, else a framing scan."""
    path, compression = item
    index = path + ".idx"
    if os.path.isfile(index):
        try:
            comp = detect_compression(path) if compression in (None, "auto") else normalize_compression(compression)
            n = len(check_index(read_index(index), index, os.path.getsize(path) if comp == "none" else None))
            return {"file": path, "records": n, "bytes": os.path.getsize(path), "compression": comp,
                    "counted_by": "index", "problems": []}
        except TfrecError:
            pass  # a bad index: count by scanning instead
    scan = scan_file(path, compression)
    return {"file": path, "records": scan.records, "bytes": scan.file_bytes, "compression": scan.compression,
            "counted_by": "scan", "problems": list(scan.problems)}


def _files_section(files: list[str], options: InspectOptions) -> tuple[dict, list, list, Schema | None, list]:
    """The section for foreign TFRecord files, its problems, first records, inferred schema (None if
    no record parses) and shard stats."""
    sizes = [os.path.getsize(f) for f in files]
    counts = map_shards(count_records, [(f, options.compression) for f in files], sizes, options.workers,
                        COUNT_PARALLEL_MIN_BYTES, options.progress, "count")
    per_file = max(1, math.ceil(options.sample_records / len(files)))
    examples: list = []
    unparsed: list[Problem] = []  # sampled records that are not Examples: counted, named, and problems
    for f in files:
        examples += [ex for _, _, _, ex in _first_records([f], options.compression, per_file, unparsed)]
    inferred = infer_schema(examples, class_labels_beside(files))
    schema = inferred.to_schema(schema_name(files[0])) if inferred.features else None
    layout = _Layout.of(schema)
    stats = []
    if options.catalog:
        tasks = [_StatsTask(f, None, options.compression, layout, True) for f in files]
        stats = map_shards(shard_stats, tasks, sizes, options.workers, PARALLEL_MIN_BYTES, options.progress, "catalog")
    section = {
        "kind": "files", "files": [{k: v for k, v in c.items() if k != "problems"} for c in counts],
        "records": sum(c["records"] for c in counts), "bytes": sum(sizes),
        "inferred": {**inferred.to_json(), "unparsed_records": len(unparsed),
                     "unparsed": [p.to_json() for p in unparsed[:MAX_UNPARSED_LISTED]]},
        "schema": schema.to_json() if schema is not None else None,
    }
    if stats:
        merged = _merge(stats)
        section.update(labels=_histograms(merged["labels"], schema), images=_images(merged, layout),
                       bytes_per_record=merged["bytes_per_record"])
    records = _first_records(files, options.compression, max(options.samples, options.grid_images if options.grid else 0))
    section["samples"] = _sample_json(records, options.samples, schema)
    problems = [p for c in counts for p in c["problems"]] + unparsed[:MAX_UNPARSED_LISTED]
    problems += [p for s in stats for p in s["problems"] if p.check != "parse" or p not in unparsed]
    return section, problems, records, schema, stats


# ---------------------------------------------------------------- outputs


def write_catalog(stats: list[dict], path: str) -> int:
    """Writes one Parquet row per record (shard, split, index, offset, length, label, size, format)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"shard": pa.string(), "split": pa.string(), "format": pa.string()}
    columns = {c: [v for s in stats for v in s["rows"].get(c, [])] for c in CATALOG_COLUMNS}
    table = pa.table({c: pa.array(columns[c], types.get(c, pa.int64())) for c in CATALOG_COLUMNS})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pq.write_table(table, path)
    return table.num_rows


def inspect(paths: Sequence[str | Dataset], options: InspectOptions | None = None) -> InspectReport:
    """Describes tfrec datasets and/or foreign TFRecord files; writes a grid, catalog or schema if asked.

    Args:
        paths: datasets (opened with tfrec.open_dataset, or their directories), directories of TFRecord
            files, files or globs.
        options: see InspectOptions.

    Returns:
        An InspectReport with one section per dataset and one for all the foreign files together.

    Raises:
        TfrecError: a path that matches nothing, a malformed dataset.json, no images for --grid.
    """
    from .grid import make_contact_sheet

    options = options or InspectOptions()
    paths = [p.root if isinstance(p, Dataset) and fs.is_url(p.root) else p for p in paths]
    if any(fs.is_url(p) for p in paths if not isinstance(p, Dataset)):  # gs://, s3://, ...: on a fresh local copy
        return fs.on_local_copies(inspect, paths, options)
    start = time.perf_counter()
    inputs = find_inputs(paths)
    files = list(dict.fromkeys(f for i in inputs if not i.dataset for f in i.files))
    sections, problems, pictures, stats, schemas = [], [], [], [], []
    for item in [i for i in inputs if i.dataset] + ([None] if files else []):
        if item is None:
            section, found, records, schema, st = _files_section(files, options)
        else:
            section, found, records, schema, st = _dataset_section(item.source, options)
        sections.append(section)
        problems += found
        stats += st
        schemas.append(schema)
        root = (files[0] if item is None else item.source.root if isinstance(item.source, Dataset) else str(item.source))
        pictures += _pictures(records, _Layout.of(schema), schema, options.grid_images - len(pictures),
                              _label_map_or_none(root))
    written = {}
    if options.augment:
        first = inputs[0].source if inputs[0].dataset else paths[0]
        if _pictures_are_detection(first, options):
            pictures = _augmented_objects(first, options)
        else:
            pictures = _augmented_pictures(first, options, schemas[0])
    if options.grid:
        if not pictures:
            raise TfrecError("--grid: no images found (no image feature in the schema, or none decode)")
        sheet = make_contact_sheet([p[0] for p in pictures], [p[1] for p in pictures], options.grid)
        augmented = f", augmented with the {options.augment!r} preset" if options.augment else ""
        written["grid"] = {**sheet.to_json(), "detail": f"{sheet.count} images, {sheet.columns}x{sheet.rows}{augmented}"}
    if options.catalog:
        rows = write_catalog(stats, options.catalog)
        written["catalog"] = {"path": options.catalog, "rows": rows, "detail": f"{rows:,} rows"}
    if options.save_schema:
        schema = schemas[-1]  # the foreign files' inferred schema when there are foreign files
        if schema is None:
            raise TfrecError("--save-schema: no record parsed as a tf.train.Example, so there is no schema to save")
        with open(options.save_schema, "w", encoding="utf-8") as f:
            json.dump(schema.to_json(), f, indent=2)
            f.write("\n")
        written["schema"] = {"path": options.save_schema, "detail": f"schema {schema.name!r}"}
    return InspectReport(tuple(sections), tuple(problems), written, time.perf_counter() - start)


def _pictures_are_detection(path: Dataset | str, options: InspectOptions) -> bool:
    """Whether the first record of the first file uses the Object Detection API's keys."""
    item = None if isinstance(path, Dataset) else find_inputs([path])[0]
    if item is None or item.dataset:
        files = [s.path for s in open_dataset(path if item is None else item.source).present()]
    else:
        files = list(item.files)
    records = _first_records(files[:1], options.compression, 1)
    return bool(records) and is_detection(records[0][3])


def _augmented_objects(path: Dataset | str, options: InspectOptions) -> list[tuple[np.ndarray, str]]:
    """Detection records through the preset, their moved boxes drawn on, captioned with their classes."""
    from PIL import Image

    from ..read.pipeline import augmented_detection_samples  # imports TensorFlow

    root = path.root if isinstance(path, Dataset) else str(path)
    labels = _label_map_or_none(root)
    out = []
    for image, boxes, classes in augmented_detection_samples(path, options.augment, options.grid_images, options.seed,
                                                             options.split):
        objects = Objects(boxes, classes, (), (), None, None)
        out.append((np.asarray(draw_objects(Image.fromarray(image), objects, labels)), caption_of(objects, labels)))
    return out


def _augmented_pictures(path: Dataset | str, options: InspectOptions, schema: Schema | None) -> list[tuple[np.ndarray, str]]:
    """Images as the reader's augmentation preset yields them, captioned with their class names."""
    from ..read.pipeline import augmented_samples  # imports TensorFlow

    images, labels = augmented_samples(path, options.augment, options.grid_images, options.seed, options.split)
    names = schema.label.names if schema is not None and schema.label is not None else None
    captions = [names[v] if names and 0 <= v < len(names) else str(v) for v in labels]
    return list(zip(images, captions))


# ---------------------------------------------------------------- human output


def _bar(count: int, most: int, width: int = 30) -> str:
    return "#" * max(1, round(width * count / most)) if most else ""


def _render_schema(schema: dict) -> list[str]:
    lines = [f"schema {schema.get('name')!r}:"]
    for name, f in (schema.get("features") or {}).items():
        extra = [f.get("encoding", ""), f.get("dtype", "") if f.get("kind") == "image" else ""]
        if f.get("num_classes"):
            extra.append(f"{f['num_classes']} classes")
        lines.append(f"  {name:<16} {f.get('kind', ''):<12} {str(f.get('shape')):<18} {' '.join(e for e in extra if e)}")
    return lines


def _render_common(section: dict) -> list[str]:
    lines = []
    for name, hist in (section.get("labels") or {}).items():
        counts = hist["counts"]
        most = max((c["count"] for c in counts), default=0)
        lines.append(f"labels ({name}, {len(counts)} distinct" + (f" of {hist['num_classes']}" if hist["num_classes"] else "") + "):")
        for c in counts[:40]:
            label = f"{c['label']}" + (f" {c['name']}" if c["name"] else "")
            lines.append(f"  {label[:24]:<24} {c['count']:>9,}  {_bar(c['count'], most)}")
        if len(counts) > 40:
            lines.append(f"  ... {len(counts) - 40} more")
    images = section.get("images")
    if images:
        formats = ", ".join(f"{k} {v:,}" for k, v in images["formats"].items())
        sizes = ", ".join(f"{s['size']} ({s['count']:,})" for s in images["sizes"][:6])
        more = f", ... {images['distinct_sizes']} sizes in all" if images["distinct_sizes"] > 6 else ""
        lines.append(f"images ({images['feature']}, {images['encoding']}): {formats}; sizes (HxWxC) {sizes}{more}")
    per = section.get("bytes_per_record")
    if per:
        lines.append(f"bytes per record: min {per['min']:,}, mean {per['mean']:,}, max {per['max']:,}")
    return lines


def _render_dataset(section: dict) -> list[str]:
    seed = "no seed" if section["seed"] is None else f"seed {section['seed']}"
    lines = [f"{section['name']} ({section['path']}): {section['records']:,} records, compression "
             f"{section['compression']}, {seed}, " + ("shuffled" if section["shuffled"] else "not shuffled")]
    lines += _render_skipped(section)
    lines += _render_schema(section["schema"] or {})
    lines.append("splits:")
    for name, split in section["splits"].items():
        lines.append(f"  {name:<10} {split['records']:>10,} records {len(split['shards']):>5} shards {split['bytes'] / 1e6:>10.2f} MB")
    lines.append(f"  {'shard':<48} {'records':>10} {'bytes':>14}")
    for split in section["splits"].values():
        for s in split["shards"]:
            records = f"{s['records']:,}" if s["records"] is not None else "missing"
            size = f"{s['bytes']:,}" if s["bytes"] is not None else ""
            lines.append(f"  {str(s['file']):<48} {records:>10} {size:>14}")
    return lines + _render_common(section)


def _render_skipped(section: dict) -> list[str]:
    total, listed = section.get("skipped_files") or 0, section.get("skipped") or []
    if not total:
        return []
    lines = [f"skipped {total:,} source file{'s' if total != 1 else ''}:"]
    lines += [f"  {s['path']}: {s['reason']}" for s in listed[:SKIPPED_SHOWN]]
    if total > min(len(listed), SKIPPED_SHOWN):
        lines.append(f"  ... and {total - min(len(listed), SKIPPED_SHOWN):,} more (dataset.json lists all {total:,})")
    return lines


def _render_files(section: dict) -> list[str]:
    lines = [f"{len(section['files'])} TFRecord file(s), {section['records']:,} records, {section['bytes'] / 1e6:.2f} MB"]
    lines.append(f"  {'file':<48} {'records':>10} {'bytes':>14}  compression  counted by")
    for f in section["files"]:
        lines.append(f"  {os.path.basename(f['file']):<48} {f['records']:>10,} {f['bytes']:>14,}  {f['compression']:<11}  {f['counted_by']}")
    inferred = section["inferred"]
    bad = inferred.get("unparsed_records", 0)
    if bad:
        where = ", ".join(f"record {u['record']} of {os.path.basename(u['file'])} (byte {u['offset']})"
                          for u in inferred["unparsed"][:5])
        more = f" and {bad - 5} more" if bad > 5 else ""
        lines.append(f"inferred from {inferred['sampled_records']} of {inferred['sampled_records'] + bad} sampled "
                     f"records; {bad} did not parse as tf.train.Example: {where}{more} (see the problems below):")
    else:
        lines.append(f"inferred from {inferred['sampled_records']} sampled records:")
    lines.append(f"  {'key':<16} {'kind':<6} {'values/record':<14} looks like / range")
    for f in inferred["features"]:
        lo, hi = f["values_per_record"]
        what = f.get("looks_like", "")
        if f.get("image_shapes"):
            what += " " + ", ".join("x".join(map(str, s)) for s in f["image_shapes"][:3]) + " (HxWxC)"
        if "value_range" in f:
            what += f"range {f['value_range'][0]}..{f['value_range'][1]}"
        lines.append(f"  {f['name']:<16} {f['kind']:<6} {str(lo) if lo == hi else f'{lo}..{hi}':<14} {what}")
    lines += [f"  note: {n}" for n in inferred["notes"]]
    if section["schema"] is None:
        return lines + ["  no record parsed as a tf.train.Example: no schema inferred"]
    lines += _render_schema(section["schema"])
    return lines + _render_common(section)


def _render_samples(samples: list[dict]) -> list[str]:
    lines = []
    for s in samples:
        lines.append(f"record {s['record']} of {os.path.basename(s['file'])} (byte {s['offset']}):")
        lines += [f"  {name:<16} {text}" for name, text in s["features"].items()]
    return lines
