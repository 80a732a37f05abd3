"""The monitors: input-stall arithmetic, and the GPU monitor's summaries (a fake NVML) and its 'no GPU' answer."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tfrec.training.monitor import MIN_TIMED_STEPS, EpochTimes, GpuMonitor, InputMonitor


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
    deadline = time.monotonic() + 30  # waits for the samples, not for a time a loaded machine may not keep
    while len(gpu._util) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = gpu.stop()
    assert r["samples"] >= 5 and 0 <= r["util_p10_pct"] <= r["util_p50_pct"] <= 100
    assert r["peak_memory_mb"] == 3072.0


def test_no_gpu_is_none_never_zero():
    gpu = GpuMonitor(nvml=None)
    if gpu.available:
        pytest.skip("this machine has a GPU")
    gpu.start()
    assert gpu.stop() is None


def test_the_first_step_is_kept_out_of_the_figures():
    # Issue 24 item 9: the run's first step (TensorFlow compiles the step on its first call) was timed as
    # training: 'step p50 66524 ms', 'images/s 1'. It is reported apart, as start-up.
    e = EpochTimes(wall_s=1.0, images=30, first_step_s=30.0, first_step_images=10)
    for w, s in ((0.2, 0.1), (0.1, 0.1), (0.1, 0.1)):
        e.wait.add(w)
        e.step.add(s)
    r = e.to_json()
    assert r["steps"] == 4 and r["timed_steps"] == 3 and r["images"] == 40 and r["first_step_s"] == 30.0
    assert r["step_ms_p50"] == pytest.approx(100.0) and r["step_ms_p95"] == pytest.approx(100.0)
    assert r["images_per_s"] == 30.0 and r["input_stall_pct"] == pytest.approx(40.0)
    assert r["too_few_steps"] is True  # 3 timed steps say little


def test_an_epoch_of_one_step_has_no_figures_only_its_start_up():
    e = EpochTimes(wall_s=0.5, images=0, first_step_s=66.5, first_step_images=61)
    e.wait.add(0.5)
    r = e.to_json()
    assert r["steps"] == 1 and r["timed_steps"] == 0 and r["images"] == 61
    assert r["images_per_s"] is None and r["input_stall_pct"] is None and r["step_ms_p50"] is None
    assert r["too_few_steps"] is True


def test_monitor_records_the_first_step_apart_and_out_of_the_wall():
    m = InputMonitor()
    m.begin_epoch()
    m.waited(0.0)
    time.sleep(0.05)
    m.first_step(0.05, 8)
    m.waited(0.0)
    m.stepped(0.001, 8)
    r = m.end_epoch()
    assert r["steps"] == 2 and r["timed_steps"] == 1 and r["images"] == 16 and r["first_step_s"] == 0.05
    assert r["wall_s"] < 0.05
    m.begin_epoch()
    m.stepped(0.001, 8)
    later = m.end_epoch()
    assert later["first_step_s"] is None and later["timed_steps"] == later["steps"] == 1
    o = m.overall()
    assert o["steps"] == 3 and o["timed_steps"] == 2 and o["first_step_s"] == 0.05 and o["images"] == 24


def test_enough_steps_are_not_flagged():
    e = EpochTimes(wall_s=1.0, images=MIN_TIMED_STEPS)
    for _ in range(MIN_TIMED_STEPS):
        e.wait.add(0.01)
        e.step.add(0.05)
    assert e.to_json()["too_few_steps"] is False
