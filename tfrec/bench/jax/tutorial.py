"""The JAX tutorial pipeline, the baseline tfrec's batch reader is measured against: Grain's DataLoader.

What the Grain data-loading tutorial writes, over the TFRecords as `tfrec.grain.source` serves them (Grain has
no TFRecord source of its own): `IndexSampler(shuffle=True, seed)` -> the data source's `__getitem__` per
record (read, parse, decode) -> a `RandomMapTransform` with the same augmentation preset per image ->
`Batch(batch_size, drop_remainder=True)` (NumPy stacking) -> `DataLoader(worker_count)` (worker processes).
Record by record where tfrec's reader gathers a batch at once: their ratio is what the batch path buys.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

import grain.python as grain
import numpy as np

from ...access.augment import make_augment
from ...grain import Source


class Prepare(grain.RandomMapTransform):
    """An element {"image", "label"} -> (HWC uint8 image after the preset, label), with the generator Grain gives
    each record; picklable for Grain's workers."""

    def __init__(self, image_size: tuple[int, int] | None, augment: str):
        self.image_size, self.augment = image_size, augment
        self._transform = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_transform": None}

    def random_map(self, element: dict, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        if self._transform is None and (self.image_size is not None or self.augment != "none"):
            self._transform = make_augment(self.augment, self.image_size)
        image = element["image"]
        if self._transform is not None:
            image = self._transform(image, rng)
        return image, element["label"]


def _stack(items) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([i[0] for i in items]), np.asarray([i[1] for i in items], np.int64)


def grain_loader(source: Source, batch_size: int, image_size: tuple[int, int] | None, augment: str, workers: int,
                 seed: int = 0) -> grain.DataLoader:
    """One shuffled pass of (uint8 NHWC images, int64 labels) batches through Grain's DataLoader."""
    from absl import flags

    if not flags.FLAGS.is_parsed():  # Grain reads its absl flags; outside an absl app they are the defaults
        flags.FLAGS.mark_as_parsed()
    sampler = grain.IndexSampler(len(source), grain.NoSharding(), shuffle=True, num_epochs=1, seed=seed)
    return grain.DataLoader(data_source=source, sampler=sampler, worker_count=workers,
                            operations=[Prepare(image_size, augment),
                                        grain.Batch(batch_size, drop_remainder=True, batch_fn=_stack)])


class GrainPass:
    """One pass of a Grain DataLoader that can be closed: its worker processes stop when the pass is left (Grain
    stops them only when its iterator is collected, which a reference cycle can put off while the next mode runs)."""

    def __init__(self, loader: grain.DataLoader):
        self._it = iter(loader)

    def __iter__(self) -> "GrainPass":
        return self

    def __next__(self):
        return next(self._it)

    def close(self) -> None:
        inner = getattr(self._it, "_iterator", None)  # DataLoaderIterator's dataset iterator: it has close()
        close = getattr(inner, "close", None)
        if close is not None:
            close()


def grain_stages(source: Source, batch_size: int, image_size: tuple[int, int] | None,
                 augment: str) -> list[tuple[str, Callable[[], Iterator[Any]]]]:
    """Grain's pipeline as cumulative stages, in this process (worker_count=0): read (the records' bytes one by
    one), decode (+ parse and decode: the source's __getitem__), augment (+ the preset, where one is set) and
    output (the DataLoader itself)."""
    records = source.samples.records
    prepare = Prepare(image_size, augment)
    n = len(source)

    def indices() -> Iterator[list[int]]:
        for epoch in itertools.count():
            order = np.random.default_rng(epoch).permutation(n)
            for a in range(0, n - batch_size + 1, batch_size):
                yield order[a:a + batch_size].tolist()

    def read():
        for batch in indices():
            yield [records[i] for i in batch]

    def decode():
        for batch in indices():
            yield [source[i] for i in batch]

    def augmented():
        for elements in decode():
            yield [prepare.random_map(e, np.random.default_rng(0)) for e in elements]

    def output():
        for seed in itertools.count():
            yield from grain_loader(source, batch_size, image_size, augment, 0, seed)

    stages = [("read", read), ("decode", decode)]
    if image_size is not None or augment != "none":
        stages.append(("augment", augmented))
    return stages + [("output", output)]
