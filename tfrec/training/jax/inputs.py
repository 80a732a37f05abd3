"""NumPy batches for the JAX backend, read through tfrec.access without any framework: (uint8 NHWC images, int64 labels).

The order is the access layer's seeded global permutation per epoch (EpochOrder), so a batch is a list of
record indices; `num_workers` threads of this process each gather whole batches with their own copy of the
source (fixed-shape records: one read and a NumPy gather; encoded images: decoded at the DCT scale their
window allows, as tfrec.torch's loader does; simplejpeg, OpenCV and the reads release the GIL), yielded in
order with bounded prefetch. The state is {seed, epoch, position}: a loader given it by load_state_dict
yields exactly the batches after that position, so a resumed run reads what an uninterrupted one would.
"""
from __future__ import annotations

import collections
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import numpy as np

from ...access import EpochOrder, SampleSource, open_source
from ...access.augment import make_augment
from ...errors import TfrecError
from ...io.salvage import ReadStats

PREFETCH_PER_WORKER = 2  # batches in flight per worker thread


class _Fetch:
    """One index batch -> (images NHWC uint8, labels int64, records skipped); a copy per thread."""

    def __init__(self, source: SampleSource, image_size: tuple[int, int] | None, augment: str, seed: int):
        self.source, self.seed = source, seed
        self.transform = make_augment(augment, image_size) if (image_size is not None or augment != "none") else None

    def __call__(self, epoch: int, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        source, transform = self.source, self.transform
        records = source.records
        encoded = transform is not None and source.image.encoding != "raw"
        whole, records.stats = records.stats, ReadStats()  # this batch's skips, handed to the loader
        try:
            kept, columns = source.columns(indices, decode_images=not encoded)
            skipped = list(records.stats.damaged.values())
        finally:
            records.stats = whole
        label = source.label
        labels = (np.asarray(columns[label.name], np.int64).reshape(-1) if label is not None
                  else np.full(len(kept), -1, np.int64))
        images = columns[source.image.name]
        if transform is None and isinstance(images, np.ndarray):
            return images, labels, skipped
        if transform is not None:
            channels = source.image_channels
            images = [transform.decode(img, np.random.default_rng([self.seed, epoch, i]), channels) if encoded
                      else transform(img, np.random.default_rng([self.seed, epoch, i]))
                      for img, i in zip(images, kept.tolist())]
        return _stack(source.name, list(images)), labels, skipped


def _stack(name: str, images: list[np.ndarray]) -> np.ndarray:
    shapes = {img.shape for img in images}
    if len(shapes) > 1:
        raise TfrecError(f"{name}: images of different sizes in one batch ({sorted(shapes)[:3]}); "
                         "pass image_size=(height, width)")
    return np.stack(images) if images else np.zeros((0, 0, 0, 0), np.uint8)


class Batches:
    """Batches of (uint8 images NHWC, int64 labels) over a split, in the access layer's order.

    Iterate it once per epoch: a pass starts at the beginning of the current epoch, or where
    `load_state_dict()` says; `state_dict()` is where the batches yielded so far end. `stats` counts what
    skip_corrupt skipped.
    """

    def __init__(self, source: SampleSource, *, batch_size: int, num_workers: int = 0, shuffle: bool = False,
                 seed: int = 0, image_size: tuple[int, int] | None = None, augment: str = "none",
                 drop_last: bool = False):
        if batch_size < 1:
            raise TfrecError(f"batch_size must be at least 1, not {batch_size}")
        self.source, self.batch_size, self.drop_last = source, batch_size, drop_last
        self.order = EpochOrder(len(source), shuffle, seed)
        self.num_workers = num_workers
        self.epoch, self.position = 0, 0
        self._resume: int | None = None
        self.stats = ReadStats()
        self._fetch = _Fetch(source, tuple(image_size) if image_size else None, augment, seed)

    def __len__(self) -> int:
        n = len(self.order)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.position = self._resume or 0
        self._resume = None
        epoch = self.epoch
        plan = ((epoch, indices) for indices in
                self.order.batches(epoch, self.batch_size, self.position, self.drop_last))
        for (images, labels, skipped), asked in self._made(plan):
            for s in skipped:
                self.stats.skip(s["path"], s["index"], s["offset"], s["reason"], s["records"])
            self.position += asked
            yield images, labels
        self.epoch, self.position = epoch + 1, 0

    def _made(self, plan) -> Iterator[tuple[tuple, int]]:
        if self.num_workers < 1:
            for epoch, indices in plan:
                yield self._fetch(epoch, indices), len(indices)
            return
        local = threading.local()

        def fetch(epoch: int, indices: np.ndarray):
            mine = getattr(local, "fetch", None)
            if mine is None:  # each thread its own descriptors and skip counts
                mine = local.fetch = pickle.loads(pickle.dumps(self._fetch))
            return mine(epoch, indices), len(indices)

        depth = self.num_workers * PREFETCH_PER_WORKER
        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="tfrec-jax-input") as pool:
            pending: collections.deque = collections.deque()
            try:
                for epoch, indices in plan:
                    pending.append(pool.submit(fetch, epoch, indices))
                    if len(pending) >= depth:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:  # a pass broken off: nothing more is started
                    future.cancel()

    def state_dict(self) -> dict:
        """Where the batches yielded so far end: {seed, epoch, position}."""
        return {"seed": self.order.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        """Resumes at a state_dict's position: the next pass yields exactly the samples after it."""
        if int(state["seed"]) != self.order.seed:
            self.order = EpochOrder(self.order.size, self.order.shuffle, int(state["seed"]))
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._resume = self.position


def batches(path: Any, split: str | None = None, *, batch_size: int = 32, num_workers: int = 0,
            shuffle: bool = False, seed: int = 0, image_size: tuple[int, int] | None = None, augment: str = "none",
            drop_last: bool = False, skip_corrupt: bool = False) -> Batches:
    """A Batches over a split of a tfrec dataset (tfrec.open_dataset's, or its directory); see Batches."""
    source = open_source(path, split, skip_corrupt=skip_corrupt)
    if source.image is None:
        raise TfrecError(f"{source.name}: the schema has no image feature")
    return Batches(source, batch_size=batch_size, num_workers=num_workers, shuffle=shuffle, seed=seed,
                   image_size=image_size, augment=augment, drop_last=drop_last)
