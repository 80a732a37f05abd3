"""The reader registry: format names -> readers (imported when used), detection from file names, and
read_source."""
from __future__ import annotations

import glob
import importlib
import os
from typing import Callable, Sequence

from ..errors import SourceError, UsageError
from .model import SourceData, SourceOptions

# Format name -> (module in sources/, its reader function). A reader is imported only when its format is
# read, so naming the formats (the CLI's choices, `tfrec --help`) loads no Pillow, pyarrow or NumPy reader.
READERS: dict[str, tuple[str, str]] = {
    "mnist": ("mnist", "read_mnist"),
    "cifar10": ("cifar", "read_cifar10"),
    "cifar100": ("cifar", "read_cifar100"),
    "imagefolder": ("imagefolder", "read_image_folder"),
    "parquet": ("parquet", "read_parquet"),
    "npz": ("npz", "read_npz"),
    "coco": ("coco", "read_coco"),
    "voc": ("voc", "read_voc"),
    "yolo": ("yolo", "read_yolo"),
    "csv": ("csv_manifest", "read_csv_manifest"),
}
FORMATS = tuple(READERS)


def reader(fmt: str) -> Callable[[str, SourceOptions], SourceData]:
    """The reader of format `fmt` (one of FORMATS).

    Raises:
        SourceError: an unknown format (the message lists the supported ones).
    """
    if fmt not in READERS:
        raise SourceError(f"unknown format {fmt!r}; supported: auto, {', '.join(FORMATS)}")
    module, function = READERS[fmt]
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def _detect_file(path: str, base: str) -> str:
    if base.endswith(".parquet"):
        return "parquet"
    if base.endswith(".npz"):
        return "npz"
    if base.lower().endswith(".csv"):
        return "csv"
    if base.startswith("cifar-100"):
        return "cifar100"
    if base.startswith("cifar-10"):
        return "cifar10"
    raise SourceError(
        f"{path}: a single file must be a CIFAR .tar.gz archive, a .parquet file, a .npz archive or a .csv manifest; "
        "give the folder of IDX files or images"
    )


def detect_format(path: str | Sequence[str]) -> str:
    """Guesses the source format from file names: COCO, VOC or YOLO folders, a CSV manifest, IDX files, CIFAR
    binaries, Parquet, .npz, or class folders.

    Several paths (a shell-expanded `data/*.parquet`) must all be Parquet files.

    Raises:
        SourceError: nothing recognisable (says what was looked for).
    """
    if not isinstance(path, (str, os.PathLike)):
        paths = [str(p) for p in path]
        if len(paths) == 1:
            return detect_format(paths[0])
        others = [p for p in paths if not p.endswith(".parquet")]
        if others:
            raise SourceError(f"{others[0]}: several sources must all be .parquet files")
        return "parquet"
    path = str(path)
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file or directory")
    base = os.path.basename(path.rstrip("/"))
    if not os.path.isdir(path):  # a file, or a FIFO or device that its reader refuses by name
        return _detect_file(path, base)
    layout = _detect_objects(path)
    if layout:
        return layout
    names = set()
    for root, dirs, files in os.walk(path):
        names.update(files)
        if root.count(os.sep) - path.count(os.sep) >= 1:
            dirs[:] = []
    if any("idx3-ubyte" in n or "idx3_ubyte" in n for n in names):
        return "mnist"
    if any(n.startswith("data_batch_") and n.endswith(".bin") for n in names) or "test_batch.bin" in names:
        return "cifar10"
    if {"train.bin", "test.bin"} & names:
        return "cifar100"
    if any(n.endswith(".parquet") for n in names):
        return "parquet"
    archives = [n for n in os.listdir(path) if n.endswith((".tar.gz", ".tgz"))]
    for n in archives:
        if n.startswith("cifar-100"):
            return "cifar100"
        if n.startswith("cifar-10"):
            return "cifar10"
    if any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path)):
        return "imagefolder"
    if any(n.lower().endswith(_image_extensions()) for n in os.listdir(path)):
        return "imagefolder"  # a flat folder of images: an unlabelled image folder
    npz = [n for n in os.listdir(path) if n.endswith(".npz")]
    if len(npz) == 1:
        raise SourceError(f"{path}: holds {npz[0]}; give the .npz file itself")
    raise SourceError(
        f"{path}: cannot tell the format: no IDX files (*-idx3-ubyte), CIFAR binaries (*.bin), .parquet files "
        "class subfolders or image files, nor a COCO, VOC, YOLO or CSV layout; pass --format"
    )


# The header cells a CSV manifest starts with (sources/csv_manifest.py).
_CSV_FIRST = ("filename", "file", "path", "image")


def _csv_manifest(file: str) -> bool:
    try:
        with open(file, "rb") as f:
            first = f.readline(4096).decode("utf-8-sig", "replace")
    except OSError:
        return False
    return first.split(",")[0].strip().lower() in _CSV_FIRST


def _detect_objects(path: str) -> str:
    """The detection layout a folder has (COCO, VOC, YOLO, a CSV manifest), or ''."""
    annotations = os.path.join(path, "annotations")
    if os.path.isdir(annotations) and any(n.startswith("instances_") and n.endswith(".json")
                                          for n in os.listdir(annotations)):
        return "coco"
    if all(os.path.isdir(os.path.join(path, d)) for d in ("Annotations", "JPEGImages")):
        return "voc"
    if all(os.path.isdir(os.path.join(path, d)) for d in ("images", "labels")):
        return "yolo"
    entries = os.listdir(path)
    if any(n.lower().endswith(".csv") and _csv_manifest(os.path.join(path, n)) for n in entries):
        return "csv"
    if any(os.path.isfile(os.path.join(path, d, "_annotations.csv")) for d in entries):
        return "csv"  # Roboflow's export: {split}/_annotations.csv beside the images
    return ""


def _image_extensions() -> tuple[str, ...]:
    from .imagefolder import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


def read_source(path: str | Sequence[str], fmt: str = "auto", options: SourceOptions | None = None) -> SourceData:
    """Opens a source dataset in the given format ('auto' detects it).

    Args:
        path: a file or folder; for Parquet also a glob or a list of files.
        fmt: one of FORMATS, or 'auto'.
        options: see SourceOptions.

    Raises:
        SourceError: unknown format (lists the supported ones) or a malformed source.
        UsageError: options.labels 'none' for a format other than an image folder.
    """
    options = options or SourceOptions()
    if isinstance(path, (str, os.PathLike)) and glob.has_magic(str(path)) and not os.path.exists(path):
        path = sorted(glob.glob(str(path))) or [str(path)]  # a quoted glob such as 'data/*.parquet'
    fmt = detect_format(path) if fmt == "auto" else fmt
    read = reader(fmt)
    if options.labels != "inferred" and fmt != "imagefolder":
        raise UsageError(f"--labels {options.labels} reads image folders; {fmt} keeps its labels in its files")
    if not isinstance(path, (str, os.PathLike)):
        paths = [str(p) for p in path]
        if fmt != "parquet" and len(paths) != 1:
            raise SourceError(f"{fmt} reads one source path, not {len(paths)}; only Parquet takes several files")
        path = paths if fmt == "parquet" else paths[0]
    return read(path if isinstance(path, list) else str(path), options)
