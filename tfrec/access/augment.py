"""Augmentation without TensorFlow: the reader's presets and its resize geometry on one HWC uint8 NumPy image.

make_augment(preset, image_size, fit) gives an Augment: call it as augment(image, rng) with a
numpy.random.Generator; the same generator state gives the same output. The presets mirror
tfrec/read/augment.py's (tests/access/test_augment.py checks the parameters against its registry):

- none: only the resize to image_size (nothing at all when image_size is None: the image itself);
- mnist: resize, then pad by 2 pixels (zeros) and take a random window of the same size;
- cifar: resize, pad by 4 and take a random window, then a horizontal flip with probability 1/2;
- imagenet: a random resized crop (TensorFlow's sample_distorted_bounding_box algorithm: aspect
  ratio in [3/4, 4/3], area in [0.08, 1] of the image, 10 attempts, else the whole image) resized
  to image_size (224x224 when None), then a horizontal flip with probability 1/2.

`fit` reaches image_size as the reader does: 'stretch', 'crop' (the largest centred window of the
target's aspect first) or 'pad' (fit inside, black borders, tf.image.resize_with_pad's offsets).
Resizes are bilinear without antialiasing at half-pixel centres, as tf.image.resize: OpenCV's
INTER_LINEAR where it is installed (about 11x cheaper), else Pillow's affine transform, which
truncates where TensorFlow's uint8 output is rounded (either at most 1 level from TensorFlow's;
RESIZE_TOLERANCE).

Decoding and cropping cooperate: a caller that decodes JPEGs itself draws the window first and
decodes at the DCT scale it allows, then passes the window and the stored size back:

    h, w = stored size (tfrec.codec.images.image_header)
    window = augment.crop_window(h, w, rng)            # draws the random crop (imagenet) from rng
    image = decode_image(data, channels=3, target=augment.decode_target(h, w, window))
    out = augment(image, rng, window=window, source_size=(h, w))

which gives the same window and flip as augment(decode_image(data, channels=3), rng) with the same
generator state, on pixels decoded at the reduced scale.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import TfrecError
from ..sources.imagefolder import _crop_box, _padded_size
from . import decode as image_decode

PRESETS = ("none", "mnist", "cifar", "imagenet")
FITS = ("stretch", "crop", "pad")
DEFAULT_CROP_SIZE = 224  # the random resized crop's output when no image_size is given (ImageNet's)
# The TensorFlow presets' parameters (tfrec/read/augment.py PRESETS), mirrored: access/ imports nothing from read/.
PAD_CROP = {"mnist": 2, "cifar": 4}  # RandomCrop(padding=...), constant (zero) padding
FLIPS = ("cifar", "imagenet")  # RandomFlip(): horizontal, probability 1/2
CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop's area range
CROP_RATIO = (3 / 4, 4 / 3)  # and aspect ratio (width / height) range
CROP_ATTEMPTS = 10
RESIZE_TOLERANCE = (1, 0.55)  # max and mean absolute difference from tf.image.resize's rounded uint8 output
# Decoding a JPEG at a DCT scale (Augment.decode) instead of full scale before the same resize: the mean
# absolute difference stays within this (measured at most 2.65 on synthetic ~1024x768 photos, 'none' and
# 'imagenet' to 224 and 96, and 5.3 from 256x192 to 32x32; single pixels differ more, where the full-scale
# bilinear resize without antialiasing aliases and the DCT-scaled decode, which averages, does not).
DCT_SCALED_MEAN_TOLERANCE = 8.0
RESIZE_ENV = "TFREC_RESIZE"  # 'pillow': Pillow's resize even where OpenCV is installed

Window = tuple[int, int, int, int]  # (top, left, height, width)


@dataclass(frozen=True)
class Augment:
    """One preset bound to an output size and fit: (image [H, W, C] uint8, rng) -> image uint8. Picklable."""

    preset: str
    image_size: tuple[int, int] | None = None
    fit: str = "stretch"

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise TfrecError(f"unknown augmentation preset {self.preset!r}; presets: {', '.join(PRESETS)}")
        if self.fit not in FITS:
            raise TfrecError(f"unknown fit {self.fit!r}; supported: {', '.join(FITS)}")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 1):
            raise TfrecError(f"image_size must be (height, width) of positive sizes, not {self.image_size!r}")

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(height, width) of every output, or None: the input's own size."""
        if self.preset == "imagenet":
            return tuple(self.image_size or (DEFAULT_CROP_SIZE, DEFAULT_CROP_SIZE))
        return tuple(self.image_size) if self.image_size else None

    def crop_window(self, height: int, width: int, rng: np.random.Generator) -> Window:
        """The (top, left, height, width) window of a height x width image that is resized to the output:
        the random resized crop's (imagenet, drawn from rng), the centred one for fit='crop', else the
        whole image (no draws)."""
        if self.preset == "imagenet":
            return random_crop_window(height, width, rng)
        size = self.output_size
        if size and self.fit == "crop":
            left, top, right, bottom = _crop_box((width, height), (size[1], size[0]))
            return top, left, bottom - top, right - left
        return 0, 0, height, width

    def decode_target(self, height: int, width: int, window: Window | None = None) -> tuple[int, int] | None:
        """The `target` for decode_image: the whole image's size at which `window` still covers what it is
        resized to (None: no resize follows, decode at full scale)."""
        inner = self._inner_size(window[2:] if window else (height, width))
        if inner is None:
            return None
        h, w = window[2:] if window else (height, width)
        return -(-inner[0] * height // h), -(-inner[1] * width // w)

    def _inner_size(self, window_hw: tuple[int, int]) -> tuple[int, int] | None:
        """(height, width) the window is resized to: the output size, or the picture's inside the padding."""
        size = self.output_size
        if size is None:
            return None
        if self.fit == "pad" and self.preset != "imagenet":
            w, h = _padded_size((window_hw[1], window_hw[0]), (size[1], size[0]))
            return h, w
        return size

    def decode(self, data: bytes, rng: np.random.Generator, channels: int | None = None) -> np.ndarray:
        """Encoded image bytes decoded and augmented: a JPEG at the DCT scale its window allows (the module's
        recipe), so a window well above the output size is decoded at 1/2, 1/4 or 1/8 of its size. The same
        window and flip as self(decode_image(data, channels=channels), rng); other formats are exactly that.

        Raises:
            ImageDecodeError: bytes that do not decode (see decode.decode_image).
        """
        size = image_decode.encoded_size(data) if self.output_size is not None else None
        if size is None:
            return self(image_decode.decode_image(data, channels=channels), rng)
        window = self.crop_window(*size, rng)
        image = image_decode.decode_image(data, channels=channels, target=self.decode_target(*size, window))
        return self(image, rng, window=window, source_size=size)

    def __call__(self, image: np.ndarray, rng: np.random.Generator, window: Window | None = None,
                 source_size: tuple[int, int] | None = None) -> np.ndarray:
        """The augmented image. `window` (from crop_window, in `source_size` coordinates: the stored image's
        (height, width) when `image` was decoded at a reduced DCT scale) replaces the window's draw."""
        if self.preset == "none" and self.image_size is None:
            return image
        if image.ndim != 3:
            raise TfrecError(f"augment: expected an image of shape (height, width, channels), found {image.shape}")
        sh, sw = source_size or image.shape[:2]
        if window is None:
            window = self.crop_window(sh, sw, rng)
        window = _scaled_window(window, (sh, sw), image.shape[:2])
        inner = self._inner_size((window[2], window[3]))
        if inner is not None:
            image = resize(image, window, inner)
            if inner != self.output_size:
                image = _pad_to(image, self.output_size, window[2:])
        padding = PAD_CROP.get(self.preset)
        if padding:
            image = pad_crop(image, padding, rng)
        if self.preset in FLIPS and rng.random() < 0.5:
            image = np.ascontiguousarray(image[:, ::-1])
        return image


def make_augment(preset: str, image_size: tuple[int, int] | int | None,
                 fit: str = "stretch") -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """A preset ('none', 'mnist', 'cifar', 'imagenet') as an Augment: (image, rng) -> image (see the module).

    Raises:
        TfrecError: an unknown preset or fit, or a bad image_size.
    """
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    return Augment(preset, tuple(image_size) if image_size is not None else None, fit)


def random_crop_window(height: int, width: int, rng: np.random.Generator, scale: tuple[float, float] = CROP_SCALE,
                       ratio: tuple[float, float] = CROP_RATIO, attempts: int = CROP_ATTEMPTS) -> Window:
    """A random window of `scale` x the area and `ratio` aspect, as tf.image.sample_distorted_bounding_box
    draws it (GenerateRandomCrop: the height uniform between the area bounds' heights; the top and left
    uniform where the window fits); the whole image when every attempt fails."""
    for _ in range(attempts):
        aspect = ratio[0] + rng.random() * (ratio[1] - ratio[0])
        window = _crop_attempt(height, width, scale, aspect, rng)
        if window is not None:
            return window
    return 0, 0, height, width


def _crop_attempt(height: int, width: int, scale: tuple[float, float], aspect: float,
                  rng: np.random.Generator) -> Window | None:
    min_area, max_area = scale[0] * width * height, scale[1] * width * height
    h = int(np.rint(math.sqrt(min_area / aspect)))
    max_h = int(np.rint(math.sqrt(max_area / aspect)))
    if np.rint(max_h * aspect) > width:
        max_h = int((width + 0.5 - 1e-7) / aspect)
        if np.rint(max_h * aspect) > width:
            max_h -= 1
    max_h = min(max_h, height)
    h = min(h, max_h)
    if h < max_h:
        h += int(rng.integers(0, max_h - h + 1))
    w = int(np.rint(h * aspect))
    if w * h < min_area:
        h += 1
        w = int(np.rint(h * aspect))
        if w * h < min_area:
            return None
    if w * h > max_area:
        h -= 1
        w = int(np.rint(h * aspect))
    if w * h < min_area or w * h > max_area or not (0 < w <= width and 0 < h <= height):
        return None
    top = int(rng.integers(0, height - h)) if h < height else 0  # TensorFlow's bound is exclusive
    left = int(rng.integers(0, width - w)) if w < width else 0
    return top, left, h, w


def _scaled_window(window: Window, source: tuple[int, int], shape: tuple[int, int]) -> Window:
    """A window of a source_size image on the same image decoded at shape (DCT-scaled); unchanged at full scale."""
    if tuple(source) == tuple(shape):
        return window
    fy, fx = shape[0] / source[0], shape[1] / source[1]
    top, left, h, w = window
    t, l = min(int(top * fy), shape[0] - 1), min(int(left * fx), shape[1] - 1)
    return t, l, max(1, min(int(h * fy), shape[0] - t)), max(1, min(int(w * fx), shape[1] - l))


def resize(image: np.ndarray, window: Window, size: tuple[int, int]) -> np.ndarray:
    """`window` of image [H, W, C] uint8 resized to size (height, width): bilinear, no antialiasing, half-pixel
    centres (tf.image.resize's kernel), each channel on its own (no alpha premultiplication).

    OpenCV's INTER_LINEAR when it is installed (rounded; 107 vs 1,239 CPU us for ~500x375 -> 224x224
    with Pillow here), else Pillow's affine transform (truncated): both within RESIZE_TOLERANCE of
    tf.image.resize's rounded output, and at most 1 level from each other.
    """
    top, left, h, w = window
    crop = image[top: top + h, left: left + w]
    if (h, w) == tuple(size):
        return np.ascontiguousarray(crop)
    cv2 = _cv2()
    if cv2 is not None and crop.shape[2] <= 4:
        out = cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        return out[..., None] if out.ndim == 2 else out
    return _resize_pillow(crop, size)


def preload() -> None:
    """Imports the resize and JPEG decode backends now, so that worker processes forked after this inherit
    them instead of each importing its own (OpenCV's import alone costs ~125 ms of CPU here)."""
    _cv2()
    image_decode.get_decoder()


@functools.lru_cache(maxsize=None)
def _cv2():
    """OpenCV, or None where it is not installed (or TFREC_RESIZE=pillow asks for Pillow's resize)."""
    if os.environ.get(RESIZE_ENV, "").strip().lower() == "pillow":
        return None
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _resize_pillow(crop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = crop.shape[:2]
    th, tw = size
    affine = (w / tw, 0, 0, 0, h / th, 0)

    def one(arr: np.ndarray) -> np.ndarray:
        img = Image.fromarray(np.ascontiguousarray(arr))
        return np.asarray(img.transform((tw, th), Image.Transform.AFFINE, affine, Image.Resampling.BILINEAR))

    if crop.shape[2] == 3:
        return one(crop)
    return np.stack([one(crop[..., k]) for k in range(crop.shape[2])], axis=-1)


def _pad_to(image: np.ndarray, size: tuple[int, int], window_hw: tuple[int, int]) -> np.ndarray:
    """The resized picture on a black canvas of `size`, at tf.image.resize_with_pad's offsets."""
    (th, tw), (h, w) = size, window_hw
    ih, iw = image.shape[:2]
    # half the exact (unrounded) margin, rounded down (as tfrec/sources/imagefolder.py _fitted)
    top, left = (0, (tw * h - w * th) // (2 * h)) if ih == th else ((th * w - h * tw) // (2 * w), 0)
    out = np.zeros((th, tw, image.shape[2]), np.uint8)
    out[top: top + ih, left: left + iw] = image
    return out


def pad_crop(image: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Pads by `padding` zeros on every side and takes a random window of the input's size (RandomCrop)."""
    h, w = image.shape[:2]
    oy, ox = int(rng.integers(0, 2 * padding + 1)), int(rng.integers(0, 2 * padding + 1))
    out = np.zeros_like(image)
    # the window [oy, oy + h) x [ox, ox + w) of the padded image, copied without building the padded image
    sy, sx = max(0, oy - padding), max(0, ox - padding)
    dy, dx = max(0, padding - oy), max(0, padding - ox)
    out[dy: dy + h - abs(oy - padding), dx: dx + w - abs(ox - padding)] = \
        image[sy: sy + h - abs(oy - padding), sx: sx + w - abs(ox - padding)]
    return out
