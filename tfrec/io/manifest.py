"""dataset.json: the manifest written last, which marks an output directory as complete."""
from __future__ import annotations

import json
import ntpath
import warnings
from typing import Any

from .._version import __version__
from ..errors import TfrecError
from . import fs

MANIFEST = "dataset.json"
# The on-disk format's version, stored in dataset.json. Bump it when shards, .idx files or
# dataset.json change in a way an older reader would misread, and keep reading every older version
# (tests/data/ holds a dataset of each). A manifest without the field is version 1.
FORMAT_VERSION = 1
MISSING_SHARD = "listed in dataset.json but missing"  # verify's and the reader's words for it


def write_manifest(out_dir: str, manifest: dict[str, Any]) -> str:
    """Writes dataset.json atomically (temporary name, then rename; or a URL, see io/fs.py); returns its path."""
    path = fs.join(out_dir, MANIFEST)
    fs.write_atomic(path, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return path


def read_manifest(path: str) -> dict[str, Any]:
    """Reads a dataset directory's dataset.json (or the file itself).

    Raises:
        TfrecError: missing (the directory is incomplete or not a tfrec dataset) or not valid JSON.
    """
    path = fs.join(path, MANIFEST) if fs.isdir(path) else path
    try:
        with fs.open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError as e:
        raise TfrecError(f"{path}: no dataset.json: not a tfrec dataset, or its conversion did not finish") from e
    except json.JSONDecodeError as e:
        raise TfrecError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}") from e
    version = manifest.get("format_version", 1) if isinstance(manifest, dict) else 1
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TfrecError(f"{path}: format_version {version!r} was written by a newer tfrec; this one "
                         f"({__version__}) reads versions up to {FORMAT_VERSION}: upgrade tfrec")
    _check_shard_names(manifest, path)
    return manifest


def _check_shard_names(manifest: Any, manifest_path: str) -> None:
    """Refuses a manifest whose shard entries name anything but a file inside the dataset.

    The structure around the names (splits an object, shards a list of objects) is verify's to
    report as malformed; here only the `file` values that are there are checked.
    """
    splits = manifest.get("splits") if isinstance(manifest, dict) else None
    for split, entry in (splits.items() if isinstance(splits, dict) else ()):
        shards = entry.get("shards") if isinstance(entry, dict) else None
        for i, shard in enumerate(shards if isinstance(shards, list) else ()):
            if isinstance(shard, dict) and "file" in shard:
                check_shard_name(shard["file"], f"{manifest_path}: split {split!r} shard {i}")


def check_shard_name(name: Any, where: str) -> str:
    """A shard entry's `file`, if it is a plain file name inside the dataset directory (or under its URL).

    tfrec writes shards as plain names beside dataset.json (write/plan.py, shard_name), so anything
    with a path separator (either kind), a drive, a URL scheme, `.`/`..`, a NUL or nothing at all
    is refused: joined to the dataset's path it could name a file outside it.

    Raises:
        TfrecError: "WHERE: NAME is not a file name inside the dataset".
    """
    plain = (isinstance(name, str) and name not in ("", ".", "..") and not any(c in name for c in "/\\\0")
             and not ntpath.splitdrive(name)[0])
    if not plain:
        raise TfrecError(f"{where}: {name!r} is not a file name inside the dataset")
    return name


def shard_path(dataset_dir: str, name: Any, where: str = "") -> str:
    """The path (or URL) of a shard that dataset.json names, checked to lie inside the dataset.

    Every command joins shard names to the dataset's path here (through the dataset handle,
    io/dataset.py open_dataset), so a hostile dataset.json cannot lead one of them outside the dataset.
    """
    return fs.join(dataset_dir, check_shard_name(name, where or f"{fs.join(dataset_dir, MANIFEST)}: shard"))


def shard_paths(dataset_dir: str, manifest: dict[str, Any], split: str | None = None) -> list[str]:
    """The shard files a manifest lists, for one split or all of them (names checked: see check_shard_name).

    Deprecated: `tfrec.open_dataset(dataset_dir).shard_paths(split)` lists them (one lister for every command).
    """
    warnings.warn("tfrec.io.manifest.shard_paths moved to tfrec.io.dataset: tfrec.open_dataset(path).shard_paths(split)",
                  DeprecationWarning, stacklevel=2)
    splits = manifest.get("splits", {})
    if split is not None and split not in splits:
        raise TfrecError(f"{dataset_dir}: no split {split!r}; splits: {', '.join(splits)}")
    chosen = [split] if split is not None else list(splits)
    where = fs.join(dataset_dir, MANIFEST)
    return [shard_path(dataset_dir, s.get("file") if isinstance(s, dict) else s, f"{where}: split {name!r} shard {i}")
            for name in chosen for i, s in enumerate(splits[name]["shards"])]
