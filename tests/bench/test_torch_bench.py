"""`tfrec bench train --framework torch`: the four modes, the plain loop and the stages where TensorFlow cannot be
imported; the tutorial pipeline reads what the loader reads; the memory copy and the batch taker clean up."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("tfrecord") is None:  # not imported here: its protos clash with TensorFlow's (DESIGN.md)
    pytest.skip("the tutorial mode needs the tfrecord package (pip install tfrecord)", allow_module_level=True)

# A sitecustomize that makes `import tensorflow` (and keras) fail, as on a GPU machine without TensorFlow. Its
# finder answers find_spec with a spec that has no origin (torch's dynamo asks find_spec about TensorFlow and must
# get an answer, not an error) and fails the import itself. REFUSE=raise makes find_spec raise instead: then
# importlib.util.find_spec fails as well, which `--framework tf` reads as "not installed".
_NO_TENSORFLOW = textwrap.dedent('''
    import importlib.machinery, os, sys

    class _Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith(("tensorflow.", "keras")):
                if os.environ.get("REFUSE") == "raise":
                    raise ImportError(f"{name} is blocked in this test")
                return importlib.machinery.ModuleSpec(name, self)

        def create_module(self, spec):
            raise ImportError(f"No module named {spec.name!r} (blocked in this test)")

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, _Refuse())
''')


@pytest.fixture(scope="module")
def no_tf_env(tmp_path_factory) -> dict:
    """Environment for a subprocess in which TensorFlow cannot be imported (one torch thread: 2 shared cores)."""
    shim = tmp_path_factory.mktemp("no_tensorflow")
    (shim / "sitecustomize.py").write_text(_NO_TENSORFLOW)
    return {**os.environ, "PYTHONPATH": str(shim), "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _tfrec(args: list[str], env: dict, timeout: int = 240) -> subprocess.CompletedProcess:
    code = "import sys; from tfrec.cli.main import main; sys.argv = ['tfrec'] + sys.argv[1:]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def quick_run(datasets, no_tf_env, tmp_path_factory) -> tuple[dict, str]:
    """`bench train --framework torch --quick --json --chart` on tiny CIFAR-10, TensorFlow blocked: (result, chart)."""
    chart = str(tmp_path_factory.mktemp("chart") / "modes.png")
    before = _shm_copies()
    out = _tfrec(["bench", "train", datasets["cifar10"], "--framework", "torch", "--quick", "--json",
                  "--steps-per-epoch", "4", "--model", "lenet5", "--batch-size", "8", "--parallelism", "1",
                  "--chart", chart], no_tf_env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert _shm_copies() <= before  # the run removed its copy of the shards
    return json.loads(out.stdout), chart


def _shm_copies() -> set[str]:
    return {p for p in os.listdir("/dev/shm") if p.startswith("tfrec-bench-")} if os.path.isdir("/dev/shm") else set()


def test_bench_train_torch_quick_without_tensorflow(quick_run):
    r, chart = quick_run
    assert r["framework"] == "torch" and r["tensorflow"] is None and r["model"] == "lenet5"
    assert set(r["modes"]) == {"synthetic", "tfrec", "tfrec_cached", "tutorial"}
    for mode, row in r["modes"].items():
        assert row["images_per_s"] > 0, mode
        assert isinstance(row["input_stall_pct"], float) and 0 <= row["input_stall_pct"] <= 100, mode
        assert row["gpu"] is None, mode  # no GPU here: null, never 0
    assert r["gpu"] is None and r["device"] == "cpu"
    plain = r["plain"]
    assert plain["images_per_s"] > 0 and plain["device"] == "cpu" and plain["precision"] == "float32"
    assert r["ratios"]["synthetic_vs_plain"] > 0  # the >= 0.9 target is a benchmark figure, not asserted here
    assert r["targets"]["synthetic_vs_plain"]["wanted"] == 0.9
    assert [s["stage"] for s in r["stages"]["tfrec"]] == ["read", "parse", "decode", "output"]
    assert [s["stage"] for s in r["stages"]["tutorial"]] == ["read", "parse", "decode", "output"]
    assert r["capacity"]["cores"] is not None and "cores" in r["capacity"]["arithmetic"]
    assert r["readers"]["tfrec"]["workers"] == 1 and r["readers"]["tfrec"]["images_per_s"] > 0
    assert r["page_cache"]["dropped"] and r["cache"]["method"]
    with open(chart, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_human_report_has_the_plain_loop_row(quick_run):
    from tfrec.cli.bench import train_bench_summary

    text = train_bench_summary(quick_run[0])
    assert "plain PyTorch loop (no tfrec code)" in text and "no GPU" in text
    assert f"synthetic / plain loop = {quick_run[0]['ratios']['synthetic_vs_plain']:.3f} (target >= 0.9" in text
    assert "pipeline alone with 1 worker processes" in text and "tfrec cached: " in text


def test_jax_has_no_sweep_in_this_release(datasets, no_tf_env):
    out = _tfrec(["bench", "train", datasets["cifar10"], "--framework", "jax", "--quick", "--sweep"], no_tf_env, 60)
    assert out.returncode == 2
    assert "--sweep is not available with --framework jax in this release" in out.stderr


def test_tf_without_tensorflow_is_a_usage_error_naming_the_extra(datasets, no_tf_env):
    out = _tfrec(["bench", "train", datasets["cifar10"], "--framework", "tf", "--quick"],
                 {**no_tf_env, "REFUSE": "raise"}, 60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "tfrec[tf]" in out.stderr


def test_the_tutorial_pipeline_reads_what_the_loader_reads(datasets, no_tf_env):
    """In one process, the tutorial's batches are the loader's (file order): the same labels, and for raw records the
    same pixels; with 2 workers each record is read at most once (each drops its own short last batch)."""
    code = textwrap.dedent(f"""
        import json, torch
        from tfrec.access import open_source
        from tfrec.io.dataset import open_dataset
        from tfrec.torch import loader
        from tfrec.bench.torch.tutorial import tutorial_loader
        out = {{}}
        for fmt, size in (("cifar10", None), ("imagefolder", (16, 16))):
            ds = open_dataset({datasets!r}[fmt])
            src = open_source(ds, "train")
            tut = {{w: list(tutorial_loader(src, ds.shard_paths("train"), ds.compression, 4, size, "none", w))
                   for w in (0, 2)}}
            ref = list(loader(ds, "train", batch_size=4, image_size=size, drop_last=True))
            full = list(loader(ds, "train", batch_size=4, image_size=size))
            labels = lambda batches: torch.cat([y for _, y in batches]).tolist()
            out[fmt] = {{"tut": labels(tut[0]), "ref": labels(ref), "tut2": sorted(labels(tut[2])),
                        "full": sorted(labels(full)), "same_pixels": all(torch.equal(a, b) for (a, _), (b, _) in
                                                                          zip(tut[0], ref)),
                        "shape": list(tut[0][0][0].shape), "dtype": str(tut[0][0][0].dtype)}}
        print(json.dumps(out))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=no_tf_env, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    for fmt, size in (("cifar10", 32), ("imagefolder", 16)):
        r = out[fmt]
        assert r["shape"] == [4, 3, size, size] and r["dtype"] == "torch.uint8"
        assert r["tut"] == r["ref"] and len(r["ref"]) == 4 * (len(r["full"]) // 4)
        left = list(r["full"])
        for label in r["tut2"]:  # a sub-multiset of the split's labels: nothing read twice
            left.remove(label)
        assert len(r["tut2"]) >= len(r["full"]) - 2 * 3
    assert out["cifar10"]["same_pixels"]  # raw records: the same bytes; JPEGs resize with Pillow, not tfrec


def test_take_closes_each_pass_and_refuses_an_empty_split():
    from tfrec.bench.torch.inputs import take
    from tfrec.errors import TfrecError

    closed = []

    def passes():
        def one():
            try:
                yield from range(3)
            finally:
                closed.append(True)
        return one()

    assert list(take(passes, 7)) == [0, 1, 2, 0, 1, 2, 0]
    assert len(closed) == 3
    with pytest.raises(TfrecError, match="fewer records than one batch"):
        list(take(lambda: iter(()), 1))


def test_memory_copy_holds_the_split_and_is_removed(datasets, tmp_path):
    from tfrec.access import open_source
    from tfrec.bench.torch.inputs import memory_copy
    from tfrec.io.dataset import open_dataset

    ds = open_dataset(datasets["cifar10"])
    root, how = memory_copy(ds, "train")
    try:
        assert how["bytes"] == sum(os.path.getsize(p) + os.path.getsize(p + ".idx") for p in ds.shard_paths("train"))
        if root is None:  # no /dev/shm with room for it here: the fallback warms the page cache and says so
            assert how["method"].startswith("page cache")
            return
        assert how["method"].startswith("shards copied to /dev/shm")
        a, b = open_source(ds, "train"), open_source(open_dataset(root), "train")
        assert len(a) == len(b)
        assert all(np.array_equal(a[i]["image"], b[i]["image"]) and a[i]["label"] == b[i]["label"] for i in range(len(a)))
    finally:
        if root:
            import shutil

            shutil.rmtree(root)


def test_the_sweep_covers_workers_batch_sizes_and_presets():
    from tfrec.access.augment import PRESETS
    from tfrec.bench.options import TrainBenchOptions
    from tfrec.bench.torch.inputs import default_workers
    from tfrec.bench.torch.sweep import sweep_settings

    settings = sweep_settings(TrainBenchOptions(batch_size=64, num_parallel_calls=3))
    by = {}
    for dimension, setting, change in settings:
        by.setdefault(dimension, []).append((setting, change))
    assert [s for s, _ in by["loader workers"]] == [str(w) for w in sorted({0, 1, 2, 3, default_workers()})]
    assert [c["batch_size"] for _, c in by["batch size"]] == [16, 32, 64, 128]
    assert [c["augment"] for _, c in by["augmentation"]] == list(PRESETS)


def test_gpu_decode_needs_torch_and_a_gpu(datasets, no_tf_env):
    tf = _tfrec(["bench", "train", datasets["imagefolder"], "--framework", "tf", "--decode-device", "cuda", "--quick"],
                no_tf_env, 60)
    assert tf.returncode == 2 and "needs --framework torch" in tf.stderr
    here = _tfrec(["bench", "train", datasets["imagefolder"], "--framework", "torch", "--decode-device", "cuda",
                   "--quick", "--json", "--model", "cifar_cnn", "--image-size", "16", "--batch-size", "4"], no_tf_env, 120)
    assert here.returncode == 2, here.stderr[-2000:]  # no CUDA here (or no decode_device in the loader): usage error
    assert "decode" in here.stderr.lower() and here.stdout == ""


def test_a_stage_batch_counts_its_images():
    import torch

    from tfrec.bench.torch.stages import batch_size_of

    images = torch.zeros(5, 3, 4, 4, dtype=torch.uint8)
    assert batch_size_of([images, torch.zeros(5)]) == 5  # the DataLoader's default collate: a list
    assert batch_size_of((images, torch.zeros(5))) == 5
    assert batch_size_of((np.arange(7), [b"x"] * 7)) == 7
    assert batch_size_of([np.zeros((4, 4, 3)), np.zeros((4, 4, 3))]) == 2  # two HWC images
    assert batch_size_of([{"image": 1}] * 3) == 3
