"""The one timing harness: idle waits, timed passes over an iterator, alternating contenders, duration summaries.

The benchmarks, `tfrec bench` and the trainer's input monitor all time things through this module,
so that "images/s", "median" and "p95" mean the same everywhere. It needs no TensorFlow: a pass
over a tf.data dataset counts its batches with a size function the caller passes.
"""
from __future__ import annotations

import gc
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np


def settle(limit_s: float = 5.0) -> None:
    """Waits (at most `limit_s`) until this process is idle.

    A destroyed tf.data iterator's threads run on for a while, and a pass started meanwhile shares
    the cores with them (measured: up to 40% slower).
    """
    gc.collect()
    end = time.perf_counter() + limit_s
    while time.perf_counter() < end:
        cpu = time.process_time()
        time.sleep(0.05)
        if time.process_time() - cpu < 0.002:
            return


@dataclass
class Durations:
    """A growing list of durations in seconds, summarised as total, median and percentiles."""

    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.seconds.append(value)

    def __len__(self) -> int:
        return len(self.seconds)

    @property
    def total(self) -> float:
        return float(sum(self.seconds))

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100), None when empty."""
        return float(np.percentile(self.seconds, q)) if self.seconds else None

    def summary(self, scale: float = 1e3) -> dict:
        """{"total_s", "p50", "p95", "max"}; the percentiles multiplied by `scale` (default: milliseconds)."""
        pick = (lambda q: None if not self.seconds else round(self.percentile(q) * scale, 3))
        return {"total_s": round(self.total, 6), "p50": pick(50), "p95": pick(95),
                "max": None if not self.seconds else round(max(self.seconds) * scale, 3)}


def time_pass(iterable: Iterable[Any], size: Callable[[Any], int] = lambda _: 1, limit: int | None = None,
              progress: bool = False, total: int | None = None) -> dict:
    """Times a pass over `iterable`, the first item apart (start-up), until StopIteration or `limit` items after it.

    Args:
        iterable: A dataset or any iterable; iterated once.
        size: How many images an item holds (a batch's length).
        limit: Items to time after the first; None runs to the end.
        progress: Show a progress bar on stderr.
        total: The bar's total when `limit` is None.

    Returns:
        images, batches and seconds after the first item, `images_per_s` over them, `first_batch_s`
        (making the iterator and its first item) and `first_images`,
        `overall_images_per_s` (start-up included), `cpu_s` (this process's CPU seconds, all its
        threads, after the first item), and `teardown_s`: destroying the iterator is
        timed apart because with autotuning on, TF 2.21 can make it wait for the autotuner's next
        tick (1.3/2.6/5.1/10.2 s after the iterator was made).
    """
    from tqdm import tqdm

    start = time.perf_counter()
    it = iter(iterable)
    bar = tqdm(total=limit + 1 if limit else total, unit="batch", disable=not progress, file=sys.stderr, leave=False)
    images = count = first_images = 0
    first = None
    t0, c0 = start, time.process_time()
    while limit is None or count < limit:
        try:
            item = next(it)
        except StopIteration:
            break
        if first is None:
            first, t0, first_images = time.perf_counter() - start, time.perf_counter(), size(item)
            c0 = time.process_time()
        else:
            images, count = images + size(item), count + 1
        bar.update(1)
    end, cpu = time.perf_counter(), time.process_time() - c0
    bar.close()
    del it
    seconds = end - t0
    return {"images": images, "batches": count, "seconds": seconds, "cpu_s": cpu, "first_batch_s": first or 0.0,
            "first_images": first_images,
            "teardown_s": time.perf_counter() - end, "images_per_s": images / seconds if seconds > 0 else 0.0,
            "overall_images_per_s": (images + first_images) / (end - start) if end > start else 0.0}


def alternate(contenders: Mapping[str, Callable[[], Any]], runs: int, warmup: int = 1,
              idle: bool = False) -> dict[str, dict[str, Any]]:
    """Runs each contender in turn, `runs` rounds after `warmup` rounds, and times each call.

    Alternating, rather than running one contender `runs` times and then the next, makes the
    machine's drift fall on all of them alike; quote ratios of the same round (see `pair_ratio`).

    Returns:
        Per contender: `wall_s` and `cpu_s` (lists, one per round), their medians
        `median_wall_s`/`median_cpu_s`, `min_wall_s`, and `results` (what each call returned).
    """
    out: dict[str, dict[str, Any]] = {k: {"wall_s": [], "cpu_s": [], "results": []} for k in contenders}
    for r in range(warmup + runs):
        for name, fn in contenders.items():
            if idle:
                settle()
            w, c = time.perf_counter(), time.process_time()
            value = fn()
            w, c = time.perf_counter() - w, time.process_time() - c
            if r >= warmup:
                out[name]["wall_s"].append(w)
                out[name]["cpu_s"].append(c)
                out[name]["results"].append(value)
    for row in out.values():
        row["median_wall_s"] = statistics.median(row["wall_s"]) if row["wall_s"] else None
        row["median_cpu_s"] = statistics.median(row["cpu_s"]) if row["cpu_s"] else None
        row["min_wall_s"] = min(row["wall_s"]) if row["wall_s"] else None
    return out


def median_time(fn: Callable[[], Any], runs: int, warmup: int = 1) -> float:
    """Median wall seconds of `runs` calls of fn after `warmup` calls."""
    return alternate({"fn": fn}, runs, warmup)["fn"]["median_wall_s"]


def pair_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of the per-round ratios a/b: robust to drift that affects both members of a round alike."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))
