"""The torch backend's checkpoints: one `ckpt-N.pt` per save (model, optimizer, loader position, epoch), written
atomically, the last few kept; the newest one that loads is restored."""
from __future__ import annotations

import os
import re

import torch

KEEP_CHECKPOINTS = 3  # as the TensorFlow path's CheckpointManager keeps
_NAME = re.compile(r"ckpt-(\d+)\.pt")
_TEMP = re.compile(r"ckpt-(\d+)\.pt\.tmp-\d+")


class Checkpoints:
    """`save(state)` writes ckpt-N.pt under a temporary name and renames it (a kill leaves no file that looks
    complete), then removes all but the newest KEEP_CHECKPOINTS; `restore()` loads the newest that loads,
    noting in `note` those it ignored. Loading is `torch.load(weights_only=True)`: no arbitrary unpickling."""

    def __init__(self, directory: str | None):
        self.directory = directory
        self.note: str | None = None
        self.latest: str | None = None

    def _numbers(self) -> list[int]:
        if not self.directory or not os.path.isdir(self.directory):
            return []
        return sorted(int(m.group(1)) for e in os.listdir(self.directory) if (m := _NAME.fullmatch(e)))

    def _path(self, n: int) -> str:
        return os.path.join(self.directory, f"ckpt-{n}.pt")

    def restore(self) -> tuple[str, dict] | None:
        """(path, state) of the newest checkpoint that loads, or None (no directory, or none there)."""
        ignored = []
        if self.directory and os.path.isdir(self.directory):
            ignored = [f"{e} (a save that did not finish)" for e in sorted(os.listdir(self.directory))
                       if _TEMP.fullmatch(e)]
        found = None
        for n in reversed(self._numbers()):
            try:
                found = (self._path(n), torch.load(self._path(n), map_location="cpu", weights_only=True))
                break
            except Exception as e:  # a damaged file: the one before it is the last good one
                ignored.append(f"ckpt-{n}.pt ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
        if ignored:
            then = (f"resuming from {os.path.basename(found[0])}, the last complete one" if found else
                    "training starts from the beginning")
            kind = "incomplete checkpoint" if len(ignored) == 1 else "incomplete checkpoints"
            self.note = f"{kind} {', '.join(ignored)} in {self.directory} ignored: {then}"
        if found:
            self.latest = found[0]
        return found

    def save(self, state: dict) -> str | None:
        """Writes the next ckpt-N.pt (None without a directory); keeps the newest KEEP_CHECKPOINTS."""
        if not self.directory:
            return None
        os.makedirs(self.directory, exist_ok=True)
        numbers = self._numbers()
        path = self._path((numbers[-1] if numbers else 0) + 1)
        tmp = f"{path}.tmp-{os.getpid()}"
        torch.save(state, tmp)
        os.replace(tmp, path)
        for n in self._numbers()[:-KEEP_CHECKPOINTS]:
            os.remove(self._path(n))
        self.latest = path
        return path
