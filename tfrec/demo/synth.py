"""Deterministic, learnable synthetic datasets written in the real on-disk source formats."""

from __future__ import annotations

import gzip as _gzip
import io
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

# The rendering lives in synth_render; its public API is re-exported here (synth.make_digits etc.).
from .synth_render import (  # noqa: F401
    COLOURS,
    MAX_SHAPE_CLASSES,
    SHAPES,
    _check_count,
    _check_size,
    _digit_templates,
    _render_shapes,
    _shape_templates,
    make_digits,
    make_shapes,
    shape_class_names,
)

PathLike = Union[str, os.PathLike]

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
_FOLDER_BATCH_BYTES = 1 << 24  # pixel bytes per batch in image folders (also seed-stable)


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
                gzip: bool = False, noise: bool = True) -> dict:
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
        noise: background noise (see make_digits); off compresses like the real MNIST.

    Returns:
        ``{"train"|"test": {"images": path, "labels": path, "count": n}}``.
    """
    n_train, n_test = _check_count("n_train", n_train), _check_count("n_test", n_test)
    images, labels = make_digits(n_train + n_test, seed, noise=noise)
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
