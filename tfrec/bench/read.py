"""Measuring the reader: timed passes over a dataset, and `tfrec bench read`'s report of make_dataset."""
from __future__ import annotations

import math
import resource
from typing import TYPE_CHECKING, Any

from .. import timing

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


def stage_rates(stages: list[tuple[str, tf.data.Dataset]], batches: int) -> list[dict]:
    """Times each cumulative stage (batched datasets) alone for `batches` batches after the first, once
    the process is idle: images/s and CPU µs per image. Where the rate drops, that stage costs."""
    import tensorflow as tf

    rows = []
    for name, ds in stages:
        timing.settle()
        run = time_pass(ds.prefetch(tf.data.AUTOTUNE), batches)
        rows.append({"stage": name, "images_per_s": run["images_per_s"], "cpu_us_per_image": run["cpu_us_per_image"]})
    return rows


def benchmark_read(path: str, split: str = "train", batch_size: int = 256, batches: int | None = None,
                   stages: bool = True, progress: bool = True, **options: Any) -> dict:
    """Runs the pipeline for `batches` batches (None: one epoch) and measures it.

    Returns:
        images/s and MB/s (bytes on disk) after the first batch, first-batch and teardown seconds,
        the process's peak resident memory (TensorFlow included) after the run, the skip counts,
        and (with `stages`) the images/s of each cumulative stage (read, parse, decode, augment,
        output) run alone for the same number of batches: where the rate drops, that stage costs.
    """
    import tensorflow as tf

    from ..read.inputs import resolve_source
    from ..read.pipeline import ReadOptions, build_stages
    from ..io.salvage import ReadStats

    source = resolve_source(path, split, options.pop("schema", None))
    opts = ReadOptions(batch_size=batch_size, repeat=batches is not None, **options)
    stats = ReadStats()
    built = build_stages(source, opts, stats)
    total = math.ceil((source.records or 0) / batch_size) or None
    run = time_pass(built[-1][1], batches, progress, total)
    result = {
        "path": str(path), "split": split, "batch_size": batch_size, "augment": opts.augment.name,
        "image_size": opts.image_size, "dtype": opts.dtype, "skip_corrupt": opts.skip_corrupt, **run,
        "mb_per_s": run["images_per_s"] * source.stored_bytes / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **stats.to_json(),
    }
    if stages:
        n = run["batches"] or 1
        first = [(name, ds.batch(batch_size) if name == "read" else ds) for name, ds in built[:-1]]
        result["stages"] = stage_rates(first, n) + [
            {"stage": "output", "images_per_s": run["images_per_s"], "cpu_us_per_image": run["cpu_us_per_image"]}]
    return result
