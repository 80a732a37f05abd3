"""Detection records without TensorFlow: boxes moved with NumPy as the pixels move, and padded batches.

The same rules as the tf.data reader (tfrec/read/detection.py), for the framework-neutral readers:
boxes are (ymin, xmin, ymax, xmax) normalised, classes 1-based; a crop window keeps a box, clipped,
while at least min_box_visible (25%) of its area stays inside it, else drops it (boxes of no area
are dropped too); fit='pad' scales and offsets boxes as the pixels are padded; a horizontal flip
mirrors them. DetectionAugment decodes one record's image (a JPEG at the DCT scale its window allows,
see access/augment.py) and gives the image, boxes, classes and, if asked, masks; pad_objects makes a
batch's [B, N, 4] boxes, [B, N] classes (0 = padding) and [B] counts.

    augment = DetectionAugment("imagenet", (224, 224))
    sample = augment(record_bytes_of_the_image, objects_of(example), rng)  # a numpy.random.Generator
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..check import Objects, objects_of  # noqa: F401  objects_of: the records' objects, re-exported for callers
from ..errors import TfrecError
from . import decode as image_decode
from .augment import Augment, Window, random_crop_window

PRESETS = ("none", "imagenet")  # imagenet: random resized crop + horizontal flip; none: only the resize
MIN_BOX_VISIBLE = 0.25  # as tfrec.read.options.MIN_BOX_VISIBLE (access/ imports nothing from read/)


def crop_boxes(boxes: np.ndarray, window: Window, shape: tuple[int, int],
               min_visible: float = MIN_BOX_VISIBLE) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [n, 4] of an image of `shape` (H, W) moved into `window` (top, left, height, width) in pixels:
    (the boxes clipped to [0, 1] in the window's frame, which are kept)."""
    top, left, h, w = window
    hw = np.array([shape[0], shape[1], shape[0], shape[1]], np.float32)
    rel = (np.asarray(boxes, np.float32) * hw - np.array([top, left, top, left], np.float32)) / \
        np.array([h, w, h, w], np.float32)
    clipped = np.clip(rel, 0.0, 1.0)
    area = (rel[:, 2] - rel[:, 0]) * (rel[:, 3] - rel[:, 1])
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    return clipped, (visible > 0) & (visible >= min_visible * area)


