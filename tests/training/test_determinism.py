"""With --seed --deterministic: two runs end with identical weights, and a run killed (SIGKILL) after an epoch
and resumed ends with the same weights as an uninterrupted one. Each run is a `tfrec train` subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("tensorflow")

ARGS = ["--model", "lenet5", "--batch-size", "32", "--seed", "7", "--deterministic", "--augment", "mnist",
        "--val-split", "", "--json", "--quiet"]


def _train(dataset, tmp, name, epochs, extra=()):
    export = str(tmp / f"{name}.keras")
    cmd = [sys.executable, "-m", "tfrec.cli.main", "train", dataset, "--epochs", str(epochs), "--export", export,
           "--checkpoint-dir", str(tmp / f"{name}-ckpt"), *ARGS, *extra]
    return cmd, export


def _run(cmd) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _weights(path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfrec.training.export import load_model

    return [w.numpy() for w in load_model(path)[0].weights]


def _wait_for_checkpoint(ckpt_dir, name, proc, limit_s=180.0) -> bool:
    """Waits until checkpoint `name` is the latest in ckpt_dir; False if the process ended first."""
    index = ckpt_dir / "checkpoint"
    deadline = time.time() + limit_s
    while time.time() < deadline and proc.poll() is None:
        if index.exists() and f'"{name}"' in index.read_text().splitlines()[0]:
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_two_runs_identical_and_sigkill_resume_equals_uninterrupted(tiny_digits, tmp_path):
    # 8 steps an epoch, a checkpoint every 3 steps and at each epoch's end: ckpt-2 is step 6, mid-epoch 1.
    cmds = [_train(tiny_digits, tmp_path, name, 3, ["--checkpoint-every", "3"]) for name in "abc"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd, _ in cmds]
    killed = _wait_for_checkpoint(tmp_path / "c-ckpt", "ckpt-2", procs[2])
    procs[2].send_signal(signal.SIGKILL)
    for p in procs[:2]:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    procs[2].wait()
    assert killed, "the run ended before it could be killed"
    resumed = _run(cmds[2][0])
    assert resumed["resumed_from"]["step"] == 6 and resumed["resumed_from"]["epoch"] == 0
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3] and resumed["epochs"][0]["steps"] == 2
    wa, wb, wc = (_weights(path) for _, path in cmds)
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))  # two runs: identical weights
    assert all(np.array_equal(x, y) for x, y in zip(wa, wc))  # killed and resumed: the same weights
