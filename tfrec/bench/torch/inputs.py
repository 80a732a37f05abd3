"""The four modes' batches for the PyTorch trainer: synthetic, tfrec from storage, tfrec from memory, the tutorial.

Each mode is `batches(epoch)` for `tfrec.training.torch.loop.train(..., batches=...)`: epoch 0 is the
warm-up (`warmup_steps` batches), epoch 1 the timed epoch (`steps` batches).

- synthetic: one real batch from the loader, moved to the trainer's device once and fed again and again;
- tfrec: `tfrec.torch.loader` (shuffled, `num_workers` worker processes), the shards evicted from the
  page cache (pagecache.drop_page_cache) before the timed epoch;
- tfrec_cached: the same loader over a copy of the split's shards in /dev/shm (a tmpfs: the records
  are in memory, read by the same pread path, workers and batch gather as from storage, so the
  difference is fetching alone; as TensorFlow's mode caches the serialized records). Where /dev/shm
  is missing or has less than twice the shards' size free, the shards are read once instead so that
  the page cache holds them (`cache["method"]` says which);
- tutorial: the `tfrecord` package's pipeline (tutorial.py) with the same workers.
"""
from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from typing import Any, Callable, Iterator

import torch

from ...access import open_source
from ...errors import TfrecError
from ...io.dataset import Dataset, open_dataset
from ...torch import loader as torch_loader
from ...training.zoo import TrainUsageError
from ..options import TrainBenchOptions
from ..pagecache import drop_page_cache
from .stages import loader_stages
from .tutorial import tutorial_loader, tutorial_stages

SHM = "/dev/shm"
SHM_HEADROOM = 2.0  # the copy must leave at least as much free as it takes


def default_workers() -> int:
    """The loader's worker processes by default: one per core (the cores decode; the main process trains)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def take(make: Callable[[], Any], n: int) -> Iterator[Any]:
    """`n` batches from fresh passes of `make()`, as many passes as it takes; each pass's iterator is closed
    (a loader's worker processes stop) as soon as it is left."""
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
        (the copy's directory or None, {"method", "bytes"}): None where /dev/shm cannot hold it, after
        reading the shards once so that the page cache does.
    """
    files = dataset.shard_paths(split)
    pairs = [(f, f + ".idx") for f in files]
    size = sum(os.path.getsize(p) for pair in pairs for p in pair if os.path.exists(p))
    if os.path.isdir(SHM) and shutil.disk_usage(SHM).free > SHM_HEADROOM * size:
        root = tempfile.mkdtemp(prefix="tfrec-bench-", dir=SHM)
        try:
            shutil.copy2(dataset.manifest_path, os.path.join(root, os.path.basename(dataset.manifest_path)))
            for pair in pairs:
                for p in pair:
                    if os.path.exists(p):
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


class TorchInputs:
    """The four modes' batches for one benchmark, and the stages of both pipelines. Call `close()` at the end."""

    def __init__(self, dataset: Dataset, opts: TrainBenchOptions, image_size: tuple[int, int],
                 resize: tuple[int, int] | None, device: torch.device):
        if opts.decode_device != "cpu" and "decode_device" not in inspect.signature(torch_loader).parameters:
            raise TrainUsageError(f"--decode-device {opts.decode_device}: this tfrec's tfrec.torch.loader cannot "
                                  "decode on the GPU (no decode_device)")
        self.dataset, self.opts, self.device = dataset, opts, device
        self.workers = opts.num_parallel_calls if opts.num_parallel_calls is not None else default_workers()
        # The loader resizes only where the stored size is not the model's; the imagenet preset crops to it.
        self.image_size = tuple(image_size) if opts.augment == "imagenet" else resize
        self.source = open_source(dataset, opts.split)
        self.files = dataset.shard_paths(opts.split)
        self.drops: list[dict] = []
        self.cache: dict | None = None
        self._copy: str | None = None
        self._cached: Dataset | None = None
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None
        self._epochs = 0

    def steps(self, epoch: int) -> int:
        return self.opts.warmup_steps if epoch == 0 else self.opts.steps

    def loader(self, dataset: Dataset | None = None, workers: int | None = None):
        o = self.opts
        self._epochs += 1
        gpu_decode = {"decode_device": o.decode_device} if o.decode_device != "cpu" else {}
        lo = torch_loader(dataset or self.dataset, o.split, batch_size=o.batch_size,
                          num_workers=self.workers if workers is None else workers, shuffle=True, seed=0,
                          image_size=self.image_size, augment=o.augment, drop_last=True,
                          pin_memory=self.device.type == "cuda", **gpu_decode)
        lo.set_epoch(self._epochs)  # each pass a new permutation: rounds do not replay the same records
        return lo

    def tfrec(self, epoch: int) -> Iterator:
        if epoch == 1 and self.opts.drop_cache:  # the timed epoch reads from storage
            self.drops.append(drop_page_cache(self.files))
        lo = self.loader()
        return take(lambda: lo, self.steps(epoch))

    def tfrec_cached(self, epoch: int) -> Iterator:
        if self.cache is None:
            self._copy, self.cache = memory_copy(self.dataset, self.opts.split)
            self._cached = open_dataset(self._copy) if self._copy else self.dataset
        lo = self.loader(self._cached)
        return take(lambda: lo, self.steps(epoch))

    def first_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One real batch, on the trainer's device (read once, in this process)."""
        if self._batch is None:
            images, labels = next(iter(take(lambda: self.loader(workers=0), 1)))
            images = images.to(self.device)
            if self.device.type == "cuda":  # the trainer's layout there: its per-step conversion is then free
                images = images.contiguous(memory_format=torch.channels_last)
            self._batch = images, labels.to(self.device)
        return self._batch

    def synthetic(self, epoch: int) -> Iterator:
        batch = self.first_batch()
        return (batch for _ in range(self.steps(epoch)))

    def tutorial_pass(self, workers: int | None = None):
        o = self.opts
        return tutorial_loader(self.source, self.files, self.dataset.compression, o.batch_size, self.image_size,
                               o.augment, self.workers if workers is None else workers,
                               pin_memory=self.device.type == "cuda")

    def tutorial(self, epoch: int) -> Iterator:
        return take(self.tutorial_pass, self.steps(epoch))

    def stages(self) -> dict[str, list[tuple[str, Callable]]]:
        """Both pipelines' cumulative stages (stages.stage_rates times them), in this process."""
        o = self.opts
        out = {"tfrec": loader_stages(self.source, lambda: self.loader(workers=0), o.batch_size, self.image_size,
                                      o.augment)}
        if "tutorial" in o.modes:
            out["tutorial"] = tutorial_stages(self.source, self.files, self.dataset.compression, o.batch_size,
                                              self.image_size, o.augment)
        return out

    def readers(self) -> dict[str, Callable[[], Iterator]]:
        """Each pipeline at the modes' parallelism (worker processes), alone: endless batches."""
        out = {"tfrec": lambda: take(self.loader, 1 << 62)}
        if "tutorial" in self.opts.modes:
            out["tutorial"] = lambda: take(self.tutorial_pass, 1 << 62)
        return out

    def close(self) -> None:
        if self._copy:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None
