"""Samples by index: records parsed with the dataset's schema (the pure-Python Example codec), images decoded.

`open_source(path, split=...)` is the one random-access source behind tfrec.torch and tfrec.grain:
`len(source)`, `source[i]` (a dict: the image as an HWC uint8 array, the label as an int, every other
feature of the schema as the schema shapes it) and `source.__getitems__(indices)` (a batch, its reads
coalesced). It holds no lock and no open file when pickled.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from ..check import infer_schema, schema_name
from ..codec.example import ExampleDecodeError, decode_example
from ..codec.schema import FeatureSpec, Schema, load_schema, schema_from_json
from ..errors import CorruptRecordError, SchemaError, TfrecError
from ..io.dataset import Dataset, is_dataset, open_dataset
from ..io.scan import Problem, scan_file
from .decode import decode_image
from .layout import FixedLayout, build_layout, fixed_schema, image_shape
from .records import RecordSource
from .shards import dataset_shards, foreign_shards

INFER_RECORDS = 200  # records read from the first files to infer a foreign schema (as `tfrec inspect` does)
MAX_LAYOUTS = 8  # record lengths of a fixed-shape schema that get a layout (int64 varints of other widths)


class SampleSource:
    """Parsed samples by index over a RecordSource and a schema (see open_source)."""

    def __init__(self, records: RecordSource, schema: Schema, name: str = ""):
        self.records = records
        self.schema = schema
        self.name = name
        self.image = next((f for f in schema.features if f.kind == "image"), None)
        labels = sorted((f for f in schema.features if f.kind == "class_label"), key=lambda f: f.name != "label")
        self.label = labels[0] if labels else (schema["label"] if "label" in schema else None)
        self.fixed = fixed_schema(schema)  # every feature of a fixed byte size: batches can skip the parser
        self._layouts: dict[int, FixedLayout | None] = {}  # framed length -> its layout (None: none found)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def image_channels(self) -> int | None:
        """The channels the schema's image is decoded to (None: as stored)."""
        f = self.image
        return f.shape[2] if f is not None and len(f.shape) == 3 else None

    def __repr__(self) -> str:
        return f"SampleSource({self.name!r}, records={len(self)}, shards={len(self.records.shards)})"

    @property
    def stats(self):
        """The ReadStats of what skip_corrupt skipped in this process."""
        return self.records.stats

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        """One sample (None: a damaged record, skipped with skip_corrupt)."""
        return self._samples([int(i)])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The samples of a batch, in the order asked (damaged records left out with skip_corrupt)."""
        if not self.fixed:
            return [s for s in self._samples(indices) if s is not None]
        kept, columns = self.columns(indices)
        scalars = {f.name: (int if f.storage == "int64" else float) for f in self.schema.features
                   if f.kind != "image" and f.value_count == 1 and not f.shape}
        return [{name: scalars[name](col[r]) if name in scalars else col[r] for name, col in columns.items()}
                for r in range(len(kept))]

    def payloads(self, indices: Sequence[int]) -> list[bytes | None]:
        """The serialized Examples of records (None: damaged, skipped)."""
        return self.records.get_many(indices)

    def _samples(self, indices: Sequence[int], decode_images: bool = True) -> list[dict[str, Any] | None]:
        indices = np.asarray(indices, np.int64)
        return [None if data is None else self.parse(data, int(i), decode_images)
                for i, data in zip(indices.tolist(), self.records.get_many(indices))]

    def columns(self, indices: Sequence[int], channels_first: bool = False,
                alloc: Callable[[tuple], np.ndarray] | None = None,
                decode_images: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
        """A batch as columns: (the records kept, {feature: its values for each kept record, in the order asked}).

        For a fixed-shape schema each column is one array (images (n, H, W, C), or (n, C, H, W) with
        channels_first; ints int64; floats float32): records built as a known layout are read into one
        matrix and gathered with NumPy (both CRCs and the layout checked for the whole batch at once),
        the others parsed one by one. Otherwise each column is a list of the samples' values.
        Damaged records are left out with skip_corrupt (counted in `stats`). `alloc(shape)` gives the
        uint8 array the images are decoded into (the PyTorch workers': shared memory, so the batch is
        not copied again on its way to the main process). With decode_images=False an encoded image
        (JPEG, PNG, ...) stays its bytes, for a caller that decodes it at a reduced scale (Augment.decode).

        Raises:
            CorruptRecordError: a damaged record (without skip_corrupt), naming shard, record and byte offset.
        """
        indices = np.asarray(indices, np.int64)
        if not self.fixed:
            kept, samples = self._kept(indices, decode_images)
            return kept, {f.name: [s[f.name] for s in samples] for f in self.schema.features}
        out = self._empty(len(indices), channels_first, alloc or (lambda shape: np.empty(shape, np.uint8)))
        done = np.zeros(len(indices), bool)
        if len(indices):
            shards, _, spans = self.records.spans(indices)
            for framed in np.unique(spans[:, 1]).tolist():
                rows = np.flatnonzero(spans[:, 1] == framed)
                layout = self._layout(int(framed), int(indices[rows[0]])) if framed > 0 else None
                if layout is not None:
                    done[rows] = self._gather(layout, rows, shards[rows], spans[rows], out, channels_first)
        keep = np.ones(len(indices), bool)
        rest = np.flatnonzero(~done)
        for r, data in zip(rest.tolist(), self.records.get_many(indices[rest]) if len(rest) else []):
            sample = None if data is None else self.parse(data, int(indices[r]))
            if sample is None:
                keep[r] = False
                continue
            for f in self.schema.features:
                value = sample[f.name]
                out[f.name][r] = value.transpose(2, 0, 1) if channels_first and f.kind == "image" else value
        if not keep.all():
            return indices[keep], {name: col[keep] for name, col in out.items()}
        return indices, out

    def _kept(self, indices: np.ndarray, decode_images: bool = True) -> tuple[np.ndarray, list[dict[str, Any]]]:
        samples = self._samples(indices, decode_images)
        keep = np.array([s is not None for s in samples], bool)
        return indices[keep] if len(indices) else indices, [s for s in samples if s is not None]

    def _empty(self, n: int, channels_first: bool, alloc: Callable) -> dict[str, np.ndarray]:
        out = {}
        for f in self.schema.features:
            if f.kind == "image":
                h, w, c = image_shape(f)
                out[f.name] = alloc((n, c, h, w) if channels_first else (n, h, w, c))
            else:
                out[f.name] = np.empty((n, *f.shape), np.int64 if f.storage == "int64" else np.float32)
        return out

    def _layout(self, framed: int, i: int) -> FixedLayout | None:
        """The layout of records of this framed length, built from record i (once per length, at most MAX_LAYOUTS)."""
        if framed in self._layouts:
            return self._layouts[framed]
        if len(self._layouts) >= MAX_LAYOUTS:
            return None
        layout = None
        try:
            data = self.records.get_many([i])[0]
            sample = None if data is None else self.parse(data, i)
            if sample is not None:
                layout = build_layout(self.schema, data, sample)
        except CorruptRecordError:  # the batch's slow path names it
            return None
        if data is not None:  # a damaged record decides nothing: the next one of this length tries
            self._layouts[framed] = layout
        return layout

    def _gather(self, layout: FixedLayout, rows: np.ndarray, shards: np.ndarray, spans: np.ndarray,
                out: dict[str, np.ndarray], channels_first: bool) -> np.ndarray:
        """Reads the rows' records into one matrix and fills `out` where they are intact and built as the layout."""
        matrix = self.records.read_rows(shards, spans)
        ok = layout.check(matrix, self.records.check_crc)
        whole = ok.all() and len(rows) == len(next(iter(out.values())))
        good, at = (matrix, slice(None)) if whole else (matrix[ok], rows[ok])
        for field in layout.fields:
            out[field.name][at] = layout.column(field, good, channels_first)
        return ok

    def parse(self, data: bytes, i: int, decode_images: bool = True) -> dict[str, Any] | None:
        """A serialized Example (record i) as a sample dict; None where it fails to parse and skip_corrupt is on.
        With decode_images=False an encoded image is left as its bytes (a raw one is still an array).

        Raises:
            CorruptRecordError: the record is not an Example the schema describes (names shard, record, offset).
        """
        try:
            example = decode_example(data)
            return {f.name: self._value(f, example, decode_images) for f in self.schema.features}
        except (ExampleDecodeError, SchemaError, ValueError, OSError) as e:
            path, index, offset = self.where(i)
            err = CorruptRecordError(path, index, offset, f"cannot parse with schema {self.schema.name!r}: {e}")
            if not self.records.skip_corrupt:
                raise err from e
            self.records.stats.skip(path, index, offset, err.reason)
            return None

    def where(self, i: int) -> tuple[str, int, int]:
        """(shard path, record index in it, byte offset) of record i."""
        shard, local = self.records.locate(np.array([i]))
        k, j = int(shard[0]), int(local[0])
        table = self.records.table(k)
        return self.records.shards[k].path, j, int(table[j, 0]) if j < len(table) else -1

    def _value(self, f: FeatureSpec, example: dict, decode_images: bool = True) -> Any:
        if f.name not in example:
            raise SchemaError(f"no feature {f.name!r}")
        kind, values = example[f.name]
        if kind != f.storage and values:
            raise SchemaError(f"feature {f.name!r} is {kind}, the schema says {f.storage}")
        if f.kind == "image":
            if not decode_images and f.encoding != "raw":
                if len(values) != 1:
                    raise SchemaError(f"feature {f.name!r}: expected one image, found {len(values)} values")
                return bytes(values[0])
            return self._image(f, values, example)
        if f.storage == "bytes":
            values = [v.decode("utf-8", "replace") for v in values] if f.kind == "text" else list(values)
            return values[0] if f.value_count == 1 and len(values) == 1 else values
        arr = np.asarray(values, np.int64 if f.storage == "int64" else np.float32)
        if f.value_count == 1 and not f.shape:
            if arr.size != 1:
                raise SchemaError(f"feature {f.name!r}: expected 1 value, found {arr.size}")
            return int(arr[0]) if f.storage == "int64" else float(arr[0])
        return arr.reshape(f.shape) if f.value_count is not None else arr

    def _image(self, f: FeatureSpec, values: list, example: dict) -> np.ndarray:
        if len(values) != 1:
            raise SchemaError(f"feature {f.name!r}: expected one image, found {len(values)} values")
        data = values[0]
        if f.encoding != "raw":
            return decode_image(data, channels=f.shape[2] if len(f.shape) == 3 else None)
        shape = list(f.shape)
        for d, key in enumerate(("height", "width", "channels")):  # a raw image of variable shape says its own
            if d < len(shape) and shape[d] is None:
                shape[d] = int(example.get(key, ("", [0]))[1][0])
        pixels = np.frombuffer(data, np.uint8)
        if pixels.size != int(np.prod(shape)):
            raise SchemaError(f"raw image of {pixels.size} bytes, the schema's shape {tuple(shape)} needs "
                              f"{int(np.prod(shape))}")
        return pixels.reshape(shape if len(shape) == 3 else (*shape, 1)[:3])


