"""The one dataset handle: a tfrec dataset directory (or URL) opened once: manifest, splits, shards present, problems.

Every command that reads a dataset written by `tfrec convert` opens it here (verify, inspect, view,
the reader, the trainer, evaluate, the benchmarks), so that one rule decides what a dataset is:
- the path is a local directory or a URL (gs://, s3://, memory://: through `tfrec.io.fs`), or the
  dataset.json in it;
- dataset.json must be a JSON object of a format version this tfrec reads, and every shard name in it
  a plain file name inside the dataset (io/manifest.py check_shard_name: nothing outside is ever opened);
- the shards it lists are looked up once, when the dataset is opened; a missing one is a problem worded
  MISSING_SHARD, as are a malformed split and split totals that disagree with their shards.

No TensorFlow, no schema parsing (the schema is data here: `tfrec.codec.schema.schema_from_json`
turns `Dataset.schema` into a Schema, above this folder).
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any, Mapping, Union

from ..errors import TfrecError
from . import fs
from .manifest import MANIFEST, MISSING_SHARD, check_shard_name, read_manifest, shard_path
from .records import normalize_compression
from .scan import Problem


@dataclass(frozen=True)
class ShardEntry:
    """One shard that dataset.json lists: its split, place in the split, file name, path, entry, presence."""

    split: str
    index: int  # its place in the split's list of shards
    file: str  # the name dataset.json gives (a plain file name inside the dataset)
    path: str  # the dataset's path (or URL) joined with it
    entry: Mapping[str, Any]  # dataset.json's entry: file, records, bytes, checksum
    present: bool  # the file existed when the dataset was opened

    @property
    def records(self) -> int | None:
        """The record count dataset.json lists for it (None: not an integer)."""
        n = self.entry.get("records")
        return n if isinstance(n, int) and not isinstance(n, bool) else None


@dataclass(frozen=True)
class Dataset:
    """A tfrec dataset, opened once (see open_dataset): pass it, rather than its path, to every reader.

    Attributes:
        root: the dataset's directory or URL.
        manifest: dataset.json, as read.
        shards: every well-formed shard entry, split by split in dataset.json's order.
        problems: what dataset.json alone shows wrong: malformed splits or shard entries, split totals
            that disagree with their shards, and shards listed but missing (MISSING_SHARD).
    """

    root: str
    manifest: Mapping[str, Any]
    shards: tuple[ShardEntry, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def manifest_path(self) -> str:
        return fs.join(self.root, MANIFEST)

    @property
    def name(self) -> str:
        """dataset.json's name, else the directory's."""
        base = posixpath.basename(self.root.rstrip("/")) if fs.is_url(self.root) else \
            os.path.basename(os.path.abspath(self.root))
        return str(self.manifest.get("name") or base)

    @property
    def schema(self) -> Any:
        """The schema as dataset.json stores it (a JSON object; schema_from_json makes a Schema of it)."""
        return self.manifest.get("schema")

    @property
    def compression(self) -> str:
        """'none', 'gzip' or 'zlib'.

        Raises:
            TfrecError: dataset.json names another.
        """
        try:
            return normalize_compression(self.manifest.get("compression"))
        except TfrecError as e:
            raise TfrecError(f"{self.manifest_path}: {e}") from e

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names, in dataset.json's order."""
        splits = self.manifest.get("splits")
        return tuple(splits) if isinstance(splits, dict) else ()

    def split_info(self, split: str) -> Mapping[str, Any]:
        """dataset.json's entry for a split (records, bytes, shards).

        Raises:
            TfrecError: no such split (the message lists the splits there are).
        """
        if split not in self.splits:
            raise TfrecError(f"{self.root}: no split {split!r}; splits: {', '.join(self.splits)}")
        info = self.manifest["splits"][split]
        return info if isinstance(info, dict) else {}

    def records(self, split: str) -> int | None:
        """The split's record count as dataset.json lists it (None: not an integer). Raises TfrecError: no split."""
        n = self.split_info(split).get("records")
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    def split(self, split: str | None = None) -> tuple[ShardEntry, ...]:
        """The shards of one split (None: of every split). Raises TfrecError: no such split."""
        if split is None:
            return self.shards
        self.split_info(split)
        return tuple(s for s in self.shards if s.split == split)

    def present(self, split: str | None = None) -> tuple[ShardEntry, ...]:
        """The shards of a split (None: all) whose files exist."""
        return tuple(s for s in self.split(split) if s.present)

    def missing(self, split: str | None = None) -> tuple[ShardEntry, ...]:
        """The shards of a split (None: all) listed in dataset.json but missing."""
        return tuple(s for s in self.split(split) if not s.present)

    def shard_paths(self, split: str | None = None) -> list[str]:
        """The paths (or URLs) of the shards of a split (None: all), present or not, in dataset.json's order."""
        return [s.path for s in self.split(split)]

    @classmethod
    def of(cls, root: str, manifest: Any) -> "Dataset":
        """The dataset at `root` whose dataset.json, already read, is `manifest`: shards looked up, problems noted.

        Raises:
            TfrecError: the manifest is not a JSON object, or a shard name is not a file name inside the dataset.
        """
        where = fs.join(root, MANIFEST)
        if not isinstance(manifest, dict):
            raise TfrecError(f"{where}: malformed: not a JSON object")
        listed, problems = shard_entries(manifest, where)
        paths = [shard_path(root, e["file"], f"{where}: split {split!r} shard {i}") for split, i, e in listed]
        found = _present(root, paths)
        shards = tuple(ShardEntry(split, i, e["file"], p, e, p in found) for (split, i, e), p in zip(listed, paths))
        problems += [Problem(s.path, None, None, "dataset", MISSING_SHARD) for s in shards if not s.present]
        return cls(root, manifest, shards, tuple(problems))


