"""The conversion journal: which shards finished, so an interrupted conversion can resume safely."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from . import fs
from .manifest import shard_path
from .records import file_checksum

JOURNAL = ".tfrec-journal.jsonl"
# On object stores (no append) and for Beam workers writing at once: one small object per shard.
JOURNAL_DIR = ".tfrec-journal.d"


def fingerprint(parts: Any) -> str:
    """A short hash of everything that decides the shards' bytes (source listing, options, plan)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Journal:
    """An append-only JSON-lines log in OUT: one line per shard when it is complete and renamed.

    Each line holds the run's fingerprint, the split, the shard's record/byte counts and checksum,
    and the files skipped inside it. A line is written (and fsynced) only after the shard's rename,
    so any shard it names was complete; resume still re-checks size and checksum before reuse.
    With `per_shard` (an object-store OUT, or Beam workers finishing shards at the same time) each
    entry is instead its own small file in OUT/.tfrec-journal.d/, published atomically.
    """

    def __init__(self, out: str, fp: str, per_shard: bool = False):
        self.out = out
        self.path = fs.join(out, JOURNAL)
        self.dir = fs.join(out, JOURNAL_DIR)
        self.fp = fp
        self.per_shard = per_shard or fs.is_url(out)

    def exists(self) -> bool:
        return fs.exists(self.path) or bool(self._entry_files())

    def _entry_files(self) -> list[str]:
        if not fs.isdir(self.dir):
            return []
        return [fs.join(self.dir, n) for n in fs.listdir(self.dir) if n.endswith(".json")]

    def _lines(self) -> list[str]:
        lines = fs.read_bytes(self.path).decode("utf-8").splitlines() if fs.exists(self.path) else []
        return lines + [fs.read_bytes(p).decode("utf-8") for p in self._entry_files()]

    def entries(self) -> list[dict]:
        """The journal's lines that belong to this fingerprint (torn or foreign lines are ignored)."""
        out = []
        for line in self._lines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write
            if isinstance(entry, dict) and entry.get("fingerprint") == self.fp:
                out.append(entry)
        return out

    def reusable(self, out: str) -> dict[str, dict]:
        """Shard file -> journal entry, for shards whose file, index, size and checksum still match."""
        good = {}
        for entry in self.entries():
            shard = entry["shard"]
            path = shard_path(out, shard.get("file"), f"{self.path}: shard")  # a plain name inside OUT, or refused
            if (
                fs.isfile(path)
                and fs.isfile(path + ".idx")
                and fs.getsize(path) == shard["bytes"]
                and file_checksum(path) == shard["checksum"]
            ):
                good[shard["file"]] = entry
        return good

    def record(self, split: str, shard: dict, skipped: list[dict]) -> None:
        """Appends one completed shard and flushes it to disk."""
        line = json.dumps({"fingerprint": self.fp, "split": split, "shard": shard, "skipped": skipped})
        if self.per_shard:
            fs.makedirs(self.dir)
            fs.write_atomic(fs.join(self.dir, f"{shard['file']}.json"), line.encode("utf-8"))
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        for p in self._entry_files():
            fs.remove(p)
        fs.remove(self.path)
        fs.rmdir(self.dir)
