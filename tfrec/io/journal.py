"""The conversion journal: which shards finished, so an interrupted conversion can resume safely."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from .records import file_checksum

JOURNAL = ".tfrec-journal.jsonl"


def fingerprint(parts: Any) -> str:
    """A short hash of everything that decides the shards' bytes (source listing, options, plan)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Journal:
    """An append-only JSON-lines log in OUT: one line per shard when it is complete and renamed.

    Each line holds the run's fingerprint, the split, the shard's record/byte counts and checksum,
    and the files skipped inside it. A line is written (and fsynced) only after the shard's rename,
    so any shard it names was complete; resume still re-checks size and checksum before reuse.
    """

    def __init__(self, out: str, fp: str):
        self.path = os.path.join(out, JOURNAL)
        self.fp = fp

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def entries(self) -> list[dict]:
        """The journal's lines that belong to this fingerprint (torn or foreign lines are ignored)."""
        if not self.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
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
            path = os.path.join(out, shard["file"])
            if (
                os.path.isfile(path)
                and os.path.isfile(path + ".idx")
                and os.path.getsize(path) == shard["bytes"]
                and file_checksum(path) == shard["checksum"]
            ):
                good[shard["file"]] = entry
        return good

    def record(self, split: str, shard: dict, skipped: list[dict]) -> None:
        """Appends one completed shard and flushes it to disk."""
        line = json.dumps({"fingerprint": self.fp, "split": split, "shard": shard, "skipped": skipped})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
