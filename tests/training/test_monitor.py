"""The monitors: input-stall arithmetic, and the GPU monitor's summaries (a fake NVML) and its 'no GPU' answer."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tfrec.training.monitor import EpochTimes, GpuMonitor, InputMonitor


def test_epoch_figures():
    e = EpochTimes(wall_s=2.0, images=400)
    for w, s in ((0.5, 0.2), (0.1, 0.2), (0.1, 0.2), (0.1, 0.2)):
        e.wait.add(w)
        e.step.add(s)
    r = e.to_json()
    assert r["input_stall_pct"] == pytest.approx(40.0) and r["images_per_s"] == 200.0
    assert r["first_wait_s"] == 0.5 and r["steady_stall_pct"] == pytest.approx(100 * 0.3 / 1.5, abs=0.01)
    assert r["wait_ms_p50"] == pytest.approx(100.0) and r["step_ms_p95"] == pytest.approx(200.0)


def test_pauses_stay_out_of_the_wall():
    m = InputMonitor()
    m.begin_epoch()
    time.sleep(0.05)
    m.pause(0.04)
    r = m.end_epoch()
    assert 0.005 <= r["wall_s"] < 0.04


class FakeNvml:
    def __init__(self, utils):
        self.utils = iter(utils)

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=next(self.utils, 50))

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=3 << 30)


def test_gpu_monitor_summarises_samples():
    gpu = GpuMonitor(interval_s=0.001, nvml=FakeNvml([0, 100] * 50))
    gpu.start()
    time.sleep(0.05)
    r = gpu.stop()
    assert r["samples"] >= 5 and 0 <= r["util_p10_pct"] <= r["util_p50_pct"] <= 100
    assert r["peak_memory_mb"] == 3072.0


def test_no_gpu_is_none_never_zero():
    gpu = GpuMonitor(nvml=None)
    if gpu.available:
        pytest.skip("this machine has a GPU")
    gpu.start()
    assert gpu.stop() is None
