"""Parquet files, Hugging Face datasets among them: an image column and a label column, read in record batches."""
from __future__ import annotations

import functools
import glob
import json
import os
import re
import tempfile
from typing import Sequence

import numpy as np

from ..errors import SourceError
from ..codec.schema import load_schema
from .model import SourceData, SourceOptions, SplitData
from ._checks import check_regular, class_ids, refuse_unlistable
from .imagefolder import SPLIT_DIRS, _WorkerOptions, encode_image_record, reencoded_schema

# Bytes of image data per pyarrow record batch (the row count comes from the column's mean row size
# in the file metadata), so that memory is bounded by bytes whatever the image size. pyarrow's pool
# peaked at about 3x a batch in tests/sources/test_parquet.py (decompressed pages, the batch, a slice).
BATCH_BYTES = 8 << 20
MAX_BATCH_ROWS = 1024
READ_BUFFER_BYTES = 1 << 20  # pyarrow reads column chunks through a buffer of this size, not whole
IMAGE_COLUMNS = ("image", "img")
LABEL_COLUMNS = ("label", "labels", "fine_label")
_SHARD_STEM = re.compile(r"^([A-Za-z]\w*?)-\d+-of-\d+")  # Hugging Face's train-00000-of-00003[-hash]


def parquet_files(path: str | Sequence[str]) -> list[str]:
    """The Parquet files of a file, a folder (searched recursively), a glob, or a list of them.

    Raises:
        SourceError: a path that does not exist, or no .parquet files at all.
    """
    out: list[str] = []
    for p in [path] if isinstance(path, (str, os.PathLike)) else list(path):
        p = str(p)
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p, onerror=refuse_unlistable):
                dirs.sort()
                out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".parquet")]
        elif os.path.exists(p):  # a FIFO or device too: refused, saying what it is, when read
            out.append(p)
        elif any(c in p for c in "*?[") and glob.glob(p):
            out += sorted(glob.glob(p))
        else:
            raise SourceError(f"{p}: no such file, directory or matching glob")
    if not out:
        raise SourceError(f"{path}: no .parquet files")
    return out


def split_of(path: str) -> str:
    """The split a Parquet file holds, from its name (train-00000-of-00001.parquet), else its folder's."""
    stem = os.path.basename(path).rsplit(".parquet", 1)[0]
    first = re.split(r"[-_.]", stem)[0].lower()
    if first in SPLIT_DIRS:
        return SPLIT_DIRS[first]
    m = _SHARD_STEM.match(stem)
    if m:
        return m.group(1)
    parent = os.path.basename(os.path.dirname(os.path.abspath(path))).lower()
    return SPLIT_DIRS.get(parent, "train")


def _image_kind(t) -> str | None:
    """How an Arrow column type holds images: 'bytes', 'struct' ({bytes, path}), 'array' (raw), or None."""
    import pyarrow as pa

    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytes"
    if pa.types.is_struct(t) and t.get_field_index("bytes") >= 0:
        inner = t.field("bytes").type
        return "struct" if pa.types.is_binary(inner) or pa.types.is_large_binary(inner) else None
    depth = 0
    while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        t, depth = t.value_type, depth + 1
    return "array" if depth >= 2 and pa.types.is_integer(t) else None


def _columns_text(schema) -> str:
    return ", ".join(f"{f.name} ({f.type})" for f in schema)


def choose_columns(path: str, schema, options: SourceOptions) -> tuple[str, str, str]:
    """(image column, how it holds images, label column), as asked or found by name or type.

    Raises:
        SourceError: no usable column; lists the columns the file has.
    """
    names = schema.names
    image = options.image_column
    if image is None:
        usable = [n for n in names if _image_kind(schema.field(n).type)]
        named = [n for n in IMAGE_COLUMNS if n in usable]
        image = named[0] if named else (usable[0] if len(usable) == 1 else None)
    if image is None or image not in names or _image_kind(schema.field(image).type) is None:
        if image is None:
            what = f"no usable image column (none named {' or '.join(IMAGE_COLUMNS)}, nor a single one of an image type)"
        elif image not in names:
            what = f"no column {image!r}"
        else:
            what = f"column {image!r} is not a usable image column"
        raise SourceError(
            f"{path}: {what}; image columns hold binary, a Hugging Face {{bytes, path}} struct, or nested lists of "
            f"integers; columns: {_columns_text(schema)}; pass --image-column"
        )
    label = options.label_column or next((n for n in LABEL_COLUMNS if n in names), None)
    if label is None or label not in names:
        what = f"no column {label!r}" if label else f"no label column ({', '.join(LABEL_COLUMNS)})"
        raise SourceError(f"{path}: {what}; columns: {_columns_text(schema)}; pass --label-column")
    import pyarrow as pa

    t = schema.field(label).type
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise SourceError(f"{path}: label column {label!r} is {t}; expected integers or strings")
    return image, _image_kind(schema.field(image).type), label


