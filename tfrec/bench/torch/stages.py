"""The torch loader's stages through the access layer (read, parse, decode, augment, output), timed in this process.

Each stage is cumulative (the pipeline up to it) and runs with no worker processes, so that this
process's CPU time is the stage's whole cost per image: `capacity.plan_cores` turns the last one into
the cores the loader needs. read: `RecordSource.get_many` (pread, both CRCs); parse: + the Example
decoder; decode: + the schema's values and the image (`SampleSource.parse`); augment: + the preset
(and resize) one image at a time, as a loader worker does; output: `tfrec.torch.loader` itself with
num_workers=0 (its fixed-layout batch gather for raw records, which skips the per-record parse, so it
can cost less than decode: `capacity.stage_increments` caps what a part can cost by the whole).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

import numpy as np

from ... import timing
from ...access import EpochOrder, SampleSource
from ...access.augment import make_augment
from ...codec.example import decode_example
from ..read import stage_row


def _index_batches(source: SampleSource, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    order = EpochOrder(len(source), True, seed)
    for epoch in itertools.count():
        yield from order.batches(epoch, batch_size, drop_last=True)


def loader_stages(source: SampleSource, make_loader: Callable[[], Any], batch_size: int,
                  image_size: tuple[int, int] | None, augment: str, seed: int = 0) -> list[tuple[str, Callable]]:
    """(stage, factory of an endless iterable of batches) for read, parse, decode, augment (where a preset or a
    resize is set) and output; `make_loader()` gives an in-process loader for one epoch."""
    records = source.records
    transform = make_augment(augment, image_size) if augment != "none" or image_size else None
    image = source.image.name

    def read():
        for idx in _index_batches(source, batch_size, seed):
            yield idx, records.get_many(idx)

    def parse():
        for idx, data in read():
            yield [decode_example(d) for d in data if d is not None]

    def decode():
        for idx, data in read():
            yield idx, [source.parse(d, int(i)) for i, d in zip(idx.tolist(), data) if d is not None]

    def augmented():
        for idx, samples in decode():
            yield [transform(s[image], np.random.default_rng([seed, 0, int(i)])) for i, s in zip(idx.tolist(), samples)]

    def output():
        while True:
            yield from make_loader()

    stages = [("read", read), ("parse", parse), ("decode", decode)]
    if transform is not None:
        stages.append(("augment", augmented))
    return stages + [("output", output)]


def batch_size_of(batch: Any) -> int:
    """Images in a stage's batch: an (indices, items) tuple, (images, labels) as a tuple or as the list the
    DataLoader's default collate makes (its images a 4-D tensor), or a list of items."""
    if isinstance(batch, tuple):
        return len(batch[0])
    if isinstance(batch, list) and len(batch) == 2 and getattr(batch[0], "ndim", 0) == 4:
        return len(batch[0])
    return len(batch)


def stage_rates(stages: list[tuple[str, Callable]], batches: int, rounds: int = 1) -> list[dict]:
    """Times each stage alone for `batches` batches after the first, in `rounds` interleaved rounds (the
    machine's drift falls on all alike): images/s and CPU µs per image, medians of the rounds, the rounds kept."""
    runs: dict[str, list[dict]] = {name: [] for name, _ in stages}
    for _ in range(rounds):
        for name, make in stages:
            timing.settle()
            it = make()
            try:
                run = timing.time_pass(it, batch_size_of, batches)
            finally:
                it.close()
            run["cpu_us_per_image"] = 1e6 * run["cpu_s"] / run["images"] if run["images"] else None
            runs[name].append(run)
    return [stage_row(name, r) for name, r in runs.items()]
