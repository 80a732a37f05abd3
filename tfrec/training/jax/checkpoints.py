"""The JAX backend's checkpoints: one `ckpt-N.npz` per save (the model's and optimizer's variables as arrays, the
run's position as JSON), written atomically, the last few kept; the newest that loads is restored. NumPy only,
loaded with allow_pickle=False: nothing is unpickled."""
from __future__ import annotations

import json
import os
import re

import numpy as np

KEEP_CHECKPOINTS = 3  # as the TensorFlow path's CheckpointManager keeps
_NAME = re.compile(r"ckpt-(\d+)\.npz")
_TEMP = re.compile(r"ckpt-(\d+)\.npz\.tmp-\d+(\.npz)?")
GROUPS = ("trainable", "non_trainable", "optimizer")


def _arrays(state: dict) -> dict[str, np.ndarray]:
    out = {"state": np.frombuffer(json.dumps(state["meta"]).encode("utf-8"), np.uint8)}
    for group in GROUPS:
        for i, value in enumerate(state[group]):
            out[f"{group}/{i:05d}"] = np.asarray(value)
    return out


def _state(z) -> dict:
    state = {"meta": json.loads(z["state"].tobytes().decode("utf-8"))}
    for group in GROUPS:
        names = sorted(k for k in z.files if k.startswith(group + "/"))
        state[group] = [z[k] for k in names]
    return state


class Checkpoints:
    """`save(state)` writes ckpt-N.npz under a temporary name and renames it (a kill leaves no file that looks
    complete), then removes all but the newest KEEP_CHECKPOINTS; `restore()` loads the newest that loads,
    noting in `note` those it ignored. A state is {"meta": JSON-able dict, "trainable", "non_trainable",
    "optimizer": lists of arrays}."""

    def __init__(self, directory: str | None):
        self.directory = directory
        self.note: str | None = None
        self.latest: str | None = None

    def _numbers(self) -> list[int]:
        if not self.directory or not os.path.isdir(self.directory):
            return []
        return sorted(int(m.group(1)) for e in os.listdir(self.directory) if (m := _NAME.fullmatch(e)))

    def _path(self, n: int) -> str:
        return os.path.join(self.directory, f"ckpt-{n}.npz")

    def restore(self) -> tuple[str, dict] | None:
        """(path, state) of the newest checkpoint that loads, or None (no directory, or none there)."""
        ignored = []
        if self.directory and os.path.isdir(self.directory):
            ignored = [f"{e} (a save that did not finish)" for e in sorted(os.listdir(self.directory))
                       if _TEMP.fullmatch(e)]
        found = None
        for n in reversed(self._numbers()):
            try:
                with np.load(self._path(n), allow_pickle=False) as z:
                    found = (self._path(n), _state(z))
                break
            except Exception as e:  # a damaged file: the one before it is the last good one
                ignored.append(f"ckpt-{n}.npz ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
        if ignored:
            then = (f"resuming from {os.path.basename(found[0])}, the last complete one" if found else
                    "training starts from the beginning")
            kind = "incomplete checkpoint" if len(ignored) == 1 else "incomplete checkpoints"
            self.note = f"{kind} {', '.join(ignored)} in {self.directory} ignored: {then}"
        if found:
            self.latest = found[0]
        return found

    def save(self, state: dict) -> str | None:
        """Writes the next ckpt-N.npz (None without a directory); keeps the newest KEEP_CHECKPOINTS."""
        if not self.directory:
            return None
        os.makedirs(self.directory, exist_ok=True)
        numbers = self._numbers()
        path = self._path((numbers[-1] if numbers else 0) + 1)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            np.savez(f, **_arrays(state))
        os.replace(tmp, path)
        for n in self._numbers()[:-KEEP_CHECKPOINTS]:
            os.remove(self._path(n))
        self.latest = path
        return path
