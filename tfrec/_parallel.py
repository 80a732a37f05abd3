"""The one process pool (fork while TensorFlow is not loaded, spawn once it is; workers leave signals to the
parent) and map_shards, which runs per-shard work in it when that pays."""
from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

# With map_shards' min_bytes None, shards are handled in this process (largest first) until their pace
# says the rest would take longer than this; the rest then go to worker processes. Half of 0.25 s
# saved by a second core is well above a pool's start and stop.
POOL_PAYS_SECONDS = 0.25


def _init_worker() -> None:
    # Workers leave Ctrl-C to the parent, which stops cleanly and prints one line; SIGTERM gets its
    # default back (the CLI maps it to KeyboardInterrupt), so Pool.terminate ends workers quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def process_pool(workers: int) -> "Pool":
    """A multiprocessing pool of `workers` processes (use it as a context manager).

    fork is fastest and safe while TensorFlow (which starts threads) is not imported; after it has
    been, a forked child could inherit a lock held by one of its threads, so spawn is used.
    """
    import multiprocessing  # here: a conversion that needs no pool (MNIST, CIFAR) starts ~10 ms sooner

    method = "spawn" if "tensorflow" in sys.modules else "fork"
    return multiprocessing.get_context(method).Pool(workers, initializer=_init_worker)


def map_shards(fn: Callable, tasks: Sequence, sizes: Sequence[int], workers: int = 0, min_bytes: int | None = 0,
               progress: bool = True, desc: str = "") -> list:
    """fn over per-shard tasks, in worker processes when it pays; results in task order.

    Args:
        fn: a module-level function (picklable), called as fn(task).
        tasks: one per shard.
        sizes: each shard's bytes, for balancing (largest first) and the progress bar.
        workers: processes (0: one per core, used only from `min_bytes` in all on).
        min_bytes: below this many bytes in all, automatic mode runs in this process; None: automatic
            mode starts in this process and moves the shards left to workers once its pace says
            they would take over POOL_PAYS_SECONDS.
        progress: show a progress bar on stderr.
        desc: the progress bar's label.
    """
    from tqdm import tqdm

    count = min(workers or os.cpu_count() or 1, len(tasks))
    adaptive = count > 1 and not workers and min_bytes is None
    parallel = count > 1 and (workers > 0 or (min_bytes is not None and sum(sizes) >= min_bytes))
    order = sorted(range(len(tasks)), key=lambda i: -sizes[i])  # largest first balances the workers
    results: list = [None] * len(tasks)
    bar = tqdm(total=sum(sizes), unit="B", unit_scale=True, desc=desc, disable=not progress, file=sys.stderr,
               delay=0.5)  # no bar for jobs that finish in a blink
    with bar:
        if not parallel:
            start, done, left = time.perf_counter(), 0, sum(sizes)
            for k, i in enumerate(order):
                pace = (time.perf_counter() - start) / done if done else 0.0
                if adaptive and len(order) - k > 1 and pace * left > POOL_PAYS_SECONDS:
                    order, parallel = order[k:], True  # the rest in worker processes
                    break
                results[i] = fn(tasks[i])
                done, left = done + sizes[i], left - sizes[i]
                bar.update(sizes[i])
        if parallel:
            with process_pool(min(count, len(order))) as pool:
                for i, result in pool.imap_unordered(_indexed, [(fn, i, tasks[i]) for i in order]):
                    results[i] = result
                    bar.update(sizes[i])
    return results


def _indexed(item: tuple[Callable, int, Any]) -> tuple[int, Any]:
    fn, i, task = item
    return i, fn(task)