def pad_boxes(boxes: np.ndarray, inner: tuple[int, int], offset: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Boxes of a picture resized to `inner` (h, w) and placed at `offset` (top, left) on a canvas of `size`."""
    scale = np.array([inner[0], inner[1], inner[0], inner[1]], np.float32)
    shift = np.array([offset[0], offset[1], offset[0], offset[1]], np.float32)
    return (np.asarray(boxes, np.float32) * scale + shift) / np.array([size[0], size[1], size[0], size[1]], np.float32)


def flip_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes mirrored left-right."""
    b = np.asarray(boxes, np.float32)
    return np.stack([b[:, 0], 1 - b[:, 3], b[:, 2], 1 - b[:, 1]], axis=1)


def pad_objects(boxes: Sequence[np.ndarray], classes: Sequence[np.ndarray], max_boxes: int | None = None,
                masks: Sequence[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A batch's objects padded to one count: boxes [B, N, 4] float32, classes [B, N] int64 (0 = padding),
    num_boxes [B] int32 (and masks [B, N, H, W] uint8); N = max_boxes (a record with more keeps its first
    max_boxes), else the most boxes of a record in the batch."""
    counts = np.array([len(b) for b in boxes], np.int32)
    n = max_boxes if max_boxes is not None else int(counts.max(initial=0))
    counts = np.minimum(counts, n)
    out = {"boxes": np.zeros((len(boxes), n, 4), np.float32), "classes": np.zeros((len(boxes), n), np.int64),
           "num_boxes": counts}
    if masks is not None:
        size = next((m.shape[1:] for m in masks if m.ndim == 3), (0, 0))
        out["masks"] = np.zeros((len(boxes), n, *size), np.uint8)
    for i, k in enumerate(counts):
        out["boxes"][i, :k] = np.asarray(boxes[i], np.float32).reshape(-1, 4)[:k]
        out["classes"][i, :k] = np.asarray(classes[i])[:k]
        if masks is not None and k:
            out["masks"][i, :k] = masks[i][:k]
    return out


def _pad_offset(size: tuple[int, int], window_hw: tuple[int, int], inner: tuple[int, int]) -> tuple[int, int]:
    """(top, left) of the resized picture on the padded canvas: access.augment._pad_to's integer steps."""
    (th, tw), (h, w) = size, window_hw
    return (0, (tw * h - w * th) // (2 * h)) if inner[0] == th else ((th * w - h * tw) // (2 * w), 0)


def _decode_masks(values: Sequence[bytes], shape: tuple[int, int]) -> np.ndarray:
    """PNG masks -> [n, H, W] uint8. Raises TfrecError for a mask not of the image's size (verify names it)."""
    from PIL import Image

    out = np.zeros((len(values), *shape), np.uint8)
    for k, v in enumerate(values):
        with Image.open(io.BytesIO(v)) as m:
            mask = np.asarray(m.convert("L"))
        if mask.shape != tuple(shape):
            raise TfrecError(f"mask of object {k} is {mask.shape[0]}x{mask.shape[1]}; the image is "
                             f"{shape[0]}x{shape[1]}")
        out[k] = mask
    return out


def _nearest(masks: np.ndarray, window: Window, size: tuple[int, int]) -> np.ndarray:
    """Masks [n, H, W]: the window cut out and resized to size (nearest neighbour, half-pixel centres)."""
    top, left, h, w = window
    rows = top + np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(int), h - 1)
    cols = left + np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(int), w - 1)
    return masks[:, rows[:, None], cols[None, :]]


@dataclass(frozen=True)
class DetectionAugment:
    """A detection preset bound to an output size and fit: (image bytes, Objects, rng) -> a sample dict
    {'image' [H, W, C] uint8, 'boxes' [n, 4] float32, 'classes' [n] int64[, 'masks' [n, H, W] uint8]}. Picklable.

    The image goes through access.augment's resize (and decode at a DCT scale for JPEGs); the random
    resized crop's window is drawn as there (the imagenet preset's), then the flip (probability 1/2).
    """

    preset: str = "none"
    image_size: tuple[int, int] | None = None
    fit: str = "stretch"
    min_box_visible: float = MIN_BOX_VISIBLE
    masks: bool = False
    channels: int | None = 3

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise TfrecError(f"detection augmentation {self.preset!r}: supported presets are {', '.join(PRESETS)} "
                             "(the others move pixels without the boxes)")
        if not 0 < self.min_box_visible <= 1:
            raise TfrecError(f"min_box_visible: expected a fraction in (0, 1], found {self.min_box_visible!r}")
        if self.preset == "none" and self.image_size is None:
            raise TfrecError("detection batches need one image size: give image_size=(height, width)")

    @property
    def _resize(self) -> Augment:
        size = self.image_size or (224, 224)
        return Augment("none", tuple(size), "stretch" if self.preset == "imagenet" else self.fit)

    def __call__(self, data: bytes, objects: Objects, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Raises: ImageDecodeError for bytes that do not decode (access.decode.decode_image)."""
        resize = self._resize
        size = image_decode.encoded_size(data)  # a JPEG's, from its header: decoded at the window's DCT scale
        image = None if size is not None else image_decode.decode_image(data, channels=self.channels)
        size = size or image.shape[:2]
        window = random_crop_window(*size, rng) if self.preset == "imagenet" else resize.crop_window(*size, rng)
        if image is None:
            image = image_decode.decode_image(data, channels=self.channels, target=resize.decode_target(*size, window))
        image = resize(image, rng, window=window, source_size=size)
        out_size = resize.output_size
        pad = self.preset != "imagenet" and self.fit == "pad"
        if pad:
            inner = resize._inner_size(window[2:])
            offset = _pad_offset(out_size, window[2:], inner)
            boxes = pad_boxes(objects.boxes, inner, offset, out_size)
            keep = (objects.boxes[:, 2] > objects.boxes[:, 0]) & (objects.boxes[:, 3] > objects.boxes[:, 1])
        else:
            boxes, keep = crop_boxes(objects.boxes, window, size, self.min_box_visible)
        sample = {"boxes": boxes[keep], "classes": objects.classes[keep]}
        if self.masks:
            masks = _decode_masks([m for m, k in zip(objects.masks, keep) if k], size)
            if pad:
                canvas = np.zeros((len(masks), *out_size), np.uint8)
                canvas[:, offset[0]: offset[0] + inner[0], offset[1]: offset[1] + inner[1]] = \
                    _nearest(masks, window, inner)
                masks = canvas
            else:
                masks = _nearest(masks, window, out_size)
            sample["masks"] = masks
        if self.preset == "imagenet" and rng.random() < 0.5:
            image = np.ascontiguousarray(image[:, ::-1])
            sample["boxes"] = flip_boxes(sample["boxes"])
            if self.masks:
                sample["masks"] = np.ascontiguousarray(sample["masks"][:, :, ::-1])
        return {"image": image, **sample}
