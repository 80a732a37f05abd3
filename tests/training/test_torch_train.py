"""The PyTorch backend of `tfrec train`: it learns without TensorFlow, reports what the TensorFlow path reports,
resumes exactly, round-trips its export through evaluate and predict, and refuses what it cannot do."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from tfrec.cli.main import cli  # noqa: E402
from tfrec.training.options import TrainOptions  # noqa: E402
from tfrec.training.torch import loop  # noqa: E402
from tfrec.training.torch.export import load_model  # noqa: E402
from tfrec.training.zoo import TrainUsageError  # noqa: E402

# TensorFlow (and Keras) hidden from every import finder, before anything else runs: `import tensorflow` fails
# and importlib.util.find_spec says None, as where it is not installed (torch's dynamo asks find_spec, and a
# finder that raised there, as tests/test_layout.py's does, would break torch rather than hide TensorFlow).
NO_TENSORFLOW = """
import sys
class _Hide:
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith(("tensorflow.", "keras")):
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
"""

FAST = dict(model="lenet5", batch_size=32, seed=0, lr=0.003, progress=False)


def _tfrec_without_tensorflow(args: list[str], code: str = "") -> subprocess.CompletedProcess:
    """`tfrec ARGS` in a Python where `import tensorflow` fails; `code` runs after it (the CLI's SystemExit caught)."""
    script = NO_TENSORFLOW + f"""
from tfrec.cli.main import main
sys.argv = ["tfrec", *{args!r}]
try:
    main()
except SystemExit as e:
    if e.code:
        raise
{code}
"""
    # one intra-op thread: on a small shared CPU, torch's threads spin against the loader's worker and other
    # processes (lenet5's step took 13x longer with 2 threads than with 1 on this loaded 2-core machine)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The in-process runs with one intra-op thread, as the subprocesses (see _tfrec_without_tensorflow)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cli_run(torch_digits, tmp_path_factory):
    """`tfrec train --framework torch --json` on learnable digits where TensorFlow cannot be imported, with an export."""
    root = tmp_path_factory.mktemp("torch_run")
    model = str(root / "digits.pt")
    out = _tfrec_without_tensorflow(
        ["train", torch_digits, "--framework", "torch", "--model", "lenet5", "--epochs", "3", "--batch-size", "32",
         "--lr", "0.003", "--lr-schedule", "cosine", "--seed", "0", "--json", "--export", model],
        code="print('TENSORFLOW', sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras'))))")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "TENSORFLOW []"
    return json.loads("\n".join(lines[:-1])), model


CHANCE = 0.1  # 10 classes


def test_learns_the_digits_without_tensorflow(cli_run):
    # 0.987-0.993 over seeds 1-4 here (cosine schedule; validation on the 300 held-out digits); a label
    # mix-up leaves it near chance.
    r, _ = cli_run
    assert r["val_accuracy"] >= 0.95, r["epochs"]
    assert r["epochs"][-1]["loss"] < 0.5 * r["epochs"][0]["loss"], r["epochs"]
    assert r["data"]["val_split"] == "test" and r["model"] == "lenet5"


def test_reports_stall_and_images_per_s_without_a_gpu(cli_run):
    r, _ = cli_run
    for e in r["epochs"]:
        assert e["steps"] == 3000 // 32 and e["images"] == e["steps"] * 32
        assert e["images_per_s"] > 0 and 0 <= e["input_stall_pct"] <= 100
        assert e["wait_s"] + e["step_s"] <= e["wall_s"] + 1e-3
        assert e["wait_ms_p50"] <= e["wait_ms_p95"] and e["step_ms_p50"] <= e["step_ms_p95"]
        assert e["gpu"] is None  # no GPU: not measured, never a zero
    assert r["gpu"] is None and r["overall"]["timed_steps"] == r["overall"]["steps"] - 1


def test_the_export_round_trips_through_evaluate_and_predict_without_tensorflow(cli_run, torch_digits, tmp_path):
    r, model = cli_run
    assert r["exported"] == {"pt": model, "config": model[:-3] + ".json"}
    import tfrec.torch
    from PIL import Image

    images, labels = next(iter(tfrec.torch.loader(torch_digits, "test", batch_size=20)))
    for i, img in enumerate(images):
        Image.fromarray(img[0].numpy()).save(tmp_path / f"{i:02d}.png")
    check = ("import json\n"
             "print('TENSORFLOW', sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras'))))")
    ev = _tfrec_without_tensorflow(["evaluate", torch_digits, "--model-file", model, "--json"], check)
    assert ev.returncode == 0, ev.stderr[-3000:]
    result = json.loads("\n".join(ev.stdout.strip().splitlines()[:-1]))
    assert ev.stdout.strip().splitlines()[-1] == "TENSORFLOW []"
    # the same model on the same split as the last validation
    assert result["split"] == "test" and result["records"] == 300
    assert result["accuracy"] == pytest.approx(r["val_accuracy"], abs=1e-4)
    assert result["loss"] == pytest.approx(r["val_loss"], rel=1e-3)
    pr = _tfrec_without_tensorflow(["predict", "--model-file", model, str(tmp_path), "--json", "--top-k", "2"])
    assert pr.returncode == 0, pr.stderr[-3000:]
    predictions = json.loads(pr.stdout)["predictions"]
    assert [p["file"] for p in predictions] == [str(tmp_path / f"{i:02d}.png") for i in range(20)]
    right = sum(p["top"][0]["class"] == int(y) for p, y in zip(predictions, labels))
    assert right >= 16, (right, [p["top"] for p in predictions])  # 0.95+ accurate model: 19-20 of 20 expected


def test_the_json_has_the_tensorflow_paths_keys(tiny_digits):
    tf_loop = pytest.importorskip("tfrec.training.loop")  # TensorFlow installed: compare with its run
    mine = loop.train(tiny_digits, epochs=1, steps_per_epoch=3, **FAST).to_json()
    theirs = tf_loop.train(tiny_digits, epochs=1, steps_per_epoch=3, **FAST).to_json()
    assert set(mine) == set(theirs)
    assert set(mine["epochs"][0]) == set(theirs["epochs"][0])
    assert set(mine["overall"]) == set(theirs["overall"])
    assert set(mine["data"]) == set(theirs["data"]) and mine["data"] == theirs["data"]


def _state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resumes_mid_epoch_exactly(tiny_digits, tmp_path, monkeypatch):
    # 256 records, batch 32: 8 steps an epoch. Run B is stopped before its 11th step (3 steps into epoch 2,
    # as Ctrl-C stops it); run C resumes from the checkpoint the interrupt wrote and must end with the
    # weights of run A, which was never interrupted: the same batches in the same order, nothing repeated.
    args = dict(epochs=2, deterministic=True, val_split="", **FAST)
    a = loop.train(tiny_digits, **args)
    real = loop._Run.run_step
    calls = []

    def stop_at_11(self, images, labels):
        calls.append(1)
        if len(calls) == 11:
            raise KeyboardInterrupt
        return real(self, images, labels)

    monkeypatch.setattr(loop._Run, "run_step", stop_at_11)
    with pytest.raises(loop.TrainingInterrupted, match=r"interrupted in epoch 2, at step 10; checkpoint .*ckpt-2\.pt"):
        loop.train(tiny_digits, checkpoint_dir=str(tmp_path / "ckpt"), **args)
    monkeypatch.setattr(loop._Run, "run_step", real)
    c = loop.train(tiny_digits, checkpoint_dir=str(tmp_path / "ckpt"), **args)
    assert c.resumed_from == {"checkpoint": str(tmp_path / "ckpt" / "ckpt-2.pt"), "epoch": 1, "step": 10}
    assert [e["epoch"] for e in c.epochs] == [2] and c.epochs[0]["steps"] == 6
    want, got = _state(a.model), _state(c.model)
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want), [k for k in want if not torch.equal(want[k], got[k])]
    # and the interrupted run's weights were not those of the full run: the comparison can fail
    assert not all(torch.equal(want[k], v) for k, v in torch.load(
        tmp_path / "ckpt" / "ckpt-1.pt", weights_only=True)["model"].items())


