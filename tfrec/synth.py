"""Deterministic, learnable synthetic datasets written in the real on-disk source formats."""

from __future__ import annotations

import gzip as _gzip
import io
import math
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageDraw, ImageFont

PathLike = Union[str, os.PathLike]

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

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR100_DIR = "cifar-100-binary"
CIFAR100_ARCHIVE = "cifar-100-binary.tar.gz"

_IDX_TYPES = {  # numpy dtype kind+size -> IDX type code (data stored big-endian)
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}
_IMAGE_FORMATS = {  # fmt -> (file suffix, Pillow format name)
    "jpeg": (".jpg", "JPEG"),
    "jpg": (".jpg", "JPEG"),
    "png": (".png", "PNG"),
    "bmp": (".bmp", "BMP"),
    "gif": (".gif", "GIF"),
    "webp": (".webp", "WEBP"),
}
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
_FOLDER_BATCH_BYTES = 1 << 24  # pixel bytes per batch in image folders (also seed-stable)
_MIN_SIZE = 8
_NOISE_MEAN = 16.0  # mean of _noise(); subtracted where the noise should be zero-mean


# --------------------------------------------------------------------------- helpers


def _check_count(name: str, value: int) -> int:
    """Validate a non-negative integer count."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _check_size(value: int) -> int:
    """Validate an image side length."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < _MIN_SIZE:
        raise ValueError(f"size must be an integer >= {_MIN_SIZE}, got {value!r}")
    return int(value)


def _chunk_len(elements_per_item: int) -> int:
    """Number of items processed per vectorised chunk."""
    return max(1, _CHUNK_ELEMENTS // elements_per_item)


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    """Shuffled labels with every class represented as evenly as possible."""
    return rng.permutation(np.arange(n) % num_classes).astype(np.uint8)


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform integer noise in [0, 32) as uint8 (random bytes are much faster than integers())."""
    return (np.frombuffer(rng.bytes(math.prod(shape)), np.uint8) >> 3).reshape(shape)


def _split_rng(seed: int) -> np.random.Generator:
    """Generator for a user seed, with a clear error for invalid seeds."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}") from exc


# --------------------------------------------------------------------------- digits


def _digit_glyph(canvas: int, digit: int, px: int, stroke: int) -> Image.Image:
    """Render one digit centred on a square greyscale canvas."""
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
    """Draw a seven-segment digit (fallback when no scalable font exists)."""
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


