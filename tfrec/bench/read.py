"""Measuring the reader: timed passes over a dataset, and `tfrec bench read`'s report of make_dataset."""
from __future__ import annotations

import math
import resource
import statistics
from typing import TYPE_CHECKING, Any

from .. import timing
from .capacity import add_increments

if TYPE_CHECKING:
    import tensorflow as tf


def batch_size_of(batch: Any) -> int:
    """How many images a batch holds (the leading dimension of its first tensor)."""
    import tensorflow as tf

    return int(tf.nest.flatten(batch)[0].shape[0])


def time_pass(ds: tf.data.Dataset, batches: int | None, progress: bool = False, total: int | None = None) -> dict:
    """`timing.time_pass` over a batched dataset: `batches` batches after the first (None: one epoch),
    with `cpu_us_per_image`: this process's CPU time (all its threads) per image after the first batch."""
    run = timing.time_pass(ds, batch_size_of, batches, progress, total)
    run["cpu_us_per_image"] = 1e6 * run["cpu_s"] / run["images"] if run["images"] else None
    return run


def stage_rates(stages: list[tuple[str, tf.data.Dataset]], batches: int, rounds: int = 1) -> list[dict]:
    """Times each cumulative stage (batched datasets) alone for `batches` batches after the first, once the
    process is idle: images/s and CPU µs per image. Where the rate drops, that stage costs.

    The stages are timed in `rounds` interleaved rounds (read, parse, ..., output, then again), so that the
    machine's drift falls on all of them alike; each figure is the median of its rounds, which are kept
    (`rounds`) so that a stage's cost can be weighed against their spread (`capacity.stage_increments`).
    """
    import tensorflow as tf

    runs: dict[str, list[dict]] = {name: [] for name, _ in stages}
    for _ in range(rounds):
        for name, ds in stages:
            timing.settle()
            runs[name].append(time_pass(ds.prefetch(tf.data.AUTOTUNE), batches))
    return [stage_row(name, r) for name, r in runs.items()]


def stage_row(name: str, runs: list[dict]) -> dict:
    """One stage's row from its rounds: the medians of images/s and CPU µs per image, and the rounds themselves."""
    rates = [r["images_per_s"] for r in runs]
    cpu = [r["cpu_us_per_image"] for r in runs]
    known = [c for c in cpu if c is not None]
    return {"stage": name, "images_per_s": statistics.median(rates),
            "cpu_us_per_image": statistics.median(known) if len(known) == len(cpu) else None,
            "rounds": {"images_per_s": rates, "cpu_us_per_image": cpu}}


def benchmark_read(path: Any, split: str = "train", batch_size: int = 256, batches: int | None = None,
                   stages: bool = True, progress: bool = True, stage_rounds: int = 1, **options: Any) -> dict:
    """Runs the pipeline for `batches` batches (None: one epoch) and measures it.

    `path` and `options` are make_dataset's: a dataset (tfrec.open_dataset's, or its directory, opened
    here once) or foreign TFRecords, and ReadOptions fields.

    Returns:
        images/s and MB/s (bytes on disk) after the first batch, first-batch and teardown seconds,
        the process's peak resident memory (TensorFlow included) after the run, the skip counts,
        and (with `stages`) the images/s and CPU µs/image of each cumulative stage (read, parse, decode,
        augment, output) run alone for the same number of batches, in `stage_rounds` interleaved rounds
        (`stage_rates`): where the rate drops, that stage costs. The output stage is timed in those rounds
        too, not taken from the headline pass (the first pass of a fresh pipeline, timed apart from the
        others). Each stage row also has its own CPU µs per image (`adds_cpu_us_per_image`, adding up to
        the whole pipeline's) and `within_noise`.
    """
    from ..io.dataset import Dataset, is_dataset, open_dataset
    from ..io.salvage import ReadStats
    from ..read.inputs import resolve_source
    from ..read.pipeline import make_dataset, read_options

    dataset = open_dataset(path) if is_dataset(path) else path  # dataset.json is read once
    opts = read_options(None, (), {**options, "split": split, "batch_size": batch_size, "repeat": batches is not None})
    source = resolve_source(dataset, split, opts.schema, ReadStats())  # the record count and bytes on disk
    stats = ReadStats()
    built = make_dataset(dataset, opts, stats=stats).stages
    total = math.ceil((source.records or 0) / batch_size) or None
    run = time_pass(built[-1][1], batches, progress, total)
    result = {
        "path": dataset.root if isinstance(dataset, Dataset) else str(path), "split": split, "batch_size": batch_size, "augment": opts.augment.name,
        "image_size": opts.image_size, "dtype": opts.dtype, "skip_corrupt": opts.skip_corrupt, **run,
        "mb_per_s": run["images_per_s"] * source.stored_bytes / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **stats.to_json(),
    }
    if stages:
        n = run["batches"] or 1
        timed = [(name, ds.batch(batch_size) if name == "read" else ds) for name, ds in built]
        result["stages"] = add_increments(stage_rates(timed, n, stage_rounds))
    return result
