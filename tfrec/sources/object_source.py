"""What every detection-layout reader (COCO, VOC, YOLO, CSV) hands to the writer: its splits of per-image items,
the task's schema (optional features it cannot fill left out) and the worker that makes each record."""
from __future__ import annotations

import functools
import os
import zlib
from dataclasses import replace
from typing import Sequence

import numpy as np

from ..codec.schema import Schema, load_schema
from ..errors import SourceError, UsageError
from .model import SourceData, SourceOptions, SplitData
from .object_records import WorkerOptions, make_object_record
from .objects import ImageAnnotation

# Features of the detection schema only Pascal VOC fills; other layouts leave them out of the schema.
VOC_ONLY = ("image/object/difficult", "image/object/truncated", "image/object/view")


def task_schema(options: SourceOptions, default: str, voc_extras: bool = False) -> Schema:
    """The schema to write: --schema when given, else `default` without the VOC-only features it cannot fill."""
    if options.schema is not None:
        return options.schema
    schema = load_schema(default)
    if not voc_extras:
        schema = replace(schema, features=tuple(f for f in schema.features if f.name not in VOC_ONLY))
    return schema


def task_of(schema: Schema) -> str:
    """The task a schema writes: its name when it is one of the built-in tasks, else from its keys."""
    names = {f.name for f in schema.features}
    if "image/segmentation/class/encoded" in names:
        return "semantic_segmentation"
    if "image/object/mask" in names:
        return "instance_segmentation"
    if "image/class/label" in names and "image/object/class/label" not in names:
        return "multi_label"
    return "detection"


def listed_item(root: str, full: str, ann: ImageAnnotation, skipped: list, name: str = "") -> tuple | None:
    """(path, name, '', size, annotation) for a listed image file, or None (a skip entry added); `name` is
    the file's path relative to `root`, when the caller knows it (os.path.relpath is slow by the thousand)."""
    name = name or os.path.relpath(full, root)
    try:
        size = os.stat(full).st_size
    except OSError as e:
        skipped.append({"path": name, "reason": f"image listed in the annotations but cannot be read: {e.strerror}"})
        return None
    return full, name, "", size, ann  # the annotations' content is in the split's content_id (object_source)


def object_source(kind: str, path: str, what: str, splits: dict[str, list[tuple]], class_names: Sequence[str],
                  schema: Schema, options: SourceOptions, skipped: list, annotation_crc: int,
                  warnings: Sequence[str] = (), notes: Sequence[str] = ()) -> SourceData:
    """The SourceData of a detection layout.

    `annotation_crc` is a CRC-32 of the annotation files' bytes: with the images' names and sizes it is each
    split's content_id, so --resume reuses no shard written from other annotations.

    Raises:
        UsageError: --resize (boxes and masks would have to move with the pixels; not offered yet).
        SourceError: no images in any split; more than 255 classes for a semantic (8-bit PNG) mask.
    """
    if options.resize:
        raise UsageError(f"--resize is not offered for {kind} sources: the stored images keep their size and the "
                         "boxes stay normalised; resize when reading (tfrec.read)")
    if "image/segmentation/class/encoded" in schema and len(class_names) > 255:
        raise SourceError(f"{path}: {len(class_names)} classes do not fit the 8-bit PNG class mask (255 at most)")
    out = {}
    for name, items in splits.items():
        if not items:
            continue
        labels = np.array([_stratum(it[4]) for it in items], np.int64)
        listing = zlib.crc32("\0".join(f"{it[1]}\0{it[3]}" for it in items).encode("utf-8", "surrogateescape"))
        out[name] = SplitData(name, labels, items=items, source_bytes=sum(it[3] for it in items),
                              content_id=f"annotations:{annotation_crc:08x},images:{listing:08x}")
    if not out:
        raise SourceError(f"{path}: the {kind} annotations list no image that exists")
    worker = WorkerOptions.of(schema, options.encode, options.quality, options.max_pixels, options.exif_transpose)
    return SourceData(
        kind=kind, description=f"{kind} {os.path.abspath(path)} ({what})", schema=schema, splits=out,
        make_record=functools.partial(make_object_record, options=worker), skipped=skipped,
        name=os.path.basename(os.path.abspath(path)), warnings=tuple(warnings), notes=tuple(notes),
        task=task_of(schema), class_names=tuple(class_names),
    )


def _stratum(ann: ImageAnnotation) -> int:
    """The class --split stratifies an image by: its first object's (or first label's), else 0."""
    if ann.objects:
        return max(ann.objects[0].label - 1, 0)
    return ann.labels[0] if ann.labels else 0
