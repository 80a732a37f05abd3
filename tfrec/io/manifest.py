"""dataset.json: the manifest written last, which marks an output directory as complete."""
from __future__ import annotations

import json
import os
from typing import Any

from ..errors import TfrecError

MANIFEST = "dataset.json"
MISSING_SHARD = "listed in dataset.json but missing"  # verify's and the reader's words for it


def write_manifest(out_dir: str, manifest: dict[str, Any]) -> str:
    """Writes dataset.json atomically (temporary name, then rename); returns its path."""
    path = os.path.join(out_dir, MANIFEST)
    tmp = os.path.join(out_dir, f".{MANIFEST}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_manifest(path: str) -> dict[str, Any]:
    """Reads a dataset directory's dataset.json (or the file itself).

    Raises:
        TfrecError: missing (the directory is incomplete or not a tfrec dataset) or not valid JSON.
    """
    path = os.path.join(path, MANIFEST) if os.path.isdir(path) else path
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise TfrecError(f"{path}: no dataset.json: not a tfrec dataset, or its conversion did not finish") from e
    except json.JSONDecodeError as e:
        raise TfrecError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}") from e


def shard_paths(dataset_dir: str, manifest: dict[str, Any], split: str | None = None) -> list[str]:
    """The shard files a manifest lists, for one split or all of them."""
    splits = manifest.get("splits", {})
    if split is not None and split not in splits:
        raise TfrecError(f"{dataset_dir}: no split {split!r}; splits: {', '.join(splits)}")
    chosen = [split] if split is not None else list(splits)
    return [os.path.join(dataset_dir, s["file"]) for name in chosen for s in splits[name]["shards"]]