DatasetOrPath = Union[Dataset, str, "os.PathLike[str]"]


def open_dataset(path: DatasetOrPath) -> Dataset:
    """Opens a tfrec dataset directory or URL (or the dataset.json in it): reads dataset.json once, checks
    its shard names, looks up its shards, and notes what is wrong with it. A Dataset is returned as it is.

    Raises:
        TfrecError: no dataset.json, not valid JSON, not a JSON object, written by a newer tfrec, or a
            shard name that is not a file name inside the dataset.
    """
    if isinstance(path, Dataset):
        return path
    root = str(path)
    if _basename(root) == MANIFEST and not fs.isdir(root):
        root = (posixpath if fs.is_url(root) else os.path).dirname(root) or "."
    return Dataset.of(root, read_manifest(root))


def is_dataset(path: Any) -> bool:
    """True for a Dataset, or a path (or URL) of a directory holding a dataset.json."""
    if isinstance(path, Dataset):
        return True
    if not isinstance(path, (str, os.PathLike)):
        return False
    return fs.isfile(fs.join(str(path), MANIFEST))


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if fs.is_url(path) else os.path.basename(path)


def shard_entries(manifest: dict, where: str) -> tuple[list[tuple[str, int, dict]], list[Problem]]:
    """(split, place in the split, shard entry) of each well-formed shard entry of a dataset.json, and
    problems with its structure or its split totals (named after `where`, the dataset.json's path).

    Raises:
        TfrecError: a shard's `file` is not a file name inside the dataset (check_shard_name).
    """
    splits = manifest.get("splits")
    if not isinstance(splits, dict):
        return [], [Problem(where, None, None, "dataset", "malformed: 'splits' is not an object")]
    listed, problems = [], []
    for split, info in splits.items():
        shards = info.get("shards") if isinstance(info, dict) else None
        for i, s in enumerate(shards if isinstance(shards, list) else ()):
            if isinstance(s, dict) and "file" in s:  # as read_manifest refuses them, for a manifest from anywhere
                check_shard_name(s["file"], f"{where}: split {split!r} shard {i}")
        good = [(i, s) for i, s in enumerate(shards) if isinstance(s, dict) and isinstance(s.get("file"), str)
                and s["file"]] if isinstance(shards, list) else []
        if shards is None or len(good) != len(shards):
            problems.append(Problem(where, None, None, "dataset", f"malformed: split {split!r} has bad shard entries"))
        listed += [(split, i, s) for i, s in good]
        total = sum(s["records"] for _, s in good if isinstance(s.get("records"), int))
        stated = info.get("records") if isinstance(info, dict) else None
        if stated != total:
            problems.append(Problem(where, None, None, "dataset", f"split {split!r} lists {stated} records; "
                                                                   f"its shards list {total}"))
    return listed, problems


def _present(root: str, paths: list[str]) -> set[str]:
    """Which of the shard paths exist: a stat each locally; one listing of the prefix for a URL."""
    if not fs.is_url(root):
        return {p for p in paths if os.path.isfile(fs._local(p))}
    names = set(fs.listdir(root))
    return {p for p in paths if posixpath.basename(p) in names}