def class_names(schema, label: str) -> list[str] | None:
    """Class names from the Hugging Face `ClassLabel` metadata stored in a Parquet schema, if any."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        feature = json.loads(raw)["info"]["features"][label]
    except (ValueError, KeyError, TypeError):
        return None
    names = feature.get("names") if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" else None
    return [str(n) for n in names] if isinstance(names, list) and names else None


def _binary_parts(arr) -> tuple[memoryview, np.ndarray]:
    """A binary array's data buffer and its n+1 value offsets (rebased to the buffer), without copying."""
    import pyarrow as pa

    kind = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], kind)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = arr.buffers()[2]
    return (memoryview(data) if data is not None else memoryview(b"")), offsets


def _array_rows(arr, where: str) -> np.ndarray:
    """Nested integer lists as a uint8 array of shape (rows, *dims); every row must have the same dims."""
    import pyarrow as pa

    n, dims, cur = len(arr), [], arr
    while pa.types.is_list(cur.type) or pa.types.is_large_list(cur.type) or pa.types.is_fixed_size_list(cur.type):
        if cur.null_count:
            raise SourceError(f"{where}: null arrays in the image column")
        if pa.types.is_fixed_size_list(cur.type):
            sizes = np.full(len(cur), cur.type.list_size)
        else:
            sizes = cur.value_lengths().to_numpy(zero_copy_only=False)
        if len(sizes) and (sizes != sizes[0]).any():
            r = int(np.flatnonzero(sizes != sizes[0])[0])
            raise SourceError(f"{where}: arrays differ in size ({sizes[0]} and {sizes[r]} values at one level); "
                              "raw arrays need one shape")
        dims.append(int(sizes[0]) if len(sizes) else 0)
        cur = cur.flatten()
    values = cur.to_numpy(zero_copy_only=False)
    if values.size and (values.min() < 0 or values.max() > 255):
        raise SourceError(f"{where}: array values run from {values.min()} to {values.max()}; raw images must be 0..255")
    return values.astype(np.uint8, copy=False).reshape([n] + dims)


def _image_shape(dims: tuple, where: str) -> tuple[int, int, int]:
    if len(dims) == 2:
        return (dims[0], dims[1], 1)
    if len(dims) == 3 and dims[2] in (1, 3, 4):
        return dims
    raise SourceError(f"{where}: raw arrays of shape {dims}; expected HxW or HxWxC with C 1, 3 or 4")


