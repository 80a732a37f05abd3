"""OUT's state before a conversion writes: create it, clear it (--overwrite), keep its finished shards
(--resume), and tell tfrec's interrupted conversion from a directory that is merely not empty."""
from __future__ import annotations

import os
import re

from ..errors import TfrecError
from ..io import fs
from ..io.journal import Journal
from ..io.manifest import MANIFEST
from ..sources.objects import LABEL_MAP
from .options import ConvertOptions
from .tfds import remove_tfds_metadata


def _clear(out: str, keep: set[str]) -> None:
    """Removes tfrec's files from OUT (dataset.json first), except the shards named in `keep`."""
    fs.remove(fs.join(out, MANIFEST))  # first, so the directory never looks complete while it is cleared
    for name in fs.listdir(out):
        base = name[:-4] if name.endswith(".idx") else name
        if (".tfrecord-" in name or (name.startswith(".") and ".tmp-" in name) or name == LABEL_MAP) and base not in keep:
            fs.remove(fs.join(out, name))
    remove_tfds_metadata(out)


# tfrec's own shard files, complete (`NAME-SPLIT.tfrecord-00000-of-00004`, its `.idx`) or still under the
# writer's temporary name (`.NAME-SPLIT.tfrecord-00000-of-00004.tmp-PID`, `.idx` too; io/fs.py temp_name)
_SHARD_FILE = re.compile(r"[^/]+\.tfrecord-\d{5,}-of-\d{5,}(\.idx)?")
_SHARD_TEMP = re.compile(r"\.[^/]+\.tfrecord-\d{5,}-of-\d{5,}\.tmp-\d+(\.idx)?")


def interrupted_conversion(out: str, journal: Journal) -> str | None:
    """What marks OUT as a conversion that did not finish (no dataset.json, and a journal or tfrec's shard
    files, complete or temporary): e.g. "3 complete shard file(s) and a conversion journal"; None for anything else.

    A kill can land between a shard's rename and its journal line, or before the first line: the
    shard files alone still say that this is tfrec's unfinished work, for --resume to finish.
    """
    if fs.exists(fs.join(out, MANIFEST)):
        return None
    names = fs.listdir(out)
    shards = sum(1 for n in names if _SHARD_FILE.fullmatch(n) and not n.endswith(".idx"))
    temps = sum(1 for n in names if _SHARD_TEMP.fullmatch(n) and not n.endswith(".idx"))
    found = [f"{shards} complete shard file(s)"] if shards else []
    found += [f"{temps} unfinished shard file(s)"] if temps else []
    found += ["a conversion journal"] if journal.exists() else []
    if not found and any(_SHARD_FILE.fullmatch(n) or _SHARD_TEMP.fullmatch(n) for n in names):
        found = ["shard index files"]  # a lone .idx: the index is renamed before its shard
    return " and ".join(found) or None


def prepare_output(out: str, options: ConvertOptions, journal: Journal, keep: set[str]) -> None:
    """Creates OUT, or clears it for --overwrite, or keeps the reusable shards for --resume.

    Raises:
        TfrecError: OUT is not empty (or holds an interrupted conversion) and neither flag is given,
            or it cannot be created.
    """
    try:
        if fs.isdir(out) and fs.listdir(out):
            if options.overwrite:
                _clear(out, set())
                journal.remove()
            elif options.resume:
                _clear(out, keep)
            elif found := interrupted_conversion(out, journal):
                raise TfrecError(
                    f"{out}: holds an interrupted conversion ({found}, no dataset.json); pass --resume to finish it "
                    "or --overwrite to start again"
                )
            else:
                raise TfrecError(f"{out}: output directory is not empty; pass --overwrite to replace it")
        elif fs.isfile(out):
            raise TfrecError(f"{out}: exists and is not a directory")
        fs.makedirs(out)
        probe = fs.join(out, f".tfrec-write-test-{os.getpid()}")
        fs.open(probe, "wb").close()
        fs.remove(probe)
    except OSError as e:
        raise TfrecError(f"{out}: cannot write the output directory: {e.strerror}") from e
