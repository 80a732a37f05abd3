"""Which checkpoints in a directory are complete, and which a run stopped while writing (no TensorFlow here)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

# tf.train.CheckpointManager.save (TF 2.21) writes ckpt-N_temp/part-*.data-*.tempstate*, renames it, writes
# the part's .index, merges both into ckpt-N.data-K-of-M and ckpt-N.index, then records ckpt-N in the
# state file `checkpoint` (through checkpoint.tmp<hex> and a rename). A kill stops it at any of these.
_PART = re.compile(r"(?P<name>ckpt-\d+)(?:\.index|\.data-\d+-of-(?P<of>\d+)|_temp[^/]*)")
STATE_TEMP_PREFIX = "checkpoint.tmp"
LISTED_FILES = 6  # a note names at most this many files


@dataclass(frozen=True)
class CheckpointChoice:
    """The checkpoint to restore (a name like 'ckpt-3', or None) and the incomplete ones newer than it:
    name -> why ('left FILES', or 'the state file names it, no ckpt-N.index')."""

    restore: str | None
    incomplete: dict[str, str]

    def note(self, directory: str) -> str | None:
        """One line for the run's notes, or None when nothing was ignored."""
        if not self.incomplete:
            return None
        names = ", ".join(self.incomplete)
        why = "; ".join(self.incomplete.values())
        then = (f"resuming from {self.restore}, the last complete one" if self.restore else
                "training starts from the beginning")
        kind = "incomplete checkpoint" if len(self.incomplete) == 1 else "incomplete checkpoints"
        return f"{kind} {names} in {directory} ignored ({why}): {then}"


def _files(directory: str) -> dict[str, list[str]]:
    """Checkpoint name -> its files in `directory` (relative paths), and '' -> state-file temporaries."""
    found: dict[str, list[str]] = {}
    for entry in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        m = _PART.fullmatch(entry)
        if entry.startswith(STATE_TEMP_PREFIX) or m:
            path = os.path.join(directory, entry)
            inside = [f"{entry}/{f}" for f in sorted(os.listdir(path))] if os.path.isdir(path) else [entry]
            found.setdefault(m["name"] if m else "", []).extend(inside or [f"{entry}/"])
    return found


def _complete(name: str, files: list[str]) -> bool:
    """An .index and every data shard it needs (ckpt-N.data-K-of-M for each K < M) beside it."""
    counts = {int(m["of"]) for f in files if (m := _PART.fullmatch(f)) and m["of"]}
    if f"{name}.index" not in files or len(counts) != 1:
        return False
    of = counts.pop()
    return all(f"{name}.data-{k:05d}-of-{of:05d}" in files for k in range(of))


def _number(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def choose_checkpoint(directory: str, recorded: list[str]) -> CheckpointChoice:
    """The newest checkpoint both recorded in the state file and complete on disk, and the checkpoints
    newer than it, which are not (a run stopped while writing them, or their files are gone).

    Leftovers older than the one restored (a killed run's temporaries, overwritten since by a complete
    checkpoint of the same number) are not reported: they cost nothing and would be reported forever.

    Args:
        recorded: the checkpoint names the state file lists (e.g. ['ckpt-1', 'ckpt-2']).
    """
    files = _files(directory)
    temps = files.pop("", [])
    usable = [name for name in recorded if name in files and _complete(name, files[name])]
    restore = max(usable, key=_number) if usable else None
    newer = sorted((n for n in set(files) | set(recorded) if _number(n) > (_number(restore) if restore else 0)),
                   key=_number)
    incomplete: dict[str, str] = {}
    for name in newer:
        left = files.get(name, []) + (temps if name == newer[-1] else [])
        if name not in recorded:
            incomplete[name] = "a run stopped while writing it left " + _listing(left)
        elif name in files:
            incomplete[name] = f"the state file names it, but only {_listing(files[name])} is there"
        else:
            incomplete[name] = f"the state file names it, no {name}.index"
    return CheckpointChoice(restore, incomplete)


def _listing(files: list[str]) -> str:
    names = sorted(files)
    more = len(names) - LISTED_FILES
    return ", ".join(names[:LISTED_FILES]) + (f" and {more} more" if more > 0 else "")