def open_source(path: str | Dataset | Sequence[str], split: str | None = None, *, schema: str | Schema | None = None,
                check_crc: bool = True, skip_corrupt: bool = False) -> SampleSource:
    """The random-access source over a split of a tfrec dataset, or over foreign TFRecord files.

    Args:
        path: a dataset (tfrec.open_dataset's, or its directory or dataset.json), or TFRecord files,
            directories of them, or globs (a `.idx` beside a file is used; without one it is scanned once).
        split: the dataset's split (default: 'train' where there is one, else the only split).
        schema: for foreign files, a schema name, JSON file or Schema (default: inferred from the first
            records, as `tfrec inspect` infers it). A dataset's own schema is always dataset.json's.
        check_crc: check both CRCs of every record read.
        skip_corrupt: skip and count damaged records (source.stats) instead of raising CorruptRecordError.

    Raises:
        TfrecError: no such split, a missing shard, compressed shards, no schema can be found.
        CorruptRecordError: foreign files whose scan finds damage (without skip_corrupt).
    """
    if isinstance(path, Dataset) or (isinstance(path, (str, os.PathLike)) and _is_dataset(str(path))):
        dataset = open_dataset(path)
        split = split or _default_split(dataset)
        dataset, shards = dataset_shards(dataset, split)
        parsed = schema_from_json(dataset.schema, dataset.manifest_path)
        records = RecordSource(shards, check_crc=check_crc, skip_corrupt=skip_corrupt)
        return SampleSource(records, parsed, f"{dataset.name}/{split}")
    paths = [str(path)] if isinstance(path, (str, os.PathLike)) else [str(p) for p in path]
    problems: list[Problem] = []
    shards, tables = foreign_shards(paths, problems)
    records = RecordSource(shards, tables, problems, check_crc=check_crc, skip_corrupt=skip_corrupt)
    if isinstance(schema, Schema):
        parsed = schema
    elif schema:
        parsed = load_schema(schema)
    else:
        parsed = _infer(shards[0].path if shards else paths[0], [s.path for s in shards])
    return SampleSource(records, parsed, schema_name(paths[0]))


def _is_dataset(path: str) -> bool:
    return is_dataset(path) or (os.path.basename(path) == "dataset.json" and os.path.isfile(path))


def _default_split(dataset: Dataset) -> str:
    splits = dataset.splits
    if "train" in splits or len(splits) != 1:
        return "train"
    return splits[0]


def _infer(name: str, files: list[str]) -> Schema:
    examples: list = []
    for f in files:
        def keep(index, offset, data):
            try:
                examples.append(decode_example(data))
            except ExampleDecodeError:
                pass

        scan_file(f, "none", keep, limit=INFER_RECORDS - len(examples))
        if len(examples) >= INFER_RECORDS:
            break
    inferred = infer_schema(examples)
    if not inferred.features:
        raise TfrecError(f"{name}: no schema given and none can be inferred (no record parses as an Example)")
    return inferred.to_schema(schema_name(name))