def test_a_finished_run_resumes_to_nothing_more(tiny_digits, tmp_path):
    ckpt = str(tmp_path / "ckpt")
    loop.train(tiny_digits, epochs=1, steps_per_epoch=2, checkpoint_dir=ckpt, val_split="", **FAST)
    again = loop.train(tiny_digits, epochs=2, steps_per_epoch=2, checkpoint_dir=ckpt, val_split="", **FAST)
    assert again.resumed_from["epoch"] == 1 and [e["epoch"] for e in again.epochs] == [2]
    assert again.checkpoint == os.path.join(ckpt, "ckpt-2.pt")


def test_the_batches_hook_replaces_the_loader(tiny_digits):
    asked = []

    def batches(epoch):
        asked.append(epoch)
        g = torch.Generator().manual_seed(epoch)
        for _ in range(10):  # more than steps_per_epoch: the epoch stops at 4
            yield (torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8, generator=g),
                   torch.randint(0, 10, (8,), generator=g))

    r = loop.train(tiny_digits, epochs=2, steps_per_epoch=4, val_split="", batches=batches, **FAST)
    assert asked == [0, 1] and [e["steps"] for e in r.epochs] == [4, 4] and r.epochs[0]["images"] == 32


def test_input_stall_is_the_measured_wait(tiny_digits):
    # A reader that sleeps 30 ms before each batch: the wait the loop measures holds at least that (a lower
    # bound that sleep guarantees; no upper bound, which a loaded machine would break).
    import time

    def slow(epoch):
        for _ in range(12):
            time.sleep(0.03)
            yield torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64)

    r = loop.train(tiny_digits, epochs=1, val_split="", batches=slow, **FAST)
    e = r.epochs[0]
    assert e["steps"] == 12 and e["timed_steps"] == 11
    assert e["wait_s"] >= 12 * 0.03 and e["input_stall_pct"] == pytest.approx(100 * e["wait_s"] / e["wall_s"], abs=0.02)


