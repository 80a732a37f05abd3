"""`tfrec bench train --framework jax` (tfrec.bench.jax.train.benchmark_train): the four modes with stall figures,
GPU null, the plain JAX loop row and the stages, where TensorFlow cannot be imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")
pytest.importorskip("keras")
pytest.importorskip("grain")

# TensorFlow hidden from every import finder before anything else runs (keras stays: it runs on JAX here).
NO_TENSORFLOW = """
import sys
class _Hide:
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return None
        find = getattr(self.inner, "find_spec", None)
        return find(name, path, target) if find else None
    def __getattr__(self, attr):
        return getattr(self.inner, attr)
sys.meta_path[:] = [_Hide(f) for f in sys.meta_path]
"""


@pytest.fixture(scope="module")
def quick_run(datasets, tmp_path_factory) -> tuple[dict, list[str]]:
    """The benchmark as `--quick` runs it (1 round, 2 warm-up + 4 timed steps, 5 stage batches) on tiny CIFAR-10,
    lenet5 at batch 8, in a Python without TensorFlow. num_parallel_calls=0 keeps the readers (and Grain's
    loader) in-process: the test runs no worker process start-up on these 2 shared cores."""
    chart = str(tmp_path_factory.mktemp("chart") / "modes.png")
    code = NO_TENSORFLOW + f"""
import json, os
from tfrec.bench.jax import inputs
from tfrec.bench.jax.train import benchmark_train
copies = []
real_copy = inputs.memory_copy
def memory_copy(*args):
    out = real_copy(*args)
    copies.append(out[0])
    return out
inputs.memory_copy = memory_copy
from tfrec.bench.chart import modes_chart
r = benchmark_train({datasets["cifar10"]!r}, model="lenet5", batch_size=8, steps=4, warmup_steps=2, rounds=1,
                    stage_batches=5, stage_rounds=1, num_parallel_calls=0)
r["chart"] = modes_chart(r, {chart!r})
r["copies_left"] = [c for c in copies if c is None or os.path.exists(c)]
r["copies"] = len(copies)
r["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "torch"))
print(json.dumps(r))
"""
    cache = str(tmp_path_factory.mktemp("xla_cache"))  # the modes' identical steps compiled once, not four times
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "KERAS_BACKEND": "", "JAX_COMPILATION_CACHE_DIR": cache,
                              "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                              "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"})
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), chart


def test_the_four_modes_with_stall_and_no_gpu(quick_run):
    r, _ = quick_run
    assert r["framework"] == "jax" and r["tensorflow"] is None and r["model"] == "lenet5"
    assert r["loaded"] == []  # neither TensorFlow nor torch: the stages module shared with torch's bench is NumPy
    assert set(r["modes"]) == {"synthetic", "tfrec", "tfrec_cached", "tutorial"}
    for mode, row in r["modes"].items():
        assert row["images_per_s"] > 0, mode
        assert isinstance(row["input_stall_pct"], float) and 0 <= row["input_stall_pct"] <= 100, mode
        assert row["gpu"] is None, mode  # no GPU here: null, never 0
    assert r["gpu"] is None and r["device"] == "cpu:0"


def test_the_plain_loop_row_and_its_ratio(quick_run):
    r, _ = quick_run
    plain = r["plain"]
    assert plain["images_per_s"] > 0 and plain["precision"] == "float32" and plain["device"] == "cpu:0"
    assert r["ratios"]["synthetic_vs_plain"] == pytest.approx(
        r["modes"]["synthetic"]["images_per_s"] / plain["images_per_s"], rel=1e-2)
    assert r["targets"]["synthetic_vs_plain"]["wanted"] == 0.9  # a benchmark figure, not asserted here


def test_stages_cores_readers_and_cleanup(quick_run):
    r, chart = quick_run
    assert [s["stage"] for s in r["stages"]["tfrec"]] == ["read", "parse", "decode", "output"]
    assert [s["stage"] for s in r["stages"]["tutorial"]] == ["read", "decode", "output"]
    assert r["capacity"]["cores"] is not None and "cores" in r["capacity"]["arithmetic"]
    assert set(r["readers"]) == {"tfrec", "tutorial"} and all(x["images_per_s"] > 0 for x in r["readers"].values())
    assert r["ratios"]["reader_tfrec_vs_tutorial"] > 0
    assert r["page_cache"]["dropped"] and r["cache"]["method"]
    with open(chart, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert r["copies"] == 1 and r["copies_left"] == []  # the /dev/shm copy is removed at the end
