"""The one process pool: fork while TensorFlow is not loaded, spawn once it is; workers leave signals to the parent."""
from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.pool import Pool


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
