"""A long benchmark's progress on stderr: the part running now (a mode in a round, the stage rates, a sweep
setting), how many parts are done, and the time elapsed, ticking while a part runs. No TensorFlow."""
from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator

from tqdm import tqdm

TICK_S = 1.0  # how often the elapsed time is redrawn while one part runs (a part can take minutes)


class BenchProgress:
    """A bar over a benchmark's parts; `part(label)` wraps each. Disabled, it draws nothing and starts no thread."""

    def __init__(self, total: int, enabled: bool, desc: str = "bench"):
        self._bar = tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, leave=False, unit="part",
                         bar_format="{desc} | part {n_fmt}/{total_fmt} done | {elapsed} elapsed")
        self._stop = threading.Event()
        self._ticker = None
        if enabled:
            self._ticker = threading.Thread(target=self._tick, name="bench-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self._bar.refresh()

    @contextlib.contextmanager
    def part(self, label: str) -> Iterator[None]:
        """Shows `label` while the block runs, then counts the part done."""
        self._bar.set_description_str(label)
        yield
        self._bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self._bar.close()

    def __enter__(self) -> BenchProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