def test_export_loads_the_same_model(tiny_digits, tmp_path):
    r = loop.train(tiny_digits, epochs=1, steps_per_epoch=2, val_split="", export=str(tmp_path / "m.pt"), **FAST)
    model, meta = load_model(str(tmp_path / "m.pt"))
    assert meta["framework"] == "torch" and meta["config"] == {"model": "lenet5", "num_classes": 10,
                                                               "image_shape": [28, 28, 1]}
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    r.model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), r.model(x))


def test_mixed_precision_trains_in_bfloat16_on_the_cpu(tiny_digits):
    r = loop.train(tiny_digits, epochs=1, steps_per_epoch=3, val_split="", mixed_precision=True, **FAST)
    assert np.isfinite(r.epochs[0]["loss"]) and any("bfloat16" in n for n in r.notes)


def test_an_unknown_model_is_a_usage_error(tiny_digits):
    result = CliRunner().invoke(cli, ["train", tiny_digits, "--framework", "torch", "--model", "nope"])
    assert result.exit_code == 2 and "'nope' is not one of 'lenet5'" in result.output
    with pytest.raises(TrainUsageError, match="unknown model 'nope'; models: lenet5, cifar_cnn"):
        loop.train(tiny_digits, TrainOptions(framework="torch"), model="nope")


@pytest.mark.parametrize("args, message", [
    (["--strategy", "mirrored"], "error: --strategy mirrored is a tf.distribute strategy; --framework torch trains "
                                 "on one device"),
    (["--saved-model", "--export", "m.pt"], "error: --saved-model writes a TensorFlow SavedModel"),
    (["--logdir", "logs"], "error: --logdir (TensorBoard) is not available with --framework torch"),
])
def test_options_the_torch_backend_cannot_honour_are_refused(tiny_digits, args, message):
    result = CliRunner().invoke(cli, ["train", tiny_digits, "--framework", "torch", *args])
    assert result.exit_code == 2 and result.output.startswith(message), result.output


