"""dataset.json: the manifest written last, which marks an output directory as complete."""
from __future__ import annotations

import json
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
    return manifest


def shard_paths(dataset_dir: str, manifest: dict[str, Any], split: str | None = None) -> list[str]:
    """The shard files a manifest lists, for one split or all of them."""
    splits = manifest.get("splits", {})
    if split is not None and split not in splits:
        raise TfrecError(f"{dataset_dir}: no split {split!r}; splits: {', '.join(splits)}")
    chosen = [split] if split is not None else list(splits)
    return [fs.join(dataset_dir, s["file"]) for name in chosen for s in splits[name]["shards"]]
