"""Tiny detection sources written at test time: COCO, VOC, YOLO and CSV layouts of the same few images.

Every layout holds the same scene: image i is a W x H JPEG (sizes vary) with known boxes in pixels; one
image has no objects. `SCENES` is the ground truth the tests compare against.
"""
from __future__ import annotations

import io
import json
import os

import numpy as np
from PIL import Image

# (file, width, height, [(class name, x0, y0, x1, y1) in pixels])
SCENES = [
    ("a.jpg", 40, 30, [("cat", 2.0, 3.0, 20.0, 25.0), ("dog", 21.5, 4.25, 39.0, 29.0)]),
    ("b.jpg", 32, 32, [("person", 0.0, 0.0, 32.0, 32.0)]),
    ("c.jpg", 24, 36, []),  # no objects: kept, with empty lists
    ("d.jpg", 50, 20, [("dog", 10.0, 2.0, 30.0, 18.0), ("cat", 1.0, 1.0, 9.0, 9.0), ("person", 31, 5, 49, 19)]),
]
# COCO category ids with a gap; label map order follows the ids: dog=1 (id 3), cat=2 (id 7), person=3 (id 18)
COCO_IDS = {"dog": 3, "cat": 7, "person": 18}


def jpeg(width: int, height: int, seed: int = 0, exif_orientation: int | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    img = Image.fromarray(arr)
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    else:
        img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _write_images(folder, scenes=SCENES) -> None:
    os.makedirs(folder, exist_ok=True)
    for i, (name, w, h, _) in enumerate(scenes):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(jpeg(w, h, seed=i))


def write_coco(root, split: str = "val", year: str = "2017", scenes=SCENES, extra_annotations=(),
               segmentation: bool = False) -> str:
    """COCO: annotations/instances_{split}{year}.json + {split}{year}/ images."""
    root = str(root)
    _write_images(os.path.join(root, f"{split}{year}"), scenes)
    images, anns = [], []
    for i, (name, w, h, objs) in enumerate(scenes):
        images.append({"id": 100 + i, "file_name": name, "width": w, "height": h})
        for cls, x0, y0, x1, y1 in objs:
            a = {"id": len(anns) + 1, "image_id": 100 + i, "category_id": COCO_IDS[cls],
                 "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            if segmentation:
                a["segmentation"] = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            anns.append(a)
    anns += list(extra_annotations)
    cats = [{"id": cid, "name": n, "supercategory": "thing"} for n, cid in sorted(COCO_IDS.items(), key=lambda t: t[1])]
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    with open(os.path.join(root, "annotations", f"instances_{split}{year}.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    return root


def write_voc(root, scenes=SCENES) -> str:
    """Pascal VOC: Annotations/*.xml + JPEGImages/ + ImageSets/Main/{train,val}.txt."""
    root = str(root)
    _write_images(os.path.join(root, "JPEGImages"), scenes)
    os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    for i, (name, w, h, objs) in enumerate(scenes):
        parts = [f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height>"
                 "<depth>3</depth></size>"]
        for j, (cls, x0, y0, x1, y1) in enumerate(objs):
            parts.append(f"<object><name>{cls}</name><pose>{'Left' if j else 'Frontal'}</pose>"
                         f"<truncated>{j % 2}</truncated><difficult>{int(cls == 'person')}</difficult>"
                         f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")
        parts.append("</annotation>")
        with open(os.path.join(root, "Annotations", name[:-4] + ".xml"), "w") as f:
            f.write("".join(parts))
    stems = [s[0][:-4] for s in scenes]
    with open(os.path.join(root, "ImageSets", "Main", "train.txt"), "w") as f:
        f.write("\n".join(stems[:-1]) + "\n")
    with open(os.path.join(root, "ImageSets", "Main", "val.txt"), "w") as f:
        f.write(stems[-1] + "\n")
    return root


YOLO_NAMES = ["cat", "dog", "person"]


def write_yolo(root, names_as: str = "list", scenes=SCENES) -> str:
    """YOLO: images/train + labels/train + data.yaml (names as a list or an {id: name} mapping) or classes.txt."""
    root = str(root)
    _write_images(os.path.join(root, "images", "train"), scenes)
    os.makedirs(os.path.join(root, "labels", "train"), exist_ok=True)
    for name, w, h, objs in scenes:
        if not objs:
            continue  # a background image: no label file at all
        lines = [f"{YOLO_NAMES.index(c)} {(x0 + x1) / 2 / w} {(y0 + y1) / 2 / h} {(x1 - x0) / w} {(y1 - y0) / h}"
                 for c, x0, y0, x1, y1 in objs]
        with open(os.path.join(root, "labels", "train", name[:-4] + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    if names_as == "list":
        text = "path: .\ntrain: images/train\nnames: [" + ", ".join(YOLO_NAMES) + "]\n"
    elif names_as == "mapping":
        text = "names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(YOLO_NAMES))
    if names_as == "classes.txt":
        with open(os.path.join(root, "classes.txt"), "w") as f:
            f.write("\n".join(YOLO_NAMES) + "\n")
    else:
        with open(os.path.join(root, "data.yaml"), "w") as f:
            f.write(text)
    return root


def write_csv(root, scenes=SCENES) -> str:
    """The TensorFlow Object Detection CSV layout: train.csv beside the images."""
    root = str(root)
    _write_images(root, scenes)
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    for name, w, h, objs in scenes:
        if not objs:
            rows.append(f"{name},{w},{h},,,,,")
        rows += [f"{name},{w},{h},{c},{x0},{y0},{x1},{y1}" for c, x0, y0, x1, y1 in objs]
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return root


def write_label_csv(root, multi: bool) -> str:
    """`filename,label[,label...]`: every scene image with its classes (one, or all of them when multi)."""
    root = str(root)
    _write_images(root)
    rows = ["filename,label"]
    for name, _, _, objs in SCENES:
        classes = sorted({c for c, *_ in objs}) or ["none"]
        rows.append(",".join([name] + (classes if multi else classes[:1])))
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return root
