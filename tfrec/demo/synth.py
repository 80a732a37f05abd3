"""Deterministic, learnable synthetic datasets written in the real on-disk source formats."""
from __future__ import annotations

import gzip as _gzip
import io
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..errors import TfrecError
from .synth_render import (
    COLOURS,
    MAX_SHAPE_CLASSES,
    SHAPES,
    check_count,
    check_size,
    make_digits,
    make_shapes,
    render_shapes,
    shape_class_names,
    shape_templates,
)

# The arrays come from synth_render; this module is the one entry point for both (synth.make_digits etc.).
__all__ = [
    "CIFAR100_ARCHIVE", "CIFAR100_DIR", "CIFAR10_ARCHIVE", "CIFAR10_DIR", "COLOURS", "MAX_SHAPE_CLASSES",
    "MNIST_FILES", "SHAPES", "make_digits", "make_shapes", "shape_class_names", "write_cifar10",
    "write_cifar100", "write_idx", "write_image_folder", "write_mnist",
]

PathLike = str | os.PathLike

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR100_DIR = "cifar-100-binary"
CIFAR100_ARCHIVE = "cifar-100-binary.tar.gz"

_IDX_TYPES = {  # NumPy dtype -> IDX type code; IDX stores the data big-endian whatever the dtype's order
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
# Pixel bytes rendered per batch in image folders. Fixed, because the random draws follow the batching:
# changing it changes every seed's images.
_FOLDER_BATCH_BYTES = 1 << 24


# --------------------------------------------------------------------------- IDX / MNIST


def _write_bytes(path: Path, data: bytes, compress: bool) -> None:
    """Writes `data`, gzip-compressed with mtime 0 (so reruns are byte-identical) when asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gzip.compress(data, compresslevel=6, mtime=0) if compress else data)


def write_idx(path: PathLike, array: np.ndarray, gzip: bool = False) -> str:
    """Writes an array in IDX, the MNIST container, and returns the path as a string.

    The header is the magic `0x0000TTDD` (TT the type code, e.g. 0x08 for uint8; DD the number of
    dimensions), one big-endian int32 per dimension, then the data, big-endian.

    Args:
        path: written exactly as given; no `.gz` is added.
        array: of dtype uint8, int8, int16, int32, float32 or float64.

    Raises:
        TfrecError: IDX cannot store the dtype, or the array has more than 255 dimensions.
    """
    array = np.asarray(array)
    code = _IDX_TYPES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TfrecError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim > 255:
        raise TfrecError("IDX supports at most 255 dimensions")
    header = np.array([(code << 8) | array.ndim, *array.shape], dtype=">i4").tobytes()
    body = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    _write_bytes(Path(path), header + body, gzip)
    return str(path)


def write_mnist(out_dir: PathLike, n_train: int = 600, n_test: int = 100, seed: int = 0,
                gzip: bool = False, noise: bool = True) -> dict[str, Any]:
    """Writes a synthetic MNIST in the original IDX layout: the four files named in `MNIST_FILES`.

    The data is `make_digits(n_train + n_test, seed, noise=noise)`: the first `n_train` images are the
    train split, the rest the test split.

    Args:
        out_dir: created if missing.
        gzip: write `.gz` files, like the official download.
        noise: background noise (see `make_digits`); without it the files compress like the real MNIST.

    Returns:
        `{"train" | "test": {"images": path, "labels": path, "count": n}}`.

    Raises:
        TfrecError: a count is negative or the seed is invalid.
    """
    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
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
    """CIFAR binary records: the label bytes, then the R, G and B planes (row-major)."""
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
    """Writes `top/` and its members to a byte-reproducible .tar.gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, \
            _gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_tar_info(top, is_dir=True))
        for name, data in members.items():
            tar.addfile(_tar_info(f"{top}/{name}", len(data)), io.BytesIO(data))


