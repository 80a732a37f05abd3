"""Pascal VOC: `Annotations/*.xml` + `JPEGImages/` + `ImageSets/Main/{train,val,test}.txt`.

Classes are the object names found, sorted (the 20 VOC classes give pascal_label_map.pbtxt's ids 1..20).
Boxes are VOC's pixel xmin/ymin/xmax/ymax divided by the image size as create_pascal_tf_record.py does;
difficult and truncated objects are kept and flagged; pose becomes image/object/view. Without
ImageSets/Main, every annotation file is one `train` split; `trainval.txt` is used only where train.txt is not.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zlib

from ..errors import SourceError
from ._checks import open_regular
from .model import SourceData, SourceOptions
from .object_source import listed_item, object_source, task_schema
from .objects import ImageAnnotation, Obj

SPLITS = ("train", "val", "test")


def is_voc(path: str) -> bool:
    """Whether `path` has VOC's Annotations/ and JPEGImages/ folders."""
    return os.path.isdir(os.path.join(path, "Annotations")) and os.path.isdir(os.path.join(path, "JPEGImages"))


def _split_ids(path: str) -> dict[str, list[str]]:
    main = os.path.join(path, "ImageSets", "Main")
    out = {}
    for split in SPLITS:
        f = os.path.join(main, f"{split}.txt")
        if split == "train" and not os.path.isfile(f) and os.path.isfile(os.path.join(main, "trainval.txt")):
            f = os.path.join(main, "trainval.txt")
        if os.path.isfile(f):
            with open_regular(f) as fh:
                out[split] = [line.split()[0] for line in fh.read().decode("utf-8").splitlines() if line.strip()]
    if not out:
        names = sorted(n[:-4] for n in os.listdir(os.path.join(path, "Annotations")) if n.endswith(".xml"))
        out["train"] = names
    return out


def _text(el, tag: str, default: str = "") -> str:
    found = el.find(tag)
    return found.text.strip() if found is not None and found.text else default


def _number(el, tag: str) -> float | None:
    text = _text(el, tag)
    try:
        return float(text)
    except ValueError:
        return None


def _parse(xml_path: str) -> tuple[str, int | None, int | None, list[dict], int]:
    """(filename, width, height, objects, CRC-32 of the file's bytes) of one annotation file."""
    try:
        with open_regular(xml_path) as f:
            raw = f.read()
        root = ET.fromstring(raw)
    except ET.ParseError as e:
        raise SourceError(f"{xml_path}: not valid XML: {e}") from e
    size = root.find("size")
    width = int(_number(size, "width") or 0) if size is not None else 0
    height = int(_number(size, "height") or 0) if size is not None else 0
    objects = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        coords = tuple(_number(box, k) for k in ("xmin", "ymin", "xmax", "ymax")) if box is not None else None
        objects.append({"name": _text(obj, "name"), "box": None if coords is None or None in coords else coords,
                        "difficult": int(_text(obj, "difficult", "0") or 0), "truncated": int(_text(obj, "truncated", "0") or 0),
                        "pose": _text(obj, "pose")})
    return _text(root, "filename"), width or None, height or None, objects, zlib.crc32(raw)


def read_voc(path: str, options: SourceOptions) -> SourceData:
    """Reads a Pascal VOC detection dataset (see the module docstring).

    Raises:
        SourceError: no Annotations/ or JPEGImages/, an XML file that does not parse, no images.
    """
    if not is_voc(path):
        raise SourceError(f"{path}: not a Pascal VOC folder (expected Annotations/*.xml and JPEGImages/)")
    parsed, skipped = {}, []
    split_ids = _split_ids(path)
    for ids in split_ids.values():
        for i in ids:
            if i not in parsed:
                xml_path = os.path.join(path, "Annotations", f"{i}.xml")
                if not os.path.isfile(xml_path):
                    skipped.append({"path": os.path.relpath(xml_path, path), "reason": "listed in ImageSets but missing"})
                    parsed[i] = None
                    continue
                parsed[i] = _parse(xml_path)
    names = sorted({o["name"] for p in parsed.values() if p for o in p[3]})
    labels = {n: i + 1 for i, n in enumerate(names)}
    schema = task_schema(options, "detection", voc_extras=True)
    splits = {}
    for split, ids in split_ids.items():
        items = []
        for i in ids:
            if parsed.get(i) is None:
                continue
            filename, width, height, objs, _ = parsed[i]
            filename = filename or f"{i}.jpg"
            objects = tuple(Obj(o["box"], labels[o["name"]], o["name"], difficult=o["difficult"],
                                truncated=o["truncated"], view=o["pose"]) for o in objs)
            ann = ImageAnnotation(filename, i, width, height, objects)
            item = listed_item(path, os.path.join(path, "JPEGImages", filename), ann, skipped)
            if item is not None:
                items.append(item)
        splits[split] = items
    crc = zlib.crc32(repr(split_ids).encode())
    for p in parsed.values():
        crc = zlib.crc32(p[4].to_bytes(4, "little") if p else b"-", crc)
    return object_source("voc", path, f"{len(names)} classes", splits, names, schema, options, skipped, crc)
