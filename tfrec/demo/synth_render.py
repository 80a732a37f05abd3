"""Synthetic image rendering with NumPy and Pillow: MNIST-like digits, coloured shapes, class names."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageDraw, ImageFont

from ..errors import TfrecError

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "cross", "ring",
    "diamond", "star", "frame", "xcross", "hourglass",
)
COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (220, 40, 40)),
    ("green", (40, 190, 60)),
    ("blue", (50, 90, 235)),
    ("yellow", (235, 215, 40)),
    ("cyan", (40, 210, 220)),
    ("magenta", (215, 50, 205)),
    ("orange", (245, 135, 25)),
    ("purple", (125, 55, 195)),
    ("white", (235, 235, 235)),
    ("pink", (250, 150, 185)),
)
MAX_SHAPE_CLASSES = len(SHAPES) * len(COLOURS)

# Elements per vectorised chunk (1 MiB of float32: cache-friendly). Fixed, because the
# random draws depend on the chunking: changing it changes every seed's output.
_CHUNK_ELEMENTS = 1 << 18
_DIGIT_FONT_SCALES = (0.85, 0.95, 1.05)
_DIGIT_STROKES = (1, 2)
_DIGIT_ANGLES = (-10.0, 0.0, 10.0)
_SHAPE_SCALES = (0.45, 0.53, 0.61, 0.69)
_SEGMENTS = (  # seven-segment fallback: lit segments per digit
    "abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg",
)
_MIN_SIZE = 8
_NOISE_MEAN = 16.0  # mean of _noise(); subtracted where the noise should be zero-mean


# --------------------------------------------------------------------------- helpers


def check_count(name: str, value: int) -> int:
    """Returns `value` as an int; raises TfrecError naming `name` unless it is a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise TfrecError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_size(value: int) -> int:
    """Returns the image side `value` as an int; raises TfrecError unless it is an integer of at least 8."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < _MIN_SIZE:
        raise TfrecError(f"size must be an integer >= {_MIN_SIZE}, got {value!r}")
    return int(value)


def _chunk_len(elements_per_item: int) -> int:
    """Items per vectorised chunk."""
    return max(1, _CHUNK_ELEMENTS // elements_per_item)


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    """Shuffled labels with every class represented as evenly as possible."""
    return rng.permutation(np.arange(n) % num_classes).astype(np.uint8)


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform integer noise in [0, 32) as uint8 (random bytes are much faster than `integers()`)."""
    return (np.frombuffer(rng.bytes(math.prod(shape)), np.uint8) >> 3).reshape(shape)


def _split_rng(seed: int) -> np.random.Generator:
    """A generator for a user's seed; an invalid seed raises TfrecError."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise TfrecError(f"seed must be a non-negative integer, got {seed!r}") from exc


# --------------------------------------------------------------------------- digits


def _digit_glyph(canvas: int, digit: int, px: int, stroke: int) -> Image.Image:
    """Renders one digit centred on a square greyscale canvas."""
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    font = _default_font(px)
    if font is not None:
        draw.text((canvas / 2, canvas / 2), str(digit), fill=255, font=font,
                  anchor="mm", stroke_width=stroke, stroke_fill=255)
    else:
        _draw_segments(draw, canvas / 2, px, digit, 2 + stroke)
    return img


@lru_cache(maxsize=16)
def _default_font(px: int) -> ImageFont.FreeTypeFont | None:
    """Pillow's scalable default font, or None when FreeType is unavailable."""
    try:
        font = ImageFont.load_default(size=px)
    except (TypeError, OSError, ImportError):
        return None
    return font if isinstance(font, ImageFont.FreeTypeFont) else None


def _draw_segments(draw: ImageDraw.ImageDraw, c: float, px: int, digit: int, width: int) -> None:
    """Draws a seven-segment digit (fallback when no scalable font exists)."""
    w, h = px * 0.3, px * 0.45
    x0, x1, y0, ym, y1 = c - w, c + w, c - h, c, c + h
    lines = {
        "a": ((x0, y0), (x1, y0)), "b": ((x1, y0), (x1, ym)), "c": ((x1, ym), (x1, y1)),
        "d": ((x0, y1), (x1, y1)), "e": ((x0, ym), (x0, y1)), "f": ((x0, y0), (x0, ym)),
        "g": ((x0, ym), (x1, ym)),
    }
    for seg in _SEGMENTS[digit]:
        draw.line(lines[seg], fill=255, width=width)


@lru_cache(maxsize=8)
def _digit_templates(size: int) -> np.ndarray:
    """Glyph variants (10, V, size + 2*shift, size + 2*shift) in [0, 1]; shift = 3 px at 28."""
    shift = max(1, round(3 * size / 28))
    canvas = size + 2 * shift
    variants = [(f, s, a) for f in _DIGIT_FONT_SCALES
                for s in _DIGIT_STROKES for a in _DIGIT_ANGLES]
    out = np.empty((10, len(variants), canvas, canvas), np.float32)
    for digit in range(10):
        for v, (scale, stroke, angle) in enumerate(variants):
            glyph = _digit_glyph(canvas, digit, max(4, round(scale * size)),
                                 round(stroke * size / 28))
            glyph = glyph.rotate(angle, resample=Image.Resampling.BILINEAR)
            out[digit, v] = np.asarray(glyph, np.float32) / 255.0
    out.flags.writeable = False
    return out


