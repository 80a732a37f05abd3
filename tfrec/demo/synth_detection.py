"""A generated detection set: coloured squares, circles and triangles on noisy backgrounds, with their boxes and
polygons known exactly, written in the COCO layout (annotations/instances_{split}.json + {split}/)."""
from __future__ import annotations

import json
import math
import os

import numpy as np

CLASSES = ("square", "circle", "triangle")
# COCO category ids with a gap, as real COCO files have them: labels 1..3 in the label map follow id order.
CATEGORY_IDS = {"square": 1, "circle": 3, "triangle": 7}
EMPTY_EVERY = 10  # every 10th image has no shapes (kept by the converter, with empty object lists)


def _shape(rng: np.random.Generator, kind: str, w: int, h: int) -> tuple[list[float], list[tuple[float, float]]]:
    """(box [x0, y0, x1, y1] in pixel edges, polygon vertices) of one shape that fits inside a w x h image."""
    size = int(rng.integers(max(8, min(w, h) // 6), max(10, min(w, h) // 2)))
    x0, y0 = int(rng.integers(0, w - size)), int(rng.integers(0, h - size))
    x1, y1 = x0 + size, y0 + size
    if kind == "square":
        poly = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    elif kind == "circle":
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, size / 2
        poly = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    else:
        poly = [((x0 + x1) / 2, y0), (x1, y1), (x0, y1)]
    return [float(x0), float(y0), float(x1), float(y1)], [(float(x), float(y)) for x, y in poly]


def polygon_area(poly: list[tuple[float, float]]) -> float:
    """The polygon's area (shoelace formula): COCO's `area` is the object's, not its box's."""
    xs, ys = np.array(poly).T
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2)


def _draw(img, kind: str, box: list[float], poly: list[tuple[float, float]], colour: tuple[int, int, int]) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    if kind == "square":
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=colour)  # Pillow's rectangle includes its far edge
    elif kind == "circle":
        draw.ellipse([x0, y0, x1 - 1, y1 - 1], fill=colour)
    else:
        draw.polygon([(min(x, x1 - 1), min(y, y1 - 1)) for x, y in poly], fill=colour)


def make_scene(rng: np.random.Generator, w: int, h: int, empty: bool):
    """(RGB image, [(class, box, polygon)]) of one generated scene."""
    from PIL import Image

    base = rng.integers(90, 140, 3)
    arr = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    objects = []
    for _ in range(0 if empty else int(rng.integers(1, 4))):
        kind = CLASSES[int(rng.integers(len(CLASSES)))]
        box, poly = _shape(rng, kind, w, h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        _draw(img, kind, box, poly, colour)
        objects.append((kind, box, poly))
    return img, objects


def write_detection_coco(root: str, n_train: int = 160, n_val: int = 40, seed: int = 0,
                         size: tuple[int, int] = (96, 72)) -> str:
    """Writes the generated scenes in the COCO layout under `root` (splits 'train' and 'val'); returns root.

    Boxes are COCO's [x, y, width, height] in pixels; every shape also has its polygon (segmentation), so
    `tfrec convert ROOT OUT --schema instance_segmentation` gives masks. Image sizes vary around `size`.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    cats = [{"id": CATEGORY_IDS[c], "name": c, "supercategory": "shape"} for c in CLASSES]
    for split, n in (("train", n_train), ("val", n_val)):
        folder = os.path.join(root, split)
        os.makedirs(folder, exist_ok=True)
        images, anns = [], []
        for i in range(n):
            w = int(size[0] + rng.integers(-size[0] // 4, size[0] // 4 + 1))
            h = int(size[1] + rng.integers(-size[1] // 4, size[1] // 4 + 1))
            img, objects = make_scene(rng, w, h, empty=i % EMPTY_EVERY == EMPTY_EVERY - 1)
            name = f"{split}_{i:05d}.jpg"
            img.save(os.path.join(folder, name), "JPEG", quality=90)
            images.append({"id": len(images) + 1, "file_name": name, "width": w, "height": h})
            for kind, (x0, y0, x1, y1), poly in objects:
                anns.append({"id": len(anns) + 1, "image_id": len(images), "category_id": CATEGORY_IDS[kind],
                             "bbox": [x0, y0, x1 - x0, y1 - y0], "area": round(polygon_area(poly), 2), "iscrowd": 0,
                             "segmentation": [[v for xy in poly for v in xy]]})
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    return root