def test_export_suffix_follows_the_framework(tiny_digits):
    result = CliRunner().invoke(cli, ["train", tiny_digits, "--framework", "torch", "--export", "m.keras"])
    assert result.exit_code == 2 and "export: expected a file name ending in .pt (--framework torch)" in result.output


def test_a_missing_framework_names_its_extra(tiny_digits, monkeypatch):
    from tfrec.training import frameworks

    monkeypatch.setattr(frameworks, "installed", lambda name: name != "torch")
    result = CliRunner().invoke(cli, ["train", tiny_digits, "--framework", "torch"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: --framework torch needs torch, which is not installed: "
                                     "pip install 'tfrec[torch]'")


def test_the_default_framework(monkeypatch):
    from tfrec.training import frameworks

    monkeypatch.setattr(frameworks, "installed", lambda name: name in ("torch", "jax"))
    assert frameworks.default_framework() == "torch"
    monkeypatch.setattr(frameworks, "installed", lambda name: True)
    assert frameworks.default_framework() == "tf"


def test_a_model_file_of_the_other_framework_is_refused(tiny_digits, tmp_path):
    loop.train(tiny_digits, epochs=1, steps_per_epoch=1, val_split="", export=str(tmp_path / "m.pt"), **FAST)
    result = CliRunner().invoke(cli, ["evaluate", tiny_digits, "--model-file", str(tmp_path / "m.pt"),
                                      "--framework", "tf"])
    assert result.exit_code == 2 and result.output.strip().startswith(
        f"error: --framework tf, but {tmp_path / 'm.pt'} is a torch model")
    os.remove(tmp_path / "m.json")
    result = CliRunner().invoke(cli, ["evaluate", tiny_digits, "--model-file", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and "not a model exported by `tfrec train --framework torch --export`" in result.output


def test_the_cli_imports_no_framework_before_dispatch(tiny_digits):
    # `tfrec train --help` and a refused request load neither TensorFlow nor torch (the choices come from the
    # framework-free registries; the backend is imported only once the framework is settled)
    code = ("import sys\nfrom click.testing import CliRunner\nfrom tfrec.cli.main import cli\n"
            "r = CliRunner().invoke(cli, ['train', '--help'])\nassert r.exit_code == 0 and '--framework' in r.output\n"
            f"r = CliRunner().invoke(cli, ['train', {tiny_digits!r}, '--framework', 'torch', '--export', 'm.keras'])\n"
            "assert r.exit_code == 2, r.output\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'torch', 'jax'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_a_damaged_record_is_named_and_can_be_skipped(tiny_digits, tmp_path):
    from tests.damage import flip, offsets

    bad = tmp_path / "bad"
    shutil.copytree(tiny_digits, bad)
    shard = sorted(str(p) for p in bad.glob("*-train.tfrecord-*") if not str(p).endswith(".idx"))[0]
    at = offsets(shard)[3]
    flip(shard, at + 20)  # inside record 3's data: its data CRC no longer matches
    result = CliRunner().invoke(cli, ["train", str(bad), "--framework", "torch", "--epochs", "1", "-q"])
    assert result.exit_code == 1 and f"{shard}: record 3 at byte offset {at}" in result.output, result.output
    r = loop.train(str(bad), epochs=1, val_split="", skip_corrupt=True, **FAST).to_json()
    assert r["read_stats"]["records_skipped"] == 1 and r["read_stats"]["damaged"][0]["index"] == 3


def test_checkpoint_every_n_steps_keeps_the_last_three(tiny_digits, tmp_path):
    ckpt = tmp_path / "ckpt"
    r = loop.train(tiny_digits, epochs=1, val_split="", checkpoint_dir=str(ckpt), checkpoint_every=2, **FAST)
    # 8 steps: after steps 2, 4, 6 and 8, then at the epoch's end: ckpt-1 .. ckpt-5, the newest three kept
    assert sorted(p.name for p in ckpt.iterdir()) == ["ckpt-3.pt", "ckpt-4.pt", "ckpt-5.pt"]
    assert r.checkpoint == str(ckpt / "ckpt-5.pt")