def _emit(out_dir: PathLike, top: str, members: dict[str, bytes],
          archive: str | None) -> tuple[dict[str, str], str | None]:
    """Writes members under out_dir/top, or into out_dir/archive; returns their paths (or member names)."""
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
                  batches: int = 5, archive: bool = False) -> dict[str, Any]:
    """Writes a synthetic CIFAR-10 in the official binary layout.

    `cifar-10-batches-bin/` holds `data_batch_1.bin` .. `data_batch_{batches}.bin` (the train split
    spread evenly), `test_batch.bin` and `batches.meta.txt`. Each record is 1 label byte, then 1024 R,
    1024 G and 1024 B bytes. The data is `make_shapes(n_train + n_test, seed)`: the first `n_train`
    images are the train split, the rest the test split.

    Args:
        out_dir: created if missing.
        batches: number of training batch files, at least 1.
        archive: write only `cifar-10-binary.tar.gz`, holding the folder.

    Returns:
        `{"root", "archive", "train": {"files", "count"}, "test": {"files", "count"}, "meta", "classes"}`.
        With `archive`, "root" is None and the file entries are archive member names; without it
        "archive" is None.

    Raises:
        TfrecError: a count is negative, `batches` is not a positive integer or the seed is invalid.
    """
    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise TfrecError(f"batches must be a positive integer, got {batches!r}")
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
                   archive: bool = False) -> dict[str, Any]:
    """Writes a synthetic CIFAR-100 in the official binary layout.

    `cifar-100-binary/` holds `train.bin`, `test.bin`, `fine_label_names.txt` (100 names) and
    `coarse_label_names.txt` (20 names). Each record is 1 coarse label byte, 1 fine label byte, then
    3072 plane bytes (R, G, B). The fine labels come from `make_shapes(n_train + n_test, seed, 32, 100)`
    (the first `n_train` train, the rest test); coarse = fine // 5.

    Args:
        out_dir: created if missing.
        archive: write only `cifar-100-binary.tar.gz`, holding the folder.

    Returns:
        `{"root", "archive", "train": {"files", "count"}, "test": {"files", "count"}, "fine_names",
        "coarse_names", "classes", "coarse_classes"}`; paths as in `write_cifar10`.

    Raises:
        TfrecError: a count is negative or the seed is invalid.
    """
    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
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
    """(width, height) from an int or a pair."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2:
        raise TfrecError(f"size must be an int or a (width, height) pair, got {size!r}")
    return check_size(pair[0]), check_size(pair[1])


def _image_format(fmt: str, quality: int) -> tuple[str, str, dict]:
    """(suffix, Pillow format, save kwargs) for a format name."""
    key = str(fmt).lower().lstrip(".")
    if key not in _IMAGE_FORMATS:
        raise TfrecError(f"unsupported image format {fmt!r}; choose from {sorted(_IMAGE_FORMATS)}")
    suffix, pil_format = _IMAGE_FORMATS[key]
    if not 1 <= quality <= 100:
        raise TfrecError(f"quality must be in 1..100, got {quality!r}")
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
    """Renders and saves every image of one class directory; returns the count."""
    rng = np.random.default_rng(seed_seq)
    class_dir.mkdir(parents=True, exist_ok=True)
    side = max(spec.width, spec.height)
    sizes = _target_sizes(rng, spec)
    step = max(1, _FOLDER_BATCH_BYTES // (side * side * 3))  # fixed: part of the draw order
    for start in range(0, spec.n, step):
        count = min(step, spec.n - start)
        batch = render_shapes(rng, np.full(count, label, np.uint8), side, spec.num_classes)
        for k in range(count):
            img = Image.fromarray(batch[k])
            target = (int(sizes[start + k, 0]), int(sizes[start + k, 1]))
            if target != img.size:
                img = img.resize(target, Image.Resampling.BILINEAR)
            img.save(class_dir / f"{name}_{start + k:05d}{spec.suffix}",
                     format=spec.pil_format, **spec.save_kwargs)
    return spec.n


def write_image_folder(out_dir: PathLike, n_per_class: int = 20, seed: int = 0,
                       num_classes: int = 3, size: int | tuple[int, int] = (64, 64),
                       fmt: str = "jpeg", splits: Sequence[str] | None = None,
                       quality: int = 90, vary_size: bool = False) -> dict[str, Any]:
    """Writes a class-per-folder image folder of coloured shapes.

    The layout is `out_dir/{class}/{class}_{i:05d}.{ext}`, or `out_dir/{split}/{class}/...` with
    splits. Class folders are written by parallel threads, each from its own seed derived from
    (seed, split, class), so the output does not depend on timing.

    Args:
        out_dir: created if missing.
        n_per_class: images per class, in each split.
        num_classes: 1 to 100, named by `shape_class_names`.
        size: `(width, height)`, as `PIL.Image.size` orders it, or one int for both.
        fmt: jpeg (or jpg), png, bmp, gif or webp.
        splits: split folder names, e.g. `("train", "val")`; None for no split level.
        quality: JPEG and WebP quality, 1 to 100.
        vary_size: give each image a random width and height within 0.75x-1.25x of `size`.

    Returns:
        `{"root": path, "count": total images, "classes": names, "splits": split names or None}`.

    Raises:
        TfrecError: an argument is out of range, the format is unknown, or split names repeat or are unsafe.
    """
    n = check_count("n_per_class", n_per_class)
    width, height = _parse_size(size)
    suffix, pil_format, kwargs = _image_format(fmt, quality)
    names = shape_class_names(num_classes)
    split_names = _check_splits(splits)
    spec = _FolderSpec(n, width, height, num_classes, suffix, pil_format, kwargs, bool(vary_size))
    root = Path(out_dir)
    shape_templates(max(width, height))  # fill the shared cache once, before the threads race to build it
    base = np.random.SeedSequence(check_count("seed", seed))
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


def _check_splits(splits: Sequence[str] | None) -> list[str]:
    """The split names, checked; [""] stands for no split level."""
    if splits is None:
        return [""]
    if isinstance(splits, str):
        raise TfrecError("splits must be a sequence of names, not a single string")
    names = list(splits)
    bad = [s for s in names if not isinstance(s, str) or not s or "/" in s or "\\" in s
           or s in (".", "..")]
    if not names or bad or len(set(names)) != len(names):
        raise TfrecError(f"splits must be distinct, non-empty directory names, got {splits!r}")
    return names


# --------------------------------------------------------------------------- many tiny records


def write_tiny_dataset(out_dir: PathLike, records: int, shards: int = 1, name: str = "tiny") -> dict:
    """Write a tfrec dataset (shards, .idx files, dataset.json) of many tiny records, fast.

    Each record is a 2x2 grey raw image and a label 0-9 (record i has label i % 10); the records are
    encoded and framed in bulk with NumPy, so a million take about a second. Made for measuring
    what must not depend on a dataset's size (random access, the viewer's paging).

    Returns:
        The manifest written.
    """
    from ..codec.example import encode_examples_bulk
    from ..io.manifest import write_manifest
    from ..io.records import ShardWriter, frame_rows_inplace

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, check_count("records", records), shards + 1).astype(np.int64)
    entries = []
    for k in range(shards):
        ids = np.arange(bounds[k], bounds[k + 1], dtype=np.int64)
        columns = {"image": ("bytes", (ids[:, None] * 4 + np.arange(4)).astype(np.uint8)), "label": ("int64", ids % 10)}
        file = f"{name}-train.tfrecord-{k:05d}-of-{shards:05d}"
        with ShardWriter(str(root / file)) as writer:
            for _, framed in encode_examples_bulk(columns, margin=(12, 4)):
                writer.write_framed(frame_rows_inplace(framed), np.full(len(framed), framed.shape[1]))
        entries.append(writer.info.to_json())
    schema = {"name": name, "features": {
        "image": {"kind": "image", "encoding": "raw", "dtype": "uint8", "shape": [2, 2, 1]},
        "label": {"kind": "class_label", "shape": [], "num_classes": 10, "names": [str(d) for d in range(10)]}}}
    manifest = {"name": name, "schema": schema, "compression": "none", "seed": None, "shuffled": False,
                "source": {"format": "synthetic", "description": f"{records:,} tiny synthetic records"},
                "splits": {"train": {"records": int(records), "bytes": sum(e["bytes"] for e in entries), "shards": entries}}}
    write_manifest(str(root), manifest)
    return manifest
