"""The input monitor (time blocked on the next batch vs time in the step, per epoch) and the NVML GPU monitor."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..timing import Durations


@dataclass
class EpochTimes:
    """One epoch's measured times: per step, the wait for the batch and the step itself, and the wall."""

    wait: Durations = field(default_factory=Durations)
    step: Durations = field(default_factory=Durations)
    images: int = 0
    wall_s: float = 0.0

    def to_json(self) -> dict:
        """images/s, input stall % (waiting / wall) and the p50/p95 wait and step times in ms."""
        wall = self.wall_s
        wait, step = self.wait.summary(), self.step.summary()
        return {
            "steps": len(self.step), "images": self.images, "wall_s": round(wall, 4),
            "images_per_s": round(self.images / wall, 1) if wall > 0 else None,
            "input_stall_pct": round(100 * self.wait.total / wall, 2) if wall > 0 else None,
            "wait_s": wait["total_s"], "step_s": step["total_s"],
            "wait_ms_p50": wait["p50"], "wait_ms_p95": wait["p95"],
            "step_ms_p50": step["p50"], "step_ms_p95": step["p95"],
            # The first wait holds the pipeline's start-up (opening files, filling the shuffle buffer,
            # tracing its functions): the steady stall leaves it out.
            "first_wait_s": round(self.wait.seconds[0], 4) if len(self.wait) else None,
            "steady_stall_pct": round(100 * (self.wait.total - self.wait.seconds[0]) / (wall - self.wait.seconds[0]), 2)
            if len(self.wait) > 1 and wall > self.wait.seconds[0] else None,
        }


class InputMonitor:
    """Times each step's wait for input and the step, directly, with time.perf_counter.

    The loop calls `begin_epoch`, then per step `waited(seconds)` and `stepped(seconds, images)`,
    then `end_epoch`. Time between epochs (validation, checkpoints, summaries) is not in the wall,
    so stall % is the share of training time the step spent waiting for the reader.
    """

    def __init__(self):
        self.epochs: list[EpochTimes] = []
        self._start = 0.0
        self._paused = 0.0

    def begin_epoch(self) -> None:
        self.epochs.append(EpochTimes())
        self._start, self._paused = time.perf_counter(), 0.0

    def waited(self, seconds: float) -> None:
        self.epochs[-1].wait.add(seconds)

    def stepped(self, seconds: float, images: int) -> None:
        self.epochs[-1].step.add(seconds)
        self.epochs[-1].images += images

    def pause(self, seconds: float) -> None:
        """Time spent in an action inside the epoch (a checkpoint every N steps): kept out of the wall."""
        self._paused += seconds

    def end_epoch(self) -> dict:
        self.epochs[-1].wall_s = time.perf_counter() - self._start - self._paused
        return self.epochs[-1].to_json()

    def current(self) -> dict:
        """The running epoch's figures so far (for the progress bar)."""
        e = self.epochs[-1]
        wall = time.perf_counter() - self._start - self._paused
        return {"images_per_s": e.images / wall if wall > 0 else 0.0,
                "input_stall_pct": 100 * e.wait.total / wall if wall > 0 else 0.0}

    def overall(self) -> dict:
        """All epochs of this run together."""
        total = EpochTimes()
        for e in self.epochs:
            total.wait.seconds += e.wait.seconds
            total.step.seconds += e.step.seconds
            total.images += e.images
            total.wall_s += e.wall_s
        return total.to_json()


def _nvml():
    """The pynvml module with NVML initialised, or None when there is no library or no GPU."""
    try:
        import pynvml  # nvidia-ml-py, the [gpu] extra

        pynvml.nvmlInit()
        return pynvml if pynvml.nvmlDeviceGetCount() > 0 else None
    except Exception:  # no package, no driver, no device: there is nothing to measure
        return None


class GpuMonitor:
    """Samples GPU utilisation and memory through NVML in a background thread, every `interval_s`.

    Where there is no GPU (or no NVML), `available` is False and every summary is None: a figure
    that was not measured is never reported as a zero.
    """

    def __init__(self, interval_s: float = 0.1, nvml=None):
        self.interval_s = interval_s
        self._nvml = nvml if nvml is not None else _nvml()
        self._handles = ([self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(self._nvml.nvmlDeviceGetCount())]
                         if self._nvml else [])
        self._util: list[float] = []
        self._mem: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return bool(self._handles)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for h in self._handles:
                self._util.append(float(self._nvml.nvmlDeviceGetUtilizationRates(h).gpu))
                self._mem.append(int(self._nvml.nvmlDeviceGetMemoryInfo(h).used))
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        """Starts sampling for an epoch (a no-op without a GPU)."""
        if not self.available:
            return
        self._util, self._mem = [], []
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="tfrec-gpu-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> dict | None:
        """Stops sampling; the epoch's mean, p10 and p50 utilisation (%) and peak memory (MB), or None without a GPU."""
        if not self.available or self._thread is None:
            return None
        self._stop.set()
        self._thread.join()
        self._thread = None
        if not self._util:
            return None
        util = np.array(self._util)
        return {"devices": len(self._handles), "samples": len(util), "util_mean_pct": round(float(util.mean()), 1),
                "util_p10_pct": round(float(np.percentile(util, 10)), 1),
                "util_p50_pct": round(float(np.percentile(util, 50)), 1),
                "peak_memory_mb": round(max(self._mem) / 2**20, 1)}
