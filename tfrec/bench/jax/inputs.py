"""The four modes' batches for the JAX trainer: synthetic, tfrec from storage, tfrec from memory, Grain's tutorial.

Each mode is `batches(epoch)` for `tfrec.training.jax.loop.train(..., batches=...)`: epoch 0 is the warm-up
(`warmup_steps` batches), epoch 1 the timed epoch (`steps` batches).

- synthetic: one real batch from the reader, put on the trainer's device once and fed again and again;
- tfrec: the JAX trainer's reader (tfrec.training.jax.inputs: the access layer's batches in `workers`
  threads), the shards evicted from the page cache before the timed epoch;
- tfrec_cached: the same reader over a copy of the split's shards in /dev/shm (a tmpfs: the same pread
  path from memory, so the difference is fetching alone); where /dev/shm is missing or too small, the
  shards are read once so that the page cache holds them (`cache["method"]` says which);
- tutorial: Grain's DataLoader over tfrec.grain.source with `workers` worker processes (tutorial.py).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable, Iterator

import numpy as np

from ...access import open_source
from ...errors import TfrecError
from ...grain import Source
from ...io.dataset import Dataset, open_dataset
from ...training.jax.inputs import Batches
from ..options import TrainBenchOptions
from ..pagecache import drop_page_cache
from ..torch.stages import loader_stages  # NumPy and the access layer only: no torch is imported there
from .tutorial import GrainPass, grain_loader, grain_stages

SHM = "/dev/shm"
SHM_HEADROOM = 2.0  # the copy must leave at least as much free as it takes


def default_workers() -> int:
    """The reader's threads (and Grain's worker processes) by default: one per core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def take(make: Callable[[], Any], n: int) -> Iterator[Any]:
    """`n` batches from fresh passes of `make()`, as many passes as it takes; each pass closed once left."""
    done = 0
    while done < n:
        it = iter(make())
        before = done
        try:
            for batch in it:
                yield batch
                done += 1
                if done >= n:
                    break
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            del it
        if done == before:
            raise TfrecError("the split gave no batch: it holds fewer records than one batch (lower --batch-size)")


def memory_copy(dataset: Dataset, split: str) -> tuple[str | None, dict]:
    """Copies dataset.json and the split's shards (with their indexes) into a new directory in /dev/shm.

    Returns:
        (the copy's directory or None, {"method", "bytes"}): None where /dev/shm cannot hold it, after reading
        the shards once so that the page cache does.
    """
    files = dataset.shard_paths(split)
    paths = [p for f in files for p in (f, f + ".idx") if os.path.exists(p)]
    size = sum(os.path.getsize(p) for p in paths)
    if os.path.isdir(SHM) and shutil.disk_usage(SHM).free > SHM_HEADROOM * size:
        root = tempfile.mkdtemp(prefix="tfrec-bench-", dir=SHM)
        try:
            shutil.copy2(dataset.manifest_path, os.path.join(root, os.path.basename(dataset.manifest_path)))
            for p in paths:
                shutil.copy2(p, os.path.join(root, os.path.relpath(p, dataset.root)))
        except OSError:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return root, {"method": f"shards copied to {SHM} (tmpfs)", "bytes": size}
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    return None, {"method": f"page cache (shards read once; {SHM} missing or too small)", "bytes": size}


class JaxInputs:
    """The four modes' batches for one benchmark, and the stages of both pipelines. Call `close()` at the end."""

    def __init__(self, dataset: Dataset, opts: TrainBenchOptions, image_size: tuple[int, int],
                 resize: tuple[int, int] | None):
        import jax

        self.jax = jax
        self.dataset, self.opts = dataset, opts
        self.workers = opts.num_parallel_calls if opts.num_parallel_calls is not None else default_workers()
        # The reader resizes only where the stored size is not the model's; the imagenet preset crops to it.
        self.image_size = tuple(image_size) if opts.augment == "imagenet" else resize
        self.source = open_source(dataset, opts.split)
        self.files = dataset.shard_paths(opts.split)
        self.drops: list[dict] = []
        self.cache: dict | None = None
        self._copy: str | None = None
        self._cached: Dataset | None = None
        self._batch = None
        self._epochs = 0

    def steps(self, epoch: int) -> int:
        return self.opts.warmup_steps if epoch == 0 else self.opts.steps

    def reader(self, dataset: Dataset | None = None, workers: int | None = None) -> Batches:
        o = self.opts
        self._epochs += 1
        source = self.source if dataset is None else open_source(dataset, o.split)
        lo = Batches(source, batch_size=o.batch_size, num_workers=self.workers if workers is None else workers,
                     shuffle=True, seed=0, image_size=self.image_size, augment=o.augment, drop_last=True)
        lo.epoch = self._epochs  # each pass a new permutation: rounds do not replay the same records
        return lo

    def tfrec(self, epoch: int) -> Iterator:
        if epoch == 1 and self.opts.drop_cache:  # the timed epoch reads from storage
            self.drops.append(drop_page_cache(self.files))
        lo = self.reader()
        return take(lambda: lo, self.steps(epoch))

    def tfrec_cached(self, epoch: int) -> Iterator:
        if self.cache is None:
            self._copy, self.cache = memory_copy(self.dataset, self.opts.split)
            self._cached = open_dataset(self._copy) if self._copy else self.dataset
        lo = self.reader(self._cached)
        return take(lambda: lo, self.steps(epoch))

    def first_batch(self):
        """One real batch, on the trainer's device (read once, in this process)."""
        if self._batch is None:
            images, labels = next(iter(take(lambda: self.reader(workers=0), 1)))
            self._batch = self.jax.device_put(images), self.jax.device_put(labels.astype(np.int32))
        return self._batch

    def synthetic(self, epoch: int) -> Iterator:
        batch = self.first_batch()
        return (batch for _ in range(self.steps(epoch)))

    def tutorial_pass(self, workers: int | None = None):
        o = self.opts
        self._epochs += 1
        return GrainPass(grain_loader(Source(self.source), o.batch_size, self.image_size, o.augment,
                                      self.workers if workers is None else workers, seed=self._epochs))

    def tutorial(self, epoch: int) -> Iterator:
        return take(self.tutorial_pass, self.steps(epoch))

    def stages(self) -> dict[str, list[tuple[str, Callable]]]:
        """Both pipelines' cumulative stages (stages.stage_rates times them), in this process."""
        o = self.opts
        out = {"tfrec": loader_stages(self.source, lambda: self.reader(workers=0), o.batch_size, self.image_size,
                                      o.augment)}
        if "tutorial" in o.modes:
            out["tutorial"] = grain_stages(Source(self.source), o.batch_size, self.image_size, o.augment)
        return out

    def readers(self) -> dict[str, Callable[[], Iterator]]:
        """Each pipeline at the modes' parallelism (threads for tfrec, worker processes for Grain), alone."""
        out = {"tfrec": lambda: take(self.reader, 1 << 62)}
        if "tutorial" in self.opts.modes:
            out["tutorial"] = lambda: take(self.tutorial_pass, 1 << 62)
        return out

    def close(self) -> None:
        if self._copy:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None
