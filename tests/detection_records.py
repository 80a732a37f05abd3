"""Tiny detection datasets built in the test run: tf.train.Examples with the Object Detection API's keys."""
from __future__ import annotations

import hashlib
import io
import os
from typing import Sequence

import numpy as np
from PIL import Image

from tfrec.codec.example import encode_example
from tfrec.io.records import write_records

NAMES = ("cat", "dog", "bird")  # ids 1, 2, 3


def jpeg(height: int, width: int, seed: int = 0, quality: int = 90) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_mask(height: int, width: int, box: Sequence[float] | None = None) -> bytes:
    """A 0/1 PNG mask of the given size, 1 inside `box` (ymin, xmin, ymax, xmax normalised)."""
    m = np.zeros((height, width), np.uint8)
    if box is not None:
        y0, x0, y1, x1 = box
        m[int(y0 * height): int(np.ceil(y1 * height)), int(x0 * width): int(np.ceil(x1 * width))] = 1
    buf = io.BytesIO()
    Image.fromarray(m).save(buf, "PNG")
    return buf.getvalue()


def example(boxes: Sequence[Sequence[float]], labels: Sequence[int], height: int = 48, width: int = 64,
            seed: int = 0, masks: bool = False, image: bytes | None = None, **extra) -> bytes:
    """One record as create_coco_tf_record.py writes it; boxes are (ymin, xmin, ymax, xmax) normalised."""
    encoded = image if image is not None else jpeg(height, width, seed)
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    features = {
        "image/height": [height], "image/width": [width],
        "image/filename": f"{seed:06d}.jpg".encode(), "image/source_id": str(seed).encode(),
        "image/key/sha256": hashlib.sha256(encoded).hexdigest().encode(),
        "image/encoded": encoded, "image/format": b"jpeg",
        "image/object/bbox/xmin": ("float", b[:, 1].tolist()), "image/object/bbox/xmax": ("float", b[:, 3].tolist()),
        "image/object/bbox/ymin": ("float", b[:, 0].tolist()), "image/object/bbox/ymax": ("float", b[:, 2].tolist()),
        "image/object/class/text": ("bytes", [NAMES[(i - 1) % len(NAMES)].encode() for i in labels]),
        "image/object/class/label": ("int64", list(labels)),
        "image/object/is_crowd": ("int64", [0] * len(labels)),
        "image/object/area": ("float", ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) * height * width).tolist()),
    }
    if masks:
        features["image/object/mask"] = ("bytes", [png_mask(height, width, box) for box in b.tolist()])
    features.update(extra)
    return encode_example({k: v for k, v in features.items() if v is not None})


def label_map_text(names: Sequence[str] = NAMES) -> str:
    return "".join(f"item {{\n  id: {i}\n  name: '{n}'\n}}\n" for i, n in enumerate(names, 1))


def write_detection(directory: str, records: Sequence[bytes], label_map: bool = True,
                    name: str = "objects.tfrecord") -> str:
    """Writes a foreign shard (no dataset.json) and, if asked, a label_map.pbtxt beside it; returns the shard."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    write_records(path, list(records))
    if label_map:
        with open(os.path.join(directory, "label_map.pbtxt"), "w") as f:
            f.write(label_map_text())
    return path


def clean_records(n: int = 6, masks: bool = False) -> list[bytes]:
    """n records with 0 to 3 objects each, boxes well inside the image."""
    out = []
    for i in range(n):
        k = i % 4
        boxes = [(0.1 + 0.05 * j, 0.1 + 0.1 * j, 0.5 + 0.1 * j, 0.6 + 0.1 * j) for j in range(k)]
        out.append(example(boxes, [1 + (i + j) % 3 for j in range(k)], seed=i, masks=masks))
    return out


# ---------------------------------------------------------------- scenes whose pixels show where the boxes are

H, W = 96, 128
COLOURS = {1: (255, 0, 0), 2: (0, 255, 0), 3: (0, 0, 255)}  # class id -> the colour of its rectangles


def scene(seed: int, fmt: str, scale: int = 1) -> tuple[bytes, list, list, list]:
    """A black image (H x W times `scale`) with 1-3 rectangles, each filled with its class's colour:
    (encoded, boxes, labels, masks)."""
    Hs, Ws = H * scale, W * scale
    rng = np.random.default_rng(seed)
    pixels = np.zeros((Hs, Ws, 3), np.uint8)
    boxes, labels, masks = [], [], []
    for k in range(1 + seed % 3):
        h, w = rng.integers(20, 48) * scale, rng.integers(24, 60) * scale
        y, x = rng.integers(0, Hs - h), rng.integers(0, Ws - w)
        label = 1 + (seed + k) % 3
        if any(not (y + h <= b[0] * Hs or b[2] * Hs <= y or x + w <= b[1] * Ws or b[3] * Ws <= x) for b in boxes):
            continue  # no overlaps: each box's pixels are its own colour
        pixels[y: y + h, x: x + w] = COLOURS[label]
        boxes.append((y / Hs, x / Ws, (y + h) / Hs, (x + w) / Ws))
        labels.append(label)
        masks.append(png_mask(Hs, Ws, boxes[-1]))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG" if fmt == "jpeg" else "PNG", **({"quality": 95} if fmt == "jpeg" else {}))
    return buf.getvalue(), boxes, labels, masks


def scenes(tmp_path, n: int = 12, fmt: str = "png", scale: int = 1) -> str:
    records = []
    for i in range(n):
        encoded, boxes, labels, masks = scene(i, fmt, scale)
        records.append(example(boxes, labels, H * scale, W * scale, seed=i, image=encoded,
                               **{"image/object/mask": ("bytes", masks)}))
    return write_detection(str(tmp_path / f"{fmt}{scale if scale > 1 else ''}"), records)


def check_colours(images, targets, masks: bool = False):
    """Every real box covers pixels of its class's colour (its inside, less a 2-pixel margin), and nothing
    but padding follows the real boxes; masks (if any) are 1 inside their box and 0 outside."""
    images = _array(images).astype(np.float32)
    images = images / 255 if images.max() > 1.5 else images
    boxes, classes, counts = (_array(targets[k]) for k in ("boxes", "classes", "num_boxes"))
    _, th, tw, _ = images.shape
    checked = 0
    for i, n in enumerate(counts):
        assert (classes[i, n:] == 0).all() and (boxes[i, n:] == 0).all()
        assert (classes[i, :n] >= 1).all()
        for b, c in zip(boxes[i, :n], classes[i, :n]):
            assert 0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1, b
            y0, x0, y1, x1 = int(b[0] * th) + 2, int(b[1] * tw) + 2, int(b[2] * th) - 2, int(b[3] * tw) - 2
            if y1 - y0 < 2 or x1 - x0 < 2:
                continue
            inside = images[i, y0:y1, x0:x1].mean(axis=(0, 1))
            want = np.array(COLOURS[int(c)]) / 255
            assert np.abs(inside - want).max() < 0.2, (i, b, c, inside)
            if masks:
                m = _array(targets["masks"])[i]
                k = list(boxes[i, :n].tolist()).index(b.tolist())
                assert m[k, y0:y1, x0:x1].mean() > 0.95
                outside = m[k].copy()
                outside[max(y0 - 4, 0): y1 + 4, max(x0 - 4, 0): x1 + 4] = 0
                assert outside.sum() == 0
            checked += 1
    return checked


def _array(x) -> np.ndarray:
    """A tf.Tensor's or an array's values as a NumPy array."""
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)
