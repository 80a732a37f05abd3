"""The input monitor (time blocked on the next batch vs time in the step, per epoch) and the NVML GPU monitor."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..timing import Durations


MIN_TIMED_STEPS = 10  # fewer timed steps than this: images/s, stall and p95 say little (a p95 of 9 is the max)


@dataclass
class EpochTimes:
    """One epoch's measured times: per step, the wait for the batch and the step itself, and the wall.

    The run's first step is kept apart (`first_step_s`, `first_step_images`): TensorFlow optimises and
    instantiates the compiled step on its first call, which can take longer than an epoch of steps, so it
    is start-up, outside the wall, the step times and images/s.
    """

    wait: Durations = field(default_factory=Durations)
    step: Durations = field(default_factory=Durations)
    images: int = 0  # in the timed steps
    wall_s: float = 0.0
    first_step_s: float | None = None
    first_step_images: int = 0

    def to_json(self) -> dict:
        """images/s, input stall % (waiting / wall) and the p50/p95 wait and step times in ms, over the
        timed steps (None when there are none); `too_few_steps` below MIN_TIMED_STEPS."""
        wall, timed = self.wall_s, len(self.step)
        wait, step = self.wait.summary(), self.step.summary()
        measured = timed > 0 and wall > 0
        first_wait = self.wait.seconds[0] if len(self.wait) else None
        return {
            "steps": timed + (self.first_step_s is not None), "timed_steps": timed,
            "images": self.images + self.first_step_images, "wall_s": round(wall, 4),
            "images_per_s": round(self.images / wall, 1) if measured else None,
            "input_stall_pct": round(100 * self.wait.total / wall, 2) if measured else None,
            "wait_s": wait["total_s"], "step_s": step["total_s"],
            "wait_ms_p50": wait["p50"], "wait_ms_p95": wait["p95"],
            "step_ms_p50": step["p50"], "step_ms_p95": step["p95"],
            "first_step_s": None if self.first_step_s is None else round(self.first_step_s, 4),
            "too_few_steps": timed < MIN_TIMED_STEPS,
            # The first wait holds the pipeline's start-up (opening files, filling the shuffle buffer,
            # tracing its functions): the steady stall leaves it out.
            "first_wait_s": None if first_wait is None else round(first_wait, 4),
            "steady_stall_pct": round(100 * (self.wait.total - first_wait) / (wall - first_wait), 2)
            if measured and len(self.wait) > 1 and wall > first_wait else None,
        }


class InputMonitor:
    """Times each step's wait for input and the step, directly, with time.perf_counter.

    The loop calls `begin_epoch`, then per step `waited(seconds)` and `stepped(seconds, images)` (or,
    for the run's first step, `first_step(seconds, images)`), then `end_epoch`. Time between epochs
    (validation, checkpoints, summaries) is not in the wall, nor is the first step, so stall % is the
    share of training time the step spent waiting for the reader.
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

    def first_step(self, seconds: float, images: int) -> None:
        """The run's first step (compiled on its first call): recorded apart and kept out of the wall."""
        self.epochs[-1].first_step_s = seconds
        self.epochs[-1].first_step_images = images
        self.pause(seconds)

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
            if e.first_step_s is not None:
                total.first_step_s = (total.first_step_s or 0.0) + e.first_step_s
                total.first_step_images += e.first_step_images
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
