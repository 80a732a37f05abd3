"""COCO: `annotations/instances_{split}{year}.json` with the images in `{split}{year}/` beside `annotations/`.

Splits are named without the year (`instances_train2017.json` -> `train`). Category ids may have gaps:
they become contiguous 1-based labels in ascending COCO id order (the label map keeps the COCO names; the
lowest id is label 1). Boxes are COCO's [x, y, width, height] in pixels; crowd objects (iscrowd 1) are kept
and flagged; images without annotations are kept (with empty object lists). Polygon and RLE segmentations
become instance masks only when the schema asks for them (--schema instance_segmentation or
semantic_segmentation).
"""
from __future__ import annotations

import json
import os
import re
import zlib

from ..errors import SourceError
from ._checks import open_regular
from .model import SourceData, SourceOptions
from .object_records import wants_masks
from .object_source import listed_item, object_source, task_schema
from .objects import DROPPED, ImageAnnotation, Obj, event

ANNOTATION_FILE = re.compile(r"instances_([A-Za-z]+)(\d{4})?\.json")


def coco_annotation_files(path: str) -> dict[str, tuple[str, str]]:
    """split -> (annotation file, image folder) for each `annotations/instances_*.json` under `path`."""
    folder = os.path.join(path, "annotations")
    if not os.path.isdir(folder):
        return {}
    out = {}
    for name in sorted(os.listdir(folder)):
        m = ANNOTATION_FILE.fullmatch(name)
        if m:
            split = {"valid": "val", "validation": "val"}.get(m.group(1).lower(), m.group(1).lower())
            out[split] = (os.path.join(folder, name), os.path.join(path, m.group(1) + (m.group(2) or "")))
    return out


def _load(path: str) -> tuple[dict, int]:
    """The instances file's JSON and the CRC-32 of its bytes."""
    with open_regular(path) as f:
        raw = f.read()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: not valid COCO JSON: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise SourceError(f"{path}: not a COCO instances file: expected an object with an 'images' list")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise SourceError(f"{path}: '{key}' must be a list, found {type(data[key]).__name__}")
    return data, zlib.crc32(raw)


def _categories(files: dict[str, dict], where: dict[str, str]) -> dict[int, str]:
    """COCO category id -> name over every split (the same id must have the same name)."""
    cats: dict[int, str] = {}
    for split, data in files.items():
        for c in data.get("categories", []):
            try:
                cid, name = int(c["id"]), str(c["name"])
            except (KeyError, TypeError, ValueError) as e:
                raise SourceError(f"{where[split]}: category {c!r} has no integer 'id' and 'name'") from e
            if cats.setdefault(cid, name) != name:
                raise SourceError(f"{where[split]}: category id {cid} is {name!r} here and {cats[cid]!r} elsewhere")
    if not cats:
        raise SourceError(f"{next(iter(where.values()))}: no categories")
    return cats


def _box(a: dict) -> tuple[float, float, float, float] | None:
    """COCO's [x, y, width, height] as (x0, y0, x1, y1) floats, or None when it is not four numbers."""
    bbox = a.get("bbox")
    if type(bbox) is not list or len(bbox) != 4:
        return None
    x, y, w, h = bbox
    try:
        x, y = x + 0.0, y + 0.0  # float() of each number, and a TypeError for anything else
        return x, y, x + w + 0.0, y + h + 0.0
    except TypeError:
        return None


def _split_items(root: str, data: dict, images_dir: str, labels: dict[int, tuple[int, str]], masks: bool,
                 skipped: list) -> tuple[list[tuple], int]:
    """The items of one split and the number of annotations naming no listed image."""
    by_image: dict = {}
    for a in data.get("annotations", []):
        by_image.setdefault(a.get("image_id"), []).append(a)
    items = []
    ids = set()
    folder = os.path.basename(images_dir)
    for img in data["images"]:
        file_name = str(img.get("file_name", ""))
        full = os.path.join(images_dir, file_name)
        name = os.path.normpath(os.path.join(folder, file_name))
        ids.add(img.get("id"))
        objects = []
        for i, a in enumerate(by_image.get(img.get("id"), [])):
            cid = a.get("category_id")
            if cid not in labels:
                skipped.append(event(name, DROPPED, f"unknown category id {cid!r}", i))
                continue
            label, text = labels[cid]
            area = a.get("area")
            # positional: a NamedTuple made by keyword costs about twice as much, ~36,000 times for COCO val
            objects.append(Obj(_box(a), label, text, 1 if a.get("iscrowd") else 0,
                               float(area) if isinstance(area, (int, float)) else None, 0, 0, "",
                               a.get("segmentation") if masks else None))
        ann = ImageAnnotation(file_name, str(img.get("id", file_name)), _int(img.get("width")), _int(img.get("height")),
                              tuple(objects))
        item = listed_item(root, full, ann, skipped, name)
        if item is not None:
            items.append(item)
    orphans = sum(len(v) for k, v in by_image.items() if k not in ids)
    return items, orphans


def _int(v) -> int | None:
    return int(v) if isinstance(v, (int, float)) and v > 0 else None


def read_coco(path: str, options: SourceOptions) -> SourceData:
    """Reads a COCO detection dataset (see the module docstring for the layout and the label rule).

    Raises:
        SourceError: no annotations/instances_*.json, unreadable JSON, categories that disagree, no images.
    """
    found = coco_annotation_files(path)
    if not found:
        raise SourceError(f"{path}: no COCO annotations (expected {path}/annotations/instances_<split><year>.json "
                          "with the images in <split><year>/)")
    for split, (_, images) in found.items():
        if not os.path.isdir(images):
            raise SourceError(f"{images}: no such image folder for split {split!r} (COCO keeps them beside annotations/)")
    loaded = {split: _load(f) for split, (f, _) in found.items()}
    data = {split: d for split, (d, _) in loaded.items()}
    crc = 0
    for _, c in loaded.values():
        crc = zlib.crc32(c.to_bytes(4, "little"), crc)
    cats = _categories(data, {s: f for s, (f, _) in found.items()})
    ids = sorted(cats)
    labels = {cid: (i + 1, cats[cid]) for i, cid in enumerate(ids)}
    schema = task_schema(options, "detection")
    skipped: list = []
    splits, warnings = {}, []
    for split, (file, images) in found.items():
        splits[split], orphans = _split_items(path, data[split], images, labels, wants_masks(schema), skipped)
        if orphans:
            warnings.append(f"{file}: {orphans:,} annotations name an image id that is not in its images list; "
                            "left out")
    notes = []
    if ids != list(range(ids[0], ids[0] + len(ids))) or ids[0] != 1:
        notes.append(f"COCO category ids {ids[0]}..{ids[-1]} (with gaps) mapped to labels 1..{len(ids)} in id order; "
                     "label_map.pbtxt gives each label its COCO name")
    return object_source("coco", path, f"{len(ids)} categories", splits, [cats[c] for c in ids], schema, options,
                         skipped, crc, warnings, notes)
