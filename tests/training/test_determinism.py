"""With --seed --deterministic: two runs end with identical weights, and a run killed (SIGKILL) after an epoch
and resumed ends with the same weights as an uninterrupted one. Each run is a `tfrec train` subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from .gates import start_gated, wait_for_gate  # noqa: E402

ARGS = ["--model", "lenet5", "--batch-size", "32", "--seed", "7", "--deterministic", "--augment", "mnist",
        "--val-split", "", "--json", "--quiet"]


def _train(dataset, tmp, name, epochs, extra=()):
    export = str(tmp / f"{name}.keras")
    args = ["train", dataset, "--epochs", str(epochs), "--export", export, "--checkpoint-dir", str(tmp / f"{name}-ckpt"),
            *ARGS, *extra]
    return [sys.executable, "-m", "tfrec.cli.main", *args], export, args


def _run(cmd) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _weights(path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfrec.training.export import load_model

    return [w.numpy() for w in load_model(path)[0].weights]


@pytest.mark.slow
def test_two_runs_identical_and_sigkill_resume_equals_uninterrupted(tiny_digits, tmp_path):
    # 8 steps an epoch, a checkpoint every 3 steps and at each epoch's end: ckpt-2 is step 6, mid-epoch 1.
    cmds = [_train(tiny_digits, tmp_path, name, 3, ["--checkpoint-every", "3"]) for name in "abc"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd, _, _ in cmds[:2]]
    procs.append(start_gated("saved:ckpt-2", cmds[2][2]))  # run c waits, after ckpt-2, for its SIGKILL
    try:
        killed = wait_for_gate(procs[2])
        procs[2].send_signal(signal.SIGKILL)
        for p in procs[:2]:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-2000:]
        procs[2].communicate(timeout=60)
    finally:
        for p in procs:
            p.kill()
    assert killed, "the run ended before it could be killed"
    resumed = _run(cmds[2][0])
    assert resumed["resumed_from"]["step"] == 6 and resumed["resumed_from"]["epoch"] == 0
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3] and resumed["epochs"][0]["steps"] == 2
    wa, wb, wc = (_weights(path) for _, path, _ in cmds)
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))  # two runs: identical weights
    assert all(np.array_equal(x, y) for x, y in zip(wa, wc))  # killed and resumed: the same weights
