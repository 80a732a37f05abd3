"""tfrec.timing: the one harness behind benchmarks, `tfrec bench` and the trainer's monitor."""
from __future__ import annotations

import time

from tfrec import timing


def test_durations_summary():
    d = timing.Durations()
    assert d.summary() == {"total_s": 0, "p50": None, "p95": None, "max": None}
    for v in [0.001, 0.002, 0.003, 0.004, 0.1]:
        d.add(v)
    s = d.summary()
    assert s["p50"] == 3.0 and s["max"] == 100.0 and 4.0 < s["p95"] < 100.0
    assert abs(s["total_s"] - 0.11) < 1e-9


def test_time_pass_times_the_first_item_apart():
    def slow_start():
        time.sleep(0.2)
        yield [1, 2]
        for _ in range(5):
            yield [1, 2, 3]

    r = timing.time_pass(slow_start(), size=len)
    assert r["images"] == 15 and r["batches"] == 5
    assert r["first_batch_s"] >= 0.2 and r["seconds"] < 0.1
    assert r["overall_images_per_s"] < r["images_per_s"]


def test_time_pass_limit():
    r = timing.time_pass(iter(range(100)), limit=10)
    assert r["batches"] == 10 and r["images"] == 10


def test_alternate_interleaves_and_drops_warmup():
    calls = []
    out = timing.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=2, warmup=1)
    assert calls == ["a", "b"] * 3
    assert len(out["a"]["wall_s"]) == 2 and out["b"]["median_wall_s"] is not None


def test_pair_ratio():
    assert timing.pair_ratio([2, 4, 6], [1, 2, 2]) == 2.0
