"""CSV manifests: the "TensorFlow Object Detection CSV" layout (`filename,width,height,class,xmin,ymin,xmax,ymax`,
one row per object, pixels) and `filename,label[,label...]` for classification and multi-label.

SRC is a .csv file (one `train` split), or a folder of them (one split per file, named by its stem:
train.csv, val.csv; a folder with one CSV of another name is split `train`; Roboflow's
`{split}/_annotations.csv` folders too). Image paths are relative to
the CSV's folder. Detection: classes sorted by name become labels 1..K; a row with an empty class is an
image without objects. Labels: classes sorted by name become ids 0..K-1; when any row has more than one
label the dataset is multi-label (schema multi_label: image/class/label holds 0-based ids), else it is
an ordinary classification dataset (the image folder schema).
"""
from __future__ import annotations

import csv
import functools
import io
import os
import zlib

import numpy as np

from ..codec.schema import load_schema
from ..errors import SourceError, UsageError
from ._checks import open_regular
from .imagefolder import _WorkerOptions, make_image_record, reencoded_schema
from .model import SourceData, SourceOptions, SplitData
from .object_source import listed_item, object_source, task_schema
from .objects import ImageAnnotation, Obj

DETECTION_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
               "_annotations": "train"}


def csv_files(path: str) -> dict[str, str]:
    """split -> CSV file: the file itself, the .csv files in a folder, or `{split}/*.csv` one level down."""
    if os.path.isfile(path):
        return {"train": path}
    direct = sorted(n for n in os.listdir(path) if n.lower().endswith(".csv"))
    if len(direct) == 1:  # one manifest: split 'train' unless its name says val or test (labels.csv -> train)
        stem = direct[0][:-4].lower()
        return {SPLIT_NAMES.get(stem, "train"): os.path.join(path, direct[0])}
    if direct:
        return {SPLIT_NAMES.get(n[:-4].lower(), n[:-4].lower()): os.path.join(path, n) for n in direct}
    out = {}
    for d in sorted(os.listdir(path)):
        sub = os.path.join(path, d)
        if os.path.isdir(sub) and d.lower() in SPLIT_NAMES:
            inner = sorted(n for n in os.listdir(sub) if n.lower().endswith(".csv"))
            if len(inner) == 1:
                out[SPLIT_NAMES[d.lower()]] = os.path.join(sub, inner[0])
    return out


def _rows(file: str) -> tuple[list[str], list[list[str]], int]:
    """The header, the rows, and the CRC-32 of the file's bytes."""
    with open_regular(file) as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SourceError(f"{file}: not UTF-8 text: {e}") from e
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise SourceError(f"{file}: empty CSV")
    header = [c.strip().lower() for c in rows[0]]
    if not header or header[0] not in ("filename", "file", "path", "image"):
        raise SourceError(f"{file}: the first row must be a header starting with 'filename' (found {rows[0][:4]})")
    return header, rows[1:], zlib.crc32(raw)