def _batch_rows(pf, column: str) -> int:
    """Rows per record batch so that a batch holds about BATCH_BYTES of the image column."""
    meta = pf.metadata
    if meta.num_rows == 0:
        return 1
    total = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        total += sum(rg.column(c).total_uncompressed_size for c in range(rg.num_columns)
                     if rg.column(c).path_in_schema.split(".")[0] == column)
    return int(min(MAX_BATCH_ROWS, max(1, BATCH_BYTES * meta.num_rows // max(total, 1))))


class _Reader:
    """One pass over the files: encoded image bytes go to a spill file, labels and raw arrays to memory."""

    def __init__(self, options: SourceOptions):
        import google_crc32c

        self.options, self.crc = options, google_crc32c
        fd, self.spill = tempfile.mkstemp(prefix="tfrec-parquet-", suffix=".spill")
        self.out = os.fdopen(fd, "wb")
        self.skipped: list[dict] = []
        self.names: list[str] | None = None
        self.columns: tuple[str, str, str] | None = None

    def read_file(self, path: str) -> dict:
        import pyarrow.parquet as pq

        check_regular(path)
        try:
            # pre_buffer off and a read buffer: pyarrow streams the row group instead of loading it whole
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
        except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...: all mean "not readable Parquet"
            raise SourceError(f"{path}: not a readable Parquet file: {e}") from e
        schema = pf.schema_arrow
        columns = choose_columns(path, schema, self.options)
        if self.columns is not None and columns != self.columns:
            raise SourceError(f"{path}: image/label columns {columns[::2]} differ from the other files' {self.columns[::2]}")
        self.columns = columns
        self.names = self.names or class_names(schema, columns[2])
        part = {"labels": [], "items": [], "arrays": [], "bytes": 0, "crc": 0}
        row = 0
        try:
            rows = _batch_rows(pf, columns[0])
            for batch in pf.iter_batches(batch_size=rows, columns=[columns[0], columns[2]], use_threads=False):
                self._batch(path, row, batch, part)
                row += batch.num_rows
        except SourceError:
            raise
        except Exception as e:
            raise SourceError(f"{path}: cannot read row group data near row {row}: {e}") from e
        return part

    def _batch(self, path: str, row: int, batch, part: dict) -> None:
        image, kind, label = self.columns
        labels = batch.column(1)
        if labels.null_count:
            r = row + int(np.flatnonzero(labels.is_null().to_numpy(zero_copy_only=False))[0])
            raise SourceError(f"{path}: row {r}: the label is null")
        labels = labels.to_numpy(zero_copy_only=False)
        if labels.dtype == object:
            labels = labels.tolist()  # class names, mapped to ids once every file is read
        else:  # checked in the column's own type: a uint64 2^64-1 is not -1
            labels = class_ids(labels, f"{path}: column {label!r}", first_row=row)
        col = batch.column(0)
        if kind == "array":
            rows = _array_rows(col, f"{path}: column {image!r} near row {row}")
            part["arrays"].append(rows)
            part["labels"].extend(labels)
            part["bytes"] += rows.nbytes
            part["crc"] = self.crc.extend(part["crc"], np.ascontiguousarray(rows))
            return
        paths = None
        if kind == "struct":
            fields = dict(zip([f.name for f in col.type], col.flatten()))
            col, paths = fields["bytes"], (fields["path"].to_pylist() if "path" in fields else None)
        data, offsets = _binary_parts(col)
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        base = self.out.tell()
        chunk = data[offsets[0] : offsets[-1]]
        self.out.write(chunk)
        part["crc"] = self.crc.extend(part["crc"], np.frombuffer(chunk, np.uint8))
        part["bytes"] += len(chunk)
        name = os.path.basename(path)
        for i in range(len(col)):
            where = f"{name}: row {row + i}"
            if nulls[i]:
                self.skipped.append({"path": where, "reason": "image is null"})
                continue
            filename = (paths[i] if paths and paths[i] else None) or f"{name}#{row + i}"
            start = base + int(offsets[i] - offsets[0])
            part["items"].append((self.spill, where, labels[i], int(offsets[i + 1] - offsets[i]), start, filename))
            part["labels"].append(labels[i])

    def remove(self) -> None:
        self.out.close()
        _close_spill(self.spill)
        if os.path.exists(self.spill):
            os.remove(self.spill)


def read_parquet(path: str | Sequence[str], options: SourceOptions) -> SourceData:
    """Reads Parquet files split by file name: images kept as their encoded bytes, raw arrays kept raw.

    Reading goes through pyarrow record batches of about BATCH_BYTES, so memory stays bounded by a
    batch: encoded images are appended to a temporary spill file (in TMPDIR, removed by
    SourceData.close) that the converter reads back in shard order; labels (and raw arrays,
    which are small datasets such as MNIST) stay in memory.

    Raises:
        SourceError: no usable image or label column (lists the columns), unreadable files, bad labels.
    """
    files = parquet_files(path)
    reader = _Reader(options)
    try:
        by_split: dict[str, list[dict]] = {}
        for f in files:
            by_split.setdefault(split_of(f), []).append(reader.read_file(f))
        reader.out.close()
        return _source(path, files, reader, by_split, options)
    except BaseException:
        reader.remove()
        raise


def _source(path, files: list[str], reader: _Reader, by_split: dict, options: SourceOptions) -> SourceData:
    image, kind, label = reader.columns
    where = f"{files[0]}{f' (and {len(files) - 1} more files)' if len(files) > 1 else ''}"
    all_labels = [x for parts in by_split.values() for p in parts for x in p["labels"]]
    if not all_labels and not reader.skipped:
        raise SourceError(f"{where}: no rows; there is nothing to convert")
    names = reader.names
    if all_labels and isinstance(all_labels[0], str):
        names = names or sorted(set(all_labels))
        ids = {n: i for i, n in enumerate(names)}
        unknown = sorted(set(all_labels) - set(ids))
        if unknown:
            raise SourceError(f"{where}: labels {unknown[:5]} are not among the class names {names[:10]}")
        for parts in by_split.values():
            for p in parts:
                p["labels"] = [ids[x] for x in p["labels"]]
                p["items"] = [it[:2] + (ids[it[2]],) + it[3:] for it in p["items"]]
    shape = None
    if kind == "array":
        if options.resize or options.encode:
            raise SourceError(f"{where}: column {image!r} holds raw arrays; --resize/--encode apply to encoded images")
        dims = {a.shape[1:] for parts in by_split.values() for p in parts for a in p["arrays"]}
        if len(dims) > 1:
            raise SourceError(f"{where}: column {image!r} holds arrays of different shapes: {sorted(dims)}")
        shape = _image_shape(next(iter(dims)), f"{where}: column {image!r}")
    splits = {}
    for split, parts in by_split.items():
        labels = np.array([x for p in parts for x in p["labels"]], dtype=np.int64)
        content = "crc32c:" + ":".join(f"{p['crc']:08x}" for p in parts) + f":{int(labels.sum())}:{len(labels)}"
        if shape is not None:
            images = np.concatenate([a for p in parts for a in p["arrays"]]).reshape((-1,) + shape)
            splits[split] = SplitData(split, labels, arrays={"image": images, "label": labels},
                                      source_bytes=images.nbytes, content_id=content)
            continue
        items = [it for p in parts for it in p["items"]]
        if items:
            splits[split] = SplitData(split, labels, items=items, source_bytes=sum(p["bytes"] for p in parts),
                                      content_id=content)
    if not splits:
        raise SourceError(f"{where}: no images (every image in column {image!r} is null)")
    num_classes = int(max(s.labels.max(initial=0) for s in splits.values())) + 1
    if names and num_classes > len(names):
        raise SourceError(f"{where}: label {num_classes - 1} in column {label!r}, but the Hugging Face "
                          f"ClassLabel metadata names only {len(names)} classes")
    description = f"Parquet {where}: images from column {image!r}, labels from {label!r}"
    if shape is not None:
        schema = (options.schema or load_schema("arrays")).with_image(shape=shape)
        schema = schema.with_class_names(names, num_classes=num_classes)
        reader.remove()
        return SourceData("parquet", description, schema, splits, skipped=reader.skipped)
    schema = (options.schema or load_schema("parquet")).with_class_names(names, num_classes=num_classes)
    schema = reencoded_schema(schema, options)
    return SourceData(
        "parquet", description, schema, splits,
        make_record=functools.partial(make_parquet_record, options=_WorkerOptions.of(options, schema)),
        skipped=reader.skipped, cleanup=reader.remove,
    )


_SPILL_FDS: dict[str, int] = {}  # spill path -> open descriptor, one per process


def _close_spill(path: str) -> None:
    fd = _SPILL_FDS.pop(path, None)
    if fd is not None:
        os.close(fd)


def make_parquet_record(item, options: _WorkerOptions) -> tuple[bytes | None, str, str]:
    """Reads one image's bytes back from the spill file and serializes its Example (see encode_image_record)."""
    spill, _, label, length, offset, filename = item
    fd = _SPILL_FDS.get(spill)
    if fd is None:
        fd = _SPILL_FDS[spill] = os.open(spill, os.O_RDONLY)
    data = os.pread(fd, length, offset)
    if len(data) != length:
        return None, f"spill file {spill} is shorter than expected (removed while converting?)", ""
    return encode_image_record(data, filename, label, options)