def _digits_from_rng(rng: np.random.Generator, n: int, size: int,
                     noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Renders `n` digit images, drawing from `rng`."""
    windows = sliding_window_view(_digit_templates(size), (size, size), axis=(2, 3))
    labels = _balanced_labels(rng, n, 10)
    images = np.empty((n, size, size), np.uint8)
    step = _chunk_len(size * size)
    for start in range(0, n, step):
        lab = labels[start:start + step]
        m = len(lab)
        variant = rng.integers(0, windows.shape[1], m)
        dy, dx = rng.integers(0, windows.shape[2], (2, m))
        gain = rng.uniform(150.0, 255.0, (m, 1, 1)).astype(np.float32)
        ink = windows[lab, variant, dy, dx] * gain
        if noise:
            ink += _noise(rng, ink.shape)  # light sensor noise
        np.clip(ink, 0, 255, out=ink)
        images[start:start + m] = ink
    return images, labels


def make_digits(n: int, seed: int = 0, size: int = 28, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Renders `n` MNIST-like digits 0-9, white on black; labels are balanced and shuffled.

    Each image is one of 18 pre-rendered glyph variants (font size, stroke width, rotation), shifted by up
    to 3 px (scaled with `size`), with a random ink intensity.

    Args:
        seed: the same seed gives identical output.
        size: image side in pixels, at least 8.
        noise: add light background noise. Without it the background is exactly 0, as in the real MNIST,
            whose gzip files then compress about as well (about 4-5 to 1).

    Returns:
        `(images, labels)`: uint8 arrays of shape (n, size, size) and (n,).

    Raises:
        TfrecError: `n` is negative, `size` is below 8 or `seed` is not a valid NumPy seed.
    """
    n = check_count("n", n)
    return _digits_from_rng(_split_rng(seed), n, check_size(size), noise)


# --------------------------------------------------------------------------- shapes


def _polygon(c: float, r: float, sides: int, phase_deg: float) -> list[tuple[float, float]]:
    """Vertices of a regular polygon centred at (c, c)."""
    angles = np.deg2rad(phase_deg) + 2 * np.pi * np.arange(sides) / sides
    return [(c + r * math.cos(a), c + r * math.sin(a)) for a in angles]


def _star(c: float, r: float) -> list[tuple[float, float]]:
    """Vertices of a five-pointed star centred at (c, c)."""
    outer = _polygon(c, r, 5, -90.0)
    inner = _polygon(c, 0.42 * r, 5, -54.0)
    return [p for pair in zip(outer, inner) for p in pair]


def _draw_box(draw: ImageDraw.ImageDraw, c: float, a: float, fill: int = 255) -> None:
    """Draws an axis-aligned square of half-side `a`."""
    draw.rectangle((c - a, c - a, c + a, c + a), fill=fill)


def _draw_cross(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draws a plus sign."""
    t = 0.2 * r
    draw.rectangle((c - r, c - t, c + r, c + t), fill=255)
    draw.rectangle((c - t, c - r, c + t, c + r), fill=255)


def _draw_xcross(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draws a diagonal cross."""
    a, w = 0.72 * r, max(1, round(0.4 * r))
    draw.line(((c - a, c - a), (c + a, c + a)), fill=255, width=w)
    draw.line(((c - a, c + a), (c + a, c - a)), fill=255, width=w)


def _draw_hourglass(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draws two triangles meeting tip to tip."""
    a = 0.75 * r
    draw.polygon([(c - a, c - r), (c + a, c - r), (c, c)], fill=255)
    draw.polygon([(c - a, c + r), (c + a, c + r), (c, c)], fill=255)


def _draw_ring(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draws an annulus."""
    draw.ellipse((c - r, c - r, c + r, c + r), fill=255)
    q = 0.55 * r
    draw.ellipse((c - q, c - q, c + q, c + q), fill=0)


def _draw_frame(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draws a hollow square."""
    _draw_box(draw, c, 0.85 * r)
    _draw_box(draw, c, 0.47 * r, fill=0)


_SHAPE_DRAWERS: dict[str, Callable[[ImageDraw.ImageDraw, float, float], None]] = {
    "circle": lambda d, c, r: d.ellipse((c - r, c - r, c + r, c + r), fill=255),
    "square": lambda d, c, r: _draw_box(d, c, 0.85 * r),
    "triangle": lambda d, c, r: d.polygon(_polygon(c, 1.1 * r, 3, -90.0), fill=255),
    "cross": _draw_cross,
    "ring": _draw_ring,
    "diamond": lambda d, c, r: d.polygon(_polygon(c, 1.05 * r, 4, -90.0), fill=255),
    "star": lambda d, c, r: d.polygon(_star(c, 1.1 * r), fill=255),
    "frame": _draw_frame,
    "xcross": _draw_xcross,
    "hourglass": _draw_hourglass,
}


@lru_cache(maxsize=8)
def shape_templates(size: int) -> np.ndarray:
    """Cached anti-aliased masks (shapes, scales, size + 2*shift, size + 2*shift) in [0, 1]."""
    shift = max(1, round(0.12 * size))
    canvas = size + 2 * shift
    ss = max(1, min(4, 2048 // canvas))  # supersampling factor for anti-aliasing
    out = np.empty((len(SHAPES), len(_SHAPE_SCALES), canvas, canvas), np.float32)
    for i, shape in enumerate(SHAPES):
        for j, frac in enumerate(_SHAPE_SCALES):
            img = Image.new("L", (canvas * ss, canvas * ss), 0)
            _SHAPE_DRAWERS[shape](ImageDraw.Draw(img), canvas * ss / 2, frac * size * ss / 2)
            out[i, j] = np.asarray(img.reduce(ss) if ss > 1 else img, np.float32) / 255.0
    out.flags.writeable = False
    return out


def _class_table(num_classes: int) -> np.ndarray:
    """(num_classes, 2) array of (shape index, colour index); every row is unique."""
    valid = isinstance(num_classes, (int, np.integer)) and not isinstance(num_classes, bool)
    if not valid or not 1 <= num_classes <= MAX_SHAPE_CLASSES:
        raise TfrecError(f"num_classes must be in 1..{MAX_SHAPE_CLASSES}, got {num_classes!r}")
    n_shapes = 5 if num_classes <= 10 else len(SHAPES)
    k = np.arange(num_classes)
    return np.stack([k % n_shapes, (k + k // n_shapes) % len(COLOURS)], axis=1)


def shape_class_names(num_classes: int = 10) -> list[str]:
    """The class names `make_shapes` uses, `{colour}_{shape}`, one per label (1 to 100 classes).

    Raises:
        TfrecError: `num_classes` is outside 1..100.
    """
    return [f"{COLOURS[c][0]}_{SHAPES[s]}" for s, c in _class_table(num_classes)]


def _shape_chunk(rng: np.random.Generator, windows: np.ndarray, shape_idx: np.ndarray,
                 colour_idx: np.ndarray, out: np.ndarray) -> None:
    """Renders one chunk of shape images into the float32 buffer `out` (m, size, size, 3)."""
    m = len(shape_idx)
    scale = rng.integers(0, windows.shape[1], m)
    dy, dx = rng.integers(0, windows.shape[2], (2, m))
    palette = np.array([rgb for _, rgb in COLOURS], np.float32)
    fg = palette[colour_idx] * rng.uniform(0.8, 1.0, (m, 1)) + rng.uniform(-20, 20, (m, 3))
    bg = rng.uniform(10.0, 70.0, (m, 1)) + rng.uniform(-15.0, 15.0, (m, 3))  # tinted grey
    mask = windows[shape_idx, scale, dy, dx]
    diff, offset = (fg - bg).astype(np.float32), (bg - _NOISE_MEAN).astype(np.float32)
    for c in range(3):  # per-channel loops keep NumPy's inner loop long and contiguous
        np.multiply(mask, diff[:, c, None, None], out=out[..., c])
        out[..., c] += offset[:, c, None, None]
    out += _noise(rng, out.shape)
    np.clip(out, 0, 255, out=out)


def render_shapes(rng: np.random.Generator, labels: np.ndarray, size: int,
                  num_classes: int) -> np.ndarray:
    """Renders one uint8 image (size, size, 3) per label, drawing from `rng` in chunks of fixed size."""
    table = _class_table(num_classes)
    windows = sliding_window_view(shape_templates(size), (size, size), axis=(2, 3))
    images = np.empty((len(labels), size, size, 3), np.uint8)
    step = _chunk_len(size * size * 3)
    # One reused work buffer: fresh large temporaries per chunk cost more in page faults.
    work = np.empty((min(step, len(labels)), size, size, 3), np.float32)
    for start in range(0, len(labels), step):
        rows = table[labels[start:start + step]]
        buf = work[:len(rows)]
        _shape_chunk(rng, windows, rows[:, 0], rows[:, 1], buf)
        images[start:start + len(rows)] = buf
    return images


def make_shapes(n: int, seed: int = 0, size: int = 32,
                num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Renders `n` CIFAR-like coloured shapes on a noisy background; labels are balanced and shuffled.

    A class is a shape-and-colour pair (named by `shape_class_names`); each image gets a random position,
    scale, colour and background jitter.

    Args:
        seed: the same seed gives identical output.
        size: image side in pixels, at least 8.
        num_classes: 1 to 100.

    Returns:
        `(images, labels)`: uint8 arrays of shape (n, size, size, 3) and (n,).

    Raises:
        TfrecError: an argument is out of range, or `seed` is not a valid NumPy seed.
    """
    n, size = check_count("n", n), check_size(size)
    _class_table(num_classes)  # validate before drawing anything
    rng = _split_rng(seed)
    labels = _balanced_labels(rng, n, num_classes)
    return render_shapes(rng, labels, size, num_classes), labels