def _number(value: str, file: str, line: int, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SourceError(f"{file}: line {line}: column {column!r} is {value!r}, not a number") from None


def _detection_split(file: str, header: list[str], rows: list[list[str]]) -> dict[str, dict]:
    """image name -> {'width', 'height', 'objects': [(class, box)]} in the order of first appearance."""
    col = {name: header.index(name) for name in DETECTION_COLUMNS if name in header}
    missing = [c for c in DETECTION_COLUMNS[1:] if c not in col]
    if missing:
        raise SourceError(f"{file}: detection CSV lacks columns {missing} (expected {','.join(DETECTION_COLUMNS)})")
    images: dict[str, dict] = {}
    for n, row in enumerate(rows, start=2):
        row = row + [""] * (len(header) - len(row))
        name = row[0].strip()
        entry = images.setdefault(name, {"width": None, "height": None, "objects": []})
        if row[col["width"]].strip():
            entry["width"] = int(_number(row[col["width"]], file, n, "width"))
            entry["height"] = int(_number(row[col["height"]], file, n, "height"))
        cls = row[col["class"]].strip()
        if cls:
            box = tuple(_number(row[col[k]], file, n, k) for k in ("xmin", "ymin", "xmax", "ymax"))
            entry["objects"].append((cls, box))
    return images


def read_csv_manifest(path: str, options: SourceOptions) -> SourceData:
    """Reads a CSV manifest (see the module docstring for both layouts).

    Raises:
        SourceError: no CSV, a header that is neither layout, a non-numeric box, no images.
    """
    files = csv_files(path)
    if not files:
        raise SourceError(f"{path}: no .csv manifest (a file, a folder of them, or {{split}}/_annotations.csv)")
    rows = {split: _rows(f) for split, f in files.items()}
    parsed = {split: (h, r) for split, (h, r, _) in rows.items()}
    crc = 0
    for split, (_, _, c) in sorted(rows.items()):
        crc = zlib.crc32(f"{split}:{c:08x}".encode(), crc)
    kinds = {"xmin" in h for h, _ in parsed.values()}
    if len(kinds) > 1:
        raise SourceError(f"{path}: some CSV files are detection manifests and some label lists; give one kind")
    if kinds == {True}:
        return _read_detection(path, files, parsed, options, crc)
    return _read_labels(path, files, parsed, options, crc)


def _read_detection(path: str, files: dict, parsed: dict, options: SourceOptions, crc: int) -> SourceData:
    tables = {split: _detection_split(files[split], h, rows) for split, (h, rows) in parsed.items()}
    names = sorted({cls for t in tables.values() for e in t.values() for cls, _ in e["objects"]})
    labels = {n: i + 1 for i, n in enumerate(names)}
    schema = task_schema(options, "detection")
    skipped: list = []
    splits = {}
    for split, table in tables.items():
        root = os.path.dirname(os.path.abspath(files[split]))
        items = []
        for name, e in table.items():
            objects = tuple(Obj(box, labels[cls], cls) for cls, box in e["objects"])
            ann = ImageAnnotation(name, name, e["width"], e["height"], objects)
            item = listed_item(root, os.path.join(root, name), ann, skipped)
            if item is not None:
                items.append(item)
        splits[split] = items
    return object_source("csv", path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)),
                         f"{len(names)} classes", splits, names, schema, options, skipped, crc)


def _read_labels(path: str, files: dict, parsed: dict, options: SourceOptions, crc: int) -> SourceData:
    """`filename,label[,label...]`: classification (the image folder schema) or multi-label (schema multi_label)."""
    tables = {split: [(r[0].strip(), [c.strip() for c in r[1:] if c.strip()]) for r in rows]
              for split, (_, rows) in parsed.items()}
    names = sorted({lab for t in tables.values() for _, labs in t for lab in labs})
    ids = {n: i for i, n in enumerate(names)}
    multi = any(len(labs) > 1 for t in tables.values() for _, labs in t)
    if not multi and any(not labs for t in tables.values() for _, labs in t):
        multi = True  # an image with no label fits only a list of labels
    if options.resize and multi:
        raise UsageError("--resize is not offered for multi-label CSV sources yet; resize when reading")
    skipped: list = []
    splits: dict = {}
    for split, table in tables.items():
        root = os.path.dirname(os.path.abspath(files[split]))
        items = []
        for name, labs in table:
            full = os.path.join(root, name)
            if multi:
                ann = ImageAnnotation(name, name, None, None, labels=tuple(ids[lab] for lab in labs),
                                      label_texts=tuple(labs))
                item = listed_item(root, full, ann, skipped)
            else:
                item = _classification_item(root, full, ids[labs[0]], skipped)
            if item is not None:
                items.append(item)
        splits[split] = items
    shown = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if multi:
        return object_source("csv", shown, f"{len(names)} labels, multi-label", splits, names,
                             task_schema(options, "multi_label"), options, skipped, crc)
    return _classification_source(shown, splits, names, options, skipped)


def _classification_item(root: str, full: str, label: int, skipped: list) -> tuple | None:
    name = os.path.relpath(full, root)
    try:
        size = os.stat(full).st_size
    except OSError as e:
        skipped.append({"path": name, "reason": f"image listed in the CSV but cannot be read: {e.strerror}"})
        return None
    return full, name, label, size


def _classification_source(path: str, splits: dict, names: list[str], options: SourceOptions,
                           skipped: list) -> SourceData:
    schema = reencoded_schema((options.schema or load_schema("imagefolder")).with_class_names(names), options)
    out = {s: SplitData(s, np.array([it[2] for it in items], np.int64), items=items,
                        source_bytes=sum(it[3] for it in items)) for s, items in splits.items() if items}
    if not out:
        raise SourceError(f"{path}: the CSV lists no image that exists")
    return SourceData(
        kind="csv", description=f"csv {os.path.abspath(path)} ({len(names)} classes)", schema=schema, splits=out,
        make_record=functools.partial(make_image_record, options=_WorkerOptions.of(options, schema)),
        skipped=skipped, name=os.path.basename(os.path.abspath(path)), labels="",
    )