def _digits_from_rng(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate n digit images with the given generator."""
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
        ink += _noise(rng, ink.shape)  # light sensor noise
        np.clip(ink, 0, 255, out=ink)
        images[start:start + m] = ink
    return images, labels


def make_digits(n: int, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Generate MNIST-like rendered digits 0-9 (white on black).

    Each sample is one of several pre-rendered glyph variants (font size, stroke
    width, rotation) with a random shift of up to 3 px (scaled with ``size``),
    random stroke intensity and light noise.

    Args:
        n: Number of images.
        seed: Seed for ``np.random.default_rng``; same seed gives identical output.
        size: Image side length in pixels (>= 8).

    Returns:
        ``(images, labels)``: uint8 arrays of shape ``(n, size, size)`` and ``(n,)``.
    """
    n = _check_count("n", n)
    return _digits_from_rng(_split_rng(seed), n, _check_size(size))


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
    """Draw an axis-aligned square of half-side ``a``."""
    draw.rectangle((c - a, c - a, c + a, c + a), fill=fill)


def _draw_cross(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draw a plus sign."""
    t = 0.2 * r
    draw.rectangle((c - r, c - t, c + r, c + t), fill=255)
    draw.rectangle((c - t, c - r, c + t, c + r), fill=255)


def _draw_xcross(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draw a diagonal cross."""
    a, w = 0.72 * r, max(1, round(0.4 * r))
    draw.line(((c - a, c - a), (c + a, c + a)), fill=255, width=w)
    draw.line(((c - a, c + a), (c + a, c - a)), fill=255, width=w)


def _draw_hourglass(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draw two triangles meeting tip to tip."""
    a = 0.75 * r
    draw.polygon([(c - a, c - r), (c + a, c - r), (c, c)], fill=255)
    draw.polygon([(c - a, c + r), (c + a, c + r), (c, c)], fill=255)


def _draw_ring(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draw an annulus."""
    draw.ellipse((c - r, c - r, c + r, c + r), fill=255)
    q = 0.55 * r
    draw.ellipse((c - q, c - q, c + q, c + q), fill=0)


def _draw_frame(draw: ImageDraw.ImageDraw, c: float, r: float) -> None:
    """Draw a hollow square."""
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
def _shape_templates(size: int) -> np.ndarray:
    """Anti-aliased masks (shapes, scales, size + 2*shift, size + 2*shift) in [0, 1]."""
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
        raise ValueError(f"num_classes must be in 1..{MAX_SHAPE_CLASSES}, got {num_classes!r}")
    n_shapes = 5 if num_classes <= 10 else len(SHAPES)
    k = np.arange(num_classes)
    return np.stack([k % n_shapes, (k + k // n_shapes) % len(COLOURS)], axis=1)


def shape_class_names(num_classes: int = 10) -> list[str]:
    """Class names (``"{colour}_{shape}"``) used by :func:`make_shapes`.

    Args:
        num_classes: Number of classes, 1 to 100.

    Returns:
        A list of ``num_classes`` unique names, index = label.
    """
    return [f"{COLOURS[c][0]}_{SHAPES[s]}" for s, c in _class_table(num_classes)]


def _shape_chunk(rng: np.random.Generator, windows: np.ndarray, shape_idx: np.ndarray,
                 colour_idx: np.ndarray, out: np.ndarray) -> None:
    """Render one chunk of shape images into the float32 buffer ``out`` (m, size, size, 3)."""
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


def _render_shapes(rng: np.random.Generator, labels: np.ndarray, size: int,
                   num_classes: int) -> np.ndarray:
    """Render shape images for the given labels."""
    table = _class_table(num_classes)
    windows = sliding_window_view(_shape_templates(size), (size, size), axis=(2, 3))
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
    """Generate coloured shapes on a noisy background (CIFAR-like).

    The class is a shape-and-colour combination (see :func:`shape_class_names`);
    samples get random position, scale, colour and background jitter.

    Args:
        n: Number of images.
        seed: Seed for ``np.random.default_rng``; same seed gives identical output.
        size: Image side length in pixels (>= 8).
        num_classes: Number of classes, 1 to 100.

    Returns:
        ``(images, labels)``: uint8 arrays of shape ``(n, size, size, 3)`` and ``(n,)``.
    """
    n, size = _check_count("n", n), _check_size(size)
    _class_table(num_classes)  # validate before drawing anything
    rng = _split_rng(seed)
    labels = _balanced_labels(rng, n, num_classes)
    return _render_shapes(rng, labels, size, num_classes), labels


# --------------------------------------------------------------------------- IDX / MNIST


def _write_bytes(path: Path, data: bytes, compress: bool) -> None:
    """Write bytes, gzip-compressed (reproducibly, mtime 0) when asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gzip.compress(data, compresslevel=6, mtime=0) if compress else data)


def write_idx(path: PathLike, array: np.ndarray, gzip: bool = False) -> str:
    """Write an array in IDX format (the MNIST container).

    Header: magic ``0x0000TTDD`` (type code TT, e.g. 0x08 for uint8; DD = ndim),
    then one big-endian int32 per dimension, then the big-endian data.

    Args:
        path: Output file path (written exactly as given; no suffix is added).
        array: Array of dtype uint8, int8, int16, int32, float32 or float64.
        gzip: Gzip-compress the file.

    Returns:
        The path written, as a string.
    """
    array = np.asarray(array)
    code = _IDX_TYPES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim > 255:
        raise ValueError("IDX supports at most 255 dimensions")
    header = np.array([(code << 8) | array.ndim, *array.shape], dtype=">i4").tobytes()
    body = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    _write_bytes(Path(path), header + body, gzip)
    return str(path)


def write_mnist(out_dir: PathLike, n_train: int = 600, n_test: int = 100, seed: int = 0,
                gzip: bool = False) -> dict:
    """Write a synthetic MNIST in the original IDX layout.

    Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (``.gz`` added when
    gzip). The data is ``make_digits(n_train + n_test, seed)``: the first
    ``n_train`` samples are the train split, the rest the test split.

    Args:
        out_dir: Directory to write into (created if missing).
        n_train: Number of training images.
        n_test: Number of test images.
        seed: Random seed.
        gzip: Write gzip-compressed ``.gz`` files like the official download.

    Returns:
        ``{"train"|"test": {"images": path, "labels": path, "count": n}}``.
    """
    n_train, n_test = _check_count("n_train", n_train), _check_count("n_test", n_test)
    images, labels = make_digits(n_train + n_test, seed)
    out, suffix = Path(out_dir), ".gz" if gzip else ""
    result = {}
    for split, sl in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        img_name, lbl_name = MNIST_FILES[split]
        result[split] = {
            "images": write_idx(out / (img_name + suffix), images[sl], gzip),
            "labels": write_idx(out / (lbl_name + suffix), labels[sl], gzip),
            "count": len(labels[sl]),
        }
    return result


# --------------------------------------------------------------------------- CIFAR


def _cifar_records(images: np.ndarray, *label_cols: np.ndarray) -> bytes:
    """Serialise CIFAR binary records: label bytes then R, G, B planes (row-major)."""
    n = len(images)
    planes = images.transpose(0, 3, 1, 2).reshape(n, -1)
    labels = np.stack(label_cols, axis=1).astype(np.uint8).reshape(n, len(label_cols))
    return np.concatenate([labels, planes], axis=1).tobytes()


def _names_text(names: list[str]) -> bytes:
    """One name per line."""
    return ("\n".join(names) + "\n").encode()


def _tar_info(name: str, size: int = 0, is_dir: bool = False) -> tarfile.TarInfo:
    """A reproducible tar header (fixed mtime, owner and mode)."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode, info.mtime, info.size = (0o755 if is_dir else 0o644), 0, size
    return info


def _write_tar_gz(path: Path, top: str, members: dict[str, bytes]) -> None:
    """Write ``top/`` and its members to a byte-reproducible .tar.gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, \
            _gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_tar_info(top, is_dir=True))
        for name, data in members.items():
            tar.addfile(_tar_info(f"{top}/{name}", len(data)), io.BytesIO(data))


def _emit(out_dir: PathLike, top: str, members: dict[str, bytes],
          archive: str | None) -> tuple[dict[str, str], str | None]:
    """Write members under out_dir/top, or into out_dir/archive; return their locations.

    Locations are filesystem paths, or archive member names when archiving.
    """
    out = Path(out_dir)
    if archive is not None:
        _write_tar_gz(out / archive, top, members)
        return {name: f"{top}/{name}" for name in members}, str(out / archive)
    root = out / top
    root.mkdir(parents=True, exist_ok=True)
    for name, data in members.items():
        (root / name).write_bytes(data)
    return {name: str(root / name) for name in members}, None


def write_cifar10(out_dir: PathLike, n_train: int = 500, n_test: int = 100, seed: int = 0,
                  batches: int = 5, archive: bool = False) -> dict:
    """Write a synthetic CIFAR-10 in the official binary layout.

    ``cifar-10-batches-bin/`` holds ``data_batch_1.bin`` .. ``data_batch_{batches}.bin``
    (train split spread evenly), ``test_batch.bin`` and ``batches.meta.txt``.
    Each record is 1 label byte + 1024 R + 1024 G + 1024 B bytes. The data is
    ``make_shapes(n_train + n_test, seed)``: first ``n_train`` train, rest test.

    Args:
        out_dir: Directory to write into (created if missing).
        n_train: Number of training images.
        n_test: Number of test images.
        seed: Random seed.
        batches: Number of training batch files (>= 1).
        archive: Write only ``cifar-10-binary.tar.gz`` (containing the directory).

    Returns:
        ``{"root", "archive", "train": {"files", "count"}, "test": {"files", "count"},
        "meta", "classes"}``; "root" is None and file entries are archive member
        names when archive=True, otherwise "archive" is None.
    """
    n_train, n_test = _check_count("n_train", n_train), _check_count("n_test", n_test)
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise ValueError(f"batches must be a positive integer, got {batches!r}")
    images, labels = make_shapes(n_train + n_test, seed, 32, 10)
    names = shape_class_names(10)
    members = {
        f"data_batch_{i + 1}.bin": _cifar_records(images[idx], labels[idx])
        for i, idx in enumerate(np.array_split(np.arange(n_train), batches))
    }
    members["test_batch.bin"] = _cifar_records(images[n_train:], labels[n_train:])
    members["batches.meta.txt"] = _names_text(names)
    paths, arc = _emit(out_dir, CIFAR10_DIR, members, CIFAR10_ARCHIVE if archive else None)
    return {
        "root": None if archive else str(Path(out_dir) / CIFAR10_DIR),
        "archive": arc,
        "train": {"files": [paths[f"data_batch_{i + 1}.bin"] for i in range(batches)],
                  "count": n_train},
        "test": {"files": [paths["test_batch.bin"]], "count": n_test},
        "meta": paths["batches.meta.txt"],
        "classes": names,
    }


def write_cifar100(out_dir: PathLike, n_train: int = 500, n_test: int = 100, seed: int = 0,
                   archive: bool = False) -> dict:
    """Write a synthetic CIFAR-100 in the official binary layout.

    ``cifar-100-binary/`` holds ``train.bin``, ``test.bin``, ``fine_label_names.txt``
    (100 names) and ``coarse_label_names.txt`` (20 names). Each record is
    1 coarse label byte, 1 fine label byte, then 3072 plane bytes (R, G, B).
    Fine labels come from ``make_shapes(n_train + n_test, seed, 32, 100)``
    (first ``n_train`` train, rest test); coarse = fine // 5.

    Args:
        out_dir: Directory to write into (created if missing).
        n_train: Number of training images.
        n_test: Number of test images.
        seed: Random seed.
        archive: Write only ``cifar-100-binary.tar.gz`` (containing the directory).

    Returns:
        ``{"root", "archive", "train": {"files", "count"}, "test": {"files", "count"},
        "fine_names", "coarse_names", "classes", "coarse_classes"}``; paths as in
        :func:`write_cifar10`.
    """
    n_train, n_test = _check_count("n_train", n_train), _check_count("n_test", n_test)
    images, fine = make_shapes(n_train + n_test, seed, 32, 100)
    coarse = fine // 5
    fine_names = shape_class_names(100)
    coarse_names = [f"superclass_{i:02d}" for i in range(20)]
    members = {
        "train.bin": _cifar_records(images[:n_train], coarse[:n_train], fine[:n_train]),
        "test.bin": _cifar_records(images[n_train:], coarse[n_train:], fine[n_train:]),
        "fine_label_names.txt": _names_text(fine_names),
        "coarse_label_names.txt": _names_text(coarse_names),
    }
    paths, arc = _emit(out_dir, CIFAR100_DIR, members, CIFAR100_ARCHIVE if archive else None)
    return {
        "root": None if archive else str(Path(out_dir) / CIFAR100_DIR),
        "archive": arc,
        "train": {"files": [paths["train.bin"]], "count": n_train},
        "test": {"files": [paths["test.bin"]], "count": n_test},
        "fine_names": paths["fine_label_names.txt"],
        "coarse_names": paths["coarse_label_names.txt"],
        "classes": fine_names,
        "coarse_classes": coarse_names,
    }


# --------------------------------------------------------------------------- image folders


@dataclass(frozen=True)
class _FolderSpec:
    """Settings shared by every class directory of an image folder."""

    n: int
    width: int
    height: int
    num_classes: int
    suffix: str
    pil_format: str
    save_kwargs: dict
    vary_size: bool


def _parse_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise an int or (width, height) pair."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2:
        raise ValueError(f"size must be an int or a (width, height) pair, got {size!r}")
    return _check_size(pair[0]), _check_size(pair[1])


def _image_format(fmt: str, quality: int) -> tuple[str, str, dict]:
    """Map a format name to (suffix, Pillow format, save kwargs)."""
    key = str(fmt).lower().lstrip(".")
    if key not in _IMAGE_FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}; choose from {sorted(_IMAGE_FORMATS)}")
    suffix, pil_format = _IMAGE_FORMATS[key]
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality!r}")
    kwargs = {"quality": quality} if pil_format in ("JPEG", "WEBP") else {}
    return suffix, pil_format, kwargs


def _target_sizes(rng: np.random.Generator, spec: _FolderSpec) -> np.ndarray:
    """Per-image (width, height): fixed, or 0.75x-1.25x of the base size."""
    base = np.array([spec.width, spec.height], np.float64)
    if not spec.vary_size:
        return np.tile(base.astype(np.int64), (spec.n, 1))
    return np.maximum(1, np.rint(rng.uniform(0.75, 1.25, (spec.n, 2)) * base)).astype(np.int64)


def _write_class(spec: _FolderSpec, class_dir: Path, name: str, label: int,
                 seed_seq: np.random.SeedSequence) -> int:
    """Render and save every image of one class directory; return the count."""
    rng = np.random.default_rng(seed_seq)
    class_dir.mkdir(parents=True, exist_ok=True)
    side = max(spec.width, spec.height)
    sizes = _target_sizes(rng, spec)
    step = max(1, _FOLDER_BATCH_BYTES // (side * side * 3))  # fixed: part of the draw order
    for start in range(0, spec.n, step):
        count = min(step, spec.n - start)
        batch = _render_shapes(rng, np.full(count, label, np.uint8), side, spec.num_classes)
        for k in range(count):
            img = Image.fromarray(batch[k])
            target = (int(sizes[start + k, 0]), int(sizes[start + k, 1]))
            if target != img.size:
                img = img.resize(target, Image.Resampling.BILINEAR)
            img.save(class_dir / f"{name}_{start + k:05d}{spec.suffix}",
                     format=spec.pil_format, **spec.save_kwargs)
    return spec.n


def write_image_folder(out_dir: PathLike, n_per_class: int = 20, seed: int = 0,
                       num_classes: int = 3, size: tuple[int, int] = (64, 64),
                       fmt: str = "jpeg", splits: tuple[str, ...] | None = None,
                       quality: int = 90, vary_size: bool = False) -> dict:
    """Write a class-per-directory image folder of coloured shapes.

    Layout: ``out_dir/{class}/{class}_{i:05d}.{ext}``, or with splits
    ``out_dir/{split}/{class}/...`` (``n_per_class`` images per class per split).
    Class directories are generated in parallel threads, each from its own
    seed derived from (seed, split, class), so output does not depend on timing.

    Args:
        out_dir: Root directory (created if missing).
        n_per_class: Images per class (per split).
        seed: Random seed.
        num_classes: Number of classes, 1 to 100 (names from :func:`shape_class_names`).
        size: Image size as ``(width, height)`` (like ``PIL.Image.size``) or an int.
        fmt: One of jpeg/jpg, png, bmp, gif, webp.
        splits: Optional split directory names, e.g. ``("train", "val")``.
        quality: JPEG/WebP quality (1-100).
        vary_size: Give each image a random width and height in 0.75x-1.25x of size.

    Returns:
        ``{"root": path, "count": total images, "classes": names, "splits": splits}``.
    """
    n = _check_count("n_per_class", n_per_class)
    width, height = _parse_size(size)
    suffix, pil_format, kwargs = _image_format(fmt, quality)
    names = shape_class_names(num_classes)
    split_names = _check_splits(splits)
    spec = _FolderSpec(n, width, height, num_classes, suffix, pil_format, kwargs, bool(vary_size))
    root = Path(out_dir)
    _shape_templates(max(width, height))  # build the shared cache before threads start
    base = np.random.SeedSequence(_check_count("seed", seed))
    jobs = [
        (spec, (root / split if split else root) / cname, cname, label,
         np.random.SeedSequence(base.entropy, spawn_key=(s_idx, label)))
        for s_idx, split in enumerate(split_names) for label, cname in enumerate(names)
    ]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        total = sum(pool.map(lambda job: _write_class(*job), jobs))
    return {"root": str(root), "count": total, "classes": names,
            "splits": list(splits) if splits is not None else None}


def _check_splits(splits: tuple[str, ...] | None) -> list[str]:
    """Validate split names; an empty string stands for 'no split level'."""
    if splits is None:
        return [""]
    if isinstance(splits, str):
        raise ValueError("splits must be a sequence of names, not a single string")
    names = list(splits)
    bad = [s for s in names if not isinstance(s, str) or not s or "/" in s or "\\" in s
           or s in (".", "..")]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"splits must be distinct, non-empty directory names, got {splits!r}")
    return names
