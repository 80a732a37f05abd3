"""YOLO: `images/{split}/` + `labels/{split}/*.txt` (one `class cx cy w h` line per object, normalised to
[0, 1]) + `data.yaml` (whose `names:` is a list or an {id: name} mapping, read with PyYAML) or `classes.txt`.

YOLO's 0-based class ids become labels id + 1 (label_map.pbtxt names them). An image without a label
file is a background image (no objects). A line with more than 5 numbers (YOLO's segment format) is
boxed by its points' extent.
"""
from __future__ import annotations

import os
import zlib

from ..errors import SourceError
from ._checks import open_regular
from .imagefolder import IMAGE_EXTENSIONS
from .model import SourceData, SourceOptions
from .object_source import listed_item, object_source, task_schema
from .objects import DROPPED, ImageAnnotation, Obj, event

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def is_yolo(path: str) -> bool:
    """Whether `path` has YOLO's images/ and labels/ folders."""
    return os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "labels"))


def _names_from_yaml(file: str) -> list[str]:
    import yaml

    with open_regular(file) as f:
        try:
            data = yaml.safe_load(f.read())
        except yaml.YAMLError as e:
            raise SourceError(f"{file}: not valid YAML: {e}") from e
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if isinstance(names, dict) and names:
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError) as e:
            raise SourceError(f"{file}: names: keys must be integer class ids, found {list(names)[:5]}") from e
        if ids != list(range(len(ids))):
            raise SourceError(f"{file}: names: class ids must be 0..{len(ids) - 1} without gaps, found {ids[:10]}")
        return [str(names[i] if i in names else names[str(i)]) for i in ids]
    raise SourceError(f"{file}: no 'names:' list or {{id: name}} mapping")


def class_names(path: str) -> list[str]:
    """The class names from data.yaml (or data.yml, dataset.yaml) or classes.txt.

    Raises:
        SourceError: neither file, or one without names.
    """
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if os.path.isfile(os.path.join(path, name)):
            return _names_from_yaml(os.path.join(path, name))
    classes = os.path.join(path, "classes.txt")
    if os.path.isfile(classes):
        with open_regular(classes) as f:
            names = [line.strip() for line in f.read().decode("utf-8").splitlines() if line.strip()]
        if names:
            return names
    raise SourceError(f"{path}: no class names: expected data.yaml with 'names:' or classes.txt beside images/")


def _splits(path: str) -> dict[str, tuple[str, str]]:
    images = os.path.join(path, "images")
    subs = [d for d in sorted(os.listdir(images)) if os.path.isdir(os.path.join(images, d))]
    if not subs:
        return {"train": (images, os.path.join(path, "labels"))}
    return {SPLIT_NAMES.get(d.lower(), d.lower()): (os.path.join(images, d), os.path.join(path, "labels", d))
            for d in subs}


def _objects(label_file: str, name: str, names: list[str], skipped: list) -> tuple[tuple[Obj, ...], int]:
    """The objects of one label file (none without one) and the CRC-32 of its bytes."""
    if not os.path.isfile(label_file):
        return (), 0
    with open_regular(label_file) as f:
        raw = f.read()
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise SourceError(f"{label_file}: not UTF-8 text: {e}") from e
    objects = []
    for i, line in enumerate(l for l in lines if l.strip()):
        parts = line.split()
        try:
            cls, values = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            skipped.append(event(name, DROPPED, "unreadable label line (expected: class cx cy w h)", i, line=line[:80]))
            continue
        if not 0 <= cls < len(names):
            skipped.append(event(name, DROPPED, f"class id {cls} not in the {len(names)} names (0..{len(names) - 1})", i))
            continue
        if len(values) == 4:
            cx, cy, w, h = values
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            box = (min(xs), min(ys), max(xs), max(ys))
        else:
            skipped.append(event(name, DROPPED, f"{len(values)} numbers after the class id (expected 4)", i))
            continue
        objects.append(Obj(box, cls + 1, names[cls]))
    return tuple(objects), zlib.crc32(raw)


def read_yolo(path: str, options: SourceOptions) -> SourceData:
    """Reads a YOLO detection dataset (see the module docstring).

    Raises:
        SourceError: no images/ and labels/, no class names, no images.
    """
    if not is_yolo(path):
        raise SourceError(f"{path}: not a YOLO folder (expected images/ and labels/ beside data.yaml or classes.txt)")
    names = class_names(path)
    schema = task_schema(options, "detection")
    skipped: list = []
    splits = {}
    crc = zlib.crc32("\n".join(names).encode("utf-8"))
    for split, (images, labels) in _splits(path).items():
        items = []
        for dirpath, dirs, files in os.walk(images):
            dirs.sort()
            for f in sorted(files):
                if not f.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                full = os.path.join(dirpath, f)
                rel_label = os.path.splitext(os.path.relpath(full, images))[0] + ".txt"
                rel = os.path.relpath(full, path)
                objects, label_crc = _objects(os.path.join(labels, rel_label), rel, names, skipped)
                crc = zlib.crc32(label_crc.to_bytes(4, "little"), crc)
                item = listed_item(path, full, ImageAnnotation(f, os.path.splitext(f)[0], None, None, objects,
                                                               units="normalised"), skipped)
                if item is not None:
                    items.append(item)
        splits[split] = items
    return object_source("yolo", path, f"{len(names)} classes", splits, names, schema, options, skipped, crc)
