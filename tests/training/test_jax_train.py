"""The JAX backend of `tfrec train` (Keras 3 on JAX): it learns without TensorFlow, reports what the TensorFlow path
reports, resumes mid-epoch exactly, round-trips its .keras export through evaluate and predict, and refuses what it
cannot do. Everything that imports keras runs in a subprocess (Keras picks its backend once per process)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("keras")

from tfrec.demo import synth  # noqa: E402
from tfrec.training.jax.checkpoints import Checkpoints  # noqa: E402
from tfrec.training.jax.inputs import batches  # noqa: E402
from tfrec.training.monitor import EpochTimes  # noqa: E402
from tfrec.training.options import TrainOptions  # noqa: E402
from tfrec.training.plan import plan_data  # noqa: E402
from tfrec.training.result import TrainResult  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

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
try:
    import tensorflow
    raise SystemExit("tensorflow could be imported")
except ImportError:
    pass
import json
"""


def _python(code: str, cache: str | None = None) -> dict:
    """Runs `code` after NO_TENSORFLOW in a fresh Python; it prints one JSON document last. `cache`: a directory
    for XLA's compilation cache, so that the runs' identical steps are compiled once."""
    env = {**os.environ, "KERAS_BACKEND": ""}
    if cache:
        env.update({"JAX_COMPILATION_CACHE_DIR": cache, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"})
    out = subprocess.run([sys.executable, "-c", NO_TENSORFLOW + code], capture_output=True, text=True, timeout=600,
                         env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def jax_digits(tmp_path_factory) -> str:
    """3,000 training and 300 test digits (enough steps for lenet5 to pass 0.95 held-out accuracy in 3 epochs)."""
    root = tmp_path_factory.mktemp("jax_digits")
    synth.write_mnist(root / "src", n_train=3000, n_test=300, seed=5)
    convert(str(root / "src"), str(root / "ds"), ConvertOptions(shards=2, progress=False, workers=1))
    return str(root / "ds")


@pytest.fixture(scope="module")
def cli_run(jax_digits, tmp_path_factory):
    """train --framework jax --json (with an export), then evaluate and predict with the export, in one process
    where TensorFlow cannot be imported; 20 test digits written as PNGs for predict."""
    from PIL import Image

    root = tmp_path_factory.mktemp("jax_run")
    model, pngs = str(root / "digits.keras"), root / "pngs"
    pngs.mkdir()
    reader = batches(jax_digits, "test", batch_size=20)
    images, labels = next(iter(reader))
    for i, img in enumerate(images):
        Image.fromarray(img[..., 0]).save(pngs / f"{i:02d}.png")
    train = ["train", jax_digits, "--framework", "jax", "--model", "lenet5", "--epochs", "3", "--batch-size", "32",
             "--lr", "0.003", "--lr-schedule", "cosine", "--seed", "0", "--json", "--export", model]
    code = f"""
from click.testing import CliRunner
from tfrec.cli.main import cli
out = {{}}
for name, args in (("train", {train!r}), ("evaluate", ["evaluate", {jax_digits!r}, "--model-file", {model!r}, "--json"]),
                   ("predict", ["predict", "--model-file", {model!r}, {str(pngs)!r}, "--json", "--top-k", "2"])):
    r = CliRunner().invoke(cli, args)
    if r.exit_code:
        raise SystemExit(name + ": " + r.output[-3000:] + repr(r.exception))
    out[name] = json.loads(r.output)
import keras
out["backend"] = keras.backend.backend()
out["tensorflow"] = sorted(m for m in sys.modules if m.startswith("tensorflow"))
print(json.dumps(out))
"""
    return _python(code), model, labels, pngs


def test_learns_the_digits_on_jax_without_tensorflow(cli_run):
    # 0.98-0.99 here (cosine schedule, validation on the 300 held-out digits); a label mix-up stays near chance (0.1).
    out = cli_run[0]
    r = out["train"]
    assert out["backend"] == "jax" and out["tensorflow"] == []
    assert r["val_accuracy"] >= 0.95, r["epochs"]
    assert r["epochs"][-1]["loss"] < 0.5 * r["epochs"][0]["loss"], r["epochs"]
    assert r["data"]["val_split"] == "test" and r["model"] == "lenet5"


def test_reports_stall_and_images_per_s_with_the_shared_keys(cli_run, jax_digits):
    r = cli_run[0]["train"]
    plan = plan_data(jax_digits, TrainOptions(model="lenet5"))
    assert set(r) == set(TrainResult(plan, TrainOptions()).to_json())  # the keys every backend reports
    per_epoch = {"epoch", "loss", "accuracy", "lr", "gpu", "val_loss", "val_accuracy", *EpochTimes().to_json()}
    for e in r["epochs"]:
        assert set(e) == per_epoch
        assert e["steps"] == 3000 // 32 and e["images"] == e["steps"] * 32
        assert e["images_per_s"] > 0 and 0 <= e["input_stall_pct"] <= 100
        assert e["wait_s"] + e["step_s"] <= e["wall_s"] + 1e-3
        assert e["wait_ms_p50"] <= e["wait_ms_p95"] and e["step_ms_p50"] <= e["step_ms_p95"]
        assert e["gpu"] is None  # no GPU: not measured, never a zero
    assert r["gpu"] is None and r["overall"]["timed_steps"] == r["overall"]["steps"] - 1
    assert r["compile_s"] > 0 and r["epochs"][0]["first_step_s"] == pytest.approx(r["compile_s"], abs=1e-3)


def test_the_keras_export_round_trips_through_evaluate_and_predict(cli_run):
    out, model, labels, pngs = cli_run
    assert out["train"]["exported"] == {"keras": model, "saved_model": None}
    ev = out["evaluate"]
    assert ev["split"] == "test" and ev["records"] == 300
    assert ev["accuracy"] == pytest.approx(out["train"]["val_accuracy"], abs=1e-4)  # the last validation's model
    assert ev["loss"] == pytest.approx(out["train"]["val_loss"], rel=1e-3)
    predictions = out["predict"]["predictions"]
    assert [p["file"] for p in predictions] == [str(pngs / f"{i:02d}.png") for i in range(20)]
    right = sum(p["top"][0]["class"] == int(y) for p, y in zip(predictions, labels))
    assert right >= 16, (right, [p["top"] for p in predictions])  # a 0.95+ model: 19-20 of 20 expected


API_RUNS = """
import numpy as np
from tfrec.training.jax import loop
from tfrec.training.zoo import TrainUsageError
ds, ckpt = {ds!r}, {ckpt!r}
args = dict(model="lenet5", batch_size=32, seed=0, lr=0.003, progress=False, epochs=2, val_split="")
out = {{}}
a = loop.train(ds, **args)
real = loop._Run.run_step
calls = []
def stop_at_11(self, images, labels):
    calls.append(1)
    if len(calls) == 11:
        raise KeyboardInterrupt
    return real(self, images, labels)
loop._Run.run_step = stop_at_11
try:
    loop.train(ds, checkpoint_dir=ckpt, **args)
except loop.TrainingInterrupted as e:
    out["interrupted"] = str(e)
loop._Run.run_step = real
c = loop.train(ds, checkpoint_dir=ckpt, **args)
out["resumed_from"] = c.resumed_from
out["epochs"] = [(e["epoch"], e["steps"]) for e in c.epochs]
out["equal"] = [bool(np.array_equal(x, y)) for x, y in zip(a.model.get_weights(), c.model.get_weights())]
out["weights"] = len(a.model.get_weights())
d = np.load(ckpt + "/ckpt-1.npz")
out["interrupted_equal"] = all(np.array_equal(d["trainable/%05d" % i], w.numpy())
                               for i, w in enumerate(a.model.trainable_weights))
seen = []
def hook(epoch):
    seen.append(epoch)
    g = np.random.default_rng(epoch)
    for _ in range(10):
        yield g.integers(0, 256, (8, 28, 28, 1), dtype=np.uint8), g.integers(0, 10, 8)
h = loop.train(ds, batches=hook, **{{**args, "steps_per_epoch": 4}})
out["hook"] = [seen, [e["steps"] for e in h.epochs]]
for bad in (dict(strategy="mirrored"), dict(logdir=ckpt + "/logs")):
    try:
        loop.train(ds, **{{**args, **bad}})
    except TrainUsageError as e:
        out.setdefault("refused", []).append(str(e))
print(json.dumps(out))
"""


def test_resumes_mid_epoch_exactly_and_takes_the_batches_hook(tmp_path):
    # 256 records, batch 32: 8 steps an epoch. Run B stops before its 11th step (3 steps into epoch 2, as Ctrl-C
    # stops it); run C resumes from the checkpoint the interrupt wrote and must end with the weights of run A,
    # which was never interrupted: the same batches in the same order, nothing repeated.
    synth.write_mnist(tmp_path / "src", n_train=256, n_test=16, seed=6)
    ds = str(tmp_path / "ds")
    convert(str(tmp_path / "src"), ds, ConvertOptions(shards=2, progress=False, workers=1))
    ckpt = str(tmp_path / "ckpt")
    out = _python(API_RUNS.format(ds=ds, ckpt=ckpt), cache=str(tmp_path / "xla_cache"))
    assert out["interrupted"].startswith("interrupted in epoch 2, at step 10; checkpoint ") and "ckpt-2.npz" in \
        out["interrupted"]
    assert out["resumed_from"] == {"checkpoint": os.path.join(ckpt, "ckpt-2.npz"), "epoch": 1, "step": 10}
    assert out["epochs"] == [[2, 6]]
    assert out["weights"] > 0 and all(out["equal"]), out["equal"]
    assert not out["interrupted_equal"]  # the epoch-1 checkpoint's weights differ: the comparison can fail
    assert out["hook"] == [[0, 1], [4, 4]]
    assert out["refused"] == [
        "--strategy mirrored is a tf.distribute strategy; --framework jax trains on one device (the first GPU, "
        "else the CPU)", "--logdir (TensorBoard) is not available with --framework jax in this release"]


def test_keras_imported_with_another_backend_is_refused(monkeypatch):
    from types import SimpleNamespace

    from tfrec.training.jax.backend import use_jax_backend
    from tfrec.training.zoo import TrainUsageError

    monkeypatch.setitem(sys.modules, "keras", SimpleNamespace(backend=SimpleNamespace(backend=lambda: "torch")))
    with pytest.raises(TrainUsageError, match=r"^--framework jax needs Keras on its JAX backend, but keras was already "
                                              r"imported in this process with the 'torch' backend; set KERAS_BACKEND"):
        use_jax_backend()
    monkeypatch.setitem(sys.modules, "keras", SimpleNamespace(backend=SimpleNamespace(backend=lambda: "jax")))
    use_jax_backend()  # already on JAX: nothing to say


def test_the_reader_resumes_at_its_position(tmp_path):
    synth.write_mnist(tmp_path / "src", n_train=100, n_test=10, seed=1)
    convert(str(tmp_path / "src"), str(tmp_path / "ds"), ConvertOptions(shards=3, progress=False, workers=1))
    whole = batches(str(tmp_path / "ds"), "train", batch_size=16, shuffle=True, seed=3, num_workers=2)
    full = [(x.copy(), y.copy()) for x, y in whole]
    assert len(full) == 7 and sum(len(y) for _, y in full) == 100
    assert sorted(np.concatenate([y for _, y in full]).tolist()) != np.concatenate([y for _, y in full]).tolist()
    part = batches(str(tmp_path / "ds"), "train", batch_size=16, shuffle=True, seed=3, num_workers=2)
    it = iter(part)
    for _ in range(3):
        next(it)
    state = part.state_dict()
    assert state == {"seed": 3, "epoch": 0, "position": 48}
    rest = batches(str(tmp_path / "ds"), "train", batch_size=16, shuffle=True, seed=0)
    rest.load_state_dict(state)
    got = list(rest)
    assert len(got) == 4 and all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                                 for a, b in zip(got, full[3:]))
    assert rest.state_dict() == {"seed": 3, "epoch": 1, "position": 0}
    assert full[0][0].shape == (16, 28, 28, 1) and full[0][0].dtype == np.uint8


def test_checkpoints_keep_the_newest_and_skip_a_damaged_one(tmp_path):
    ck = Checkpoints(str(tmp_path))
    for step in range(5):
        ck.save({"meta": {"step": step}, "trainable": [np.full(3, step, np.float32)], "non_trainable": [],
                 "optimizer": [np.int64(step)]})
    assert sorted(os.listdir(tmp_path)) == ["ckpt-3.npz", "ckpt-4.npz", "ckpt-5.npz"]
    (tmp_path / "ckpt-5.npz").write_bytes(b"not a zip")
    (tmp_path / "ckpt-6.npz.tmp-123").write_bytes(b"half")
    again = Checkpoints(str(tmp_path))
    path, state = again.restore()
    assert path == str(tmp_path / "ckpt-4.npz") and state["meta"] == {"step": 3}
    assert np.array_equal(state["trainable"][0], np.full(3, 3, np.float32)) and int(state["optimizer"][0]) == 3
    assert again.note.startswith("incomplete checkpoints ckpt-6.npz.tmp-123 (a save that did not finish), ckpt-5.npz")
    assert again.note.endswith("ignored: resuming from ckpt-4.npz, the last complete one")


def test_the_reader_decodes_and_augments_jpegs(datasets):
    # 24 JPEGs of 20x24 in 3 classes: resized to 16x16 and augmented with the cifar preset (pad, crop, flip)
    seen = []
    for seed in (1, 1, 2):
        reader = batches(datasets["imagefolder"], "train", batch_size=8, shuffle=True, seed=seed, num_workers=2,
                         image_size=(16, 16), augment="cifar")
        seen.append([(x.copy(), y.copy()) for x, y in reader])
    assert [x.shape for x, _ in seen[0]] == [(8, 16, 16, 3)] * 3 and seen[0][0][0].dtype == np.uint8
    assert sorted(np.concatenate([y for _, y in seen[0]]).tolist()) == sorted([0, 1, 2] * 8)
    same = all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(seen[0], seen[1]))
    other = all(np.array_equal(a[0], b[0]) for a, b in zip(seen[0], seen[2]))
    assert same and not other  # a seed gives the same order and draws, another seed others
