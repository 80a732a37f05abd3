"""Which files: PATH arguments resolved to tfrec dataset directories and lists of TFRecord files."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterable

from ..errors import TfrecError
from .dataset import Dataset
from .manifest import MANIFEST


@dataclass(frozen=True)
class Input:
    """One PATH argument resolved: a tfrec dataset directory, or a list of TFRecord files."""

    path: str
    dataset: bool
    files: tuple[str, ...] = ()
    note: str = ""
    opened: Dataset | None = None  # the dataset, where the argument was one already opened

    @property
    def source(self) -> Dataset | str:
        """What open_dataset takes for a dataset: the opened one, else its directory."""
        return self.opened if self.opened is not None else self.path


NOT_RECORDS = (".idx", ".json", ".pbtxt", ".txt", ".md", ".py", ".csv", ".parquet", ".png", ".jpg", ".jsonl")


def tfrecord_files(directory: str) -> list[str]:
    """The TFRecord files in a directory: names with '.tfrecord', or ending .tfrec/.tfr/.records."""
    out = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name.endswith(NOT_RECORDS) or ".tmp-" in name:
            continue
        if ".tfrecord" in name or name.endswith((".tfrec", ".tfr", ".records")):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                out.append(path)
    return out


def find_inputs(paths: Iterable[str | Dataset]) -> list[Input]:
    """Resolves PATH arguments: datasets (opened, or their directories), directories of TFRecord files, files, globs.

    Raises:
        TfrecError: a path that does not exist, a glob or directory with no TFRecord files.
    """
    out = []
    for raw in paths:
        if isinstance(raw, Dataset):
            out.append(Input(raw.root, True, opened=raw))
            continue
        path = str(raw)
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST)):
            out.append(Input(path, True))
        elif os.path.basename(path) == MANIFEST and os.path.isfile(path):
            out.append(Input(os.path.dirname(path) or ".", True))
        elif os.path.isdir(path):
            files = tfrecord_files(path)
            if not files:
                raise TfrecError(f"{path}: no dataset.json and no TFRecord files (*.tfrecord*, *.tfrec)")
            note = f"{path}: no dataset.json; checked its {len(files)} TFRecord files as foreign files"
            out.append(Input(path, False, tuple(files), note))
        elif os.path.isfile(path):
            out.append(Input(path, False, (path,)))
        elif any(c in path for c in "*?["):
            files = [p for p in sorted(glob.glob(path)) if os.path.isfile(p) and not p.endswith(NOT_RECORDS)]
            if not files:
                raise TfrecError(f"{path}: no TFRecord files match")
            out.append(Input(path, False, tuple(files)))
        else:
            raise TfrecError(f"{path}: no such file or directory")
    return out
