"""multi_worker training: two local processes (TF_CONFIG on loopback) train on disjoint files and end with the same weights."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfrec.io.manifest import read_manifest  # noqa: E402
from tfrec.training.data import epoch_dataset, plan_data  # noqa: E402
from tfrec.training.options import TrainOptions  # noqa: E402

TIMEOUT_S = 150  # a hung all-reduce fails the test instead of blocking CI


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_workers_read_disjoint_files_that_cover_the_split(tiny_digits):
    options = TrainOptions(batch_size=32, seed=1, steps_per_epoch=None)
    plan = plan_data(tiny_digits, options)
    seen, images = [], []
    for index in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=index, num_replicas_in_sync=2)
        batches = [(x.numpy(), y.numpy()) for x, y in epoch_dataset(plan, options, 0, input_context=ctx)]
        assert all(len(y) == 16 for _, y in batches)  # the per-replica batch: 32 global over 2 replicas
        seen.append(len(batches))
        images.append({x.tobytes() for b, _ in batches for x in b})
    # every worker runs the same number of steps (the epoch's global steps), else an all-reduce waits
    records = read_manifest(tiny_digits)["splits"]["train"]["records"]
    assert seen == [records // 32] * 2
    assert not images[0] & images[1]  # disjoint: each worker reads its own shard files


@pytest.mark.slow
def test_two_local_workers_train_to_identical_weights(tiny_digits, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, "-m", "tfrec.cli", "train", tiny_digits, "--strategy", "multi_worker", "--epochs", "1",
               "--steps-per-epoch", "3", "--batch-size", "32", "--seed", "1", "--val-split", "",
               "--export", str(tmp_path / f"w{index}.keras"), "--json"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert [r["overall"]["steps"] for r in results] == [3, 3]
    import keras

    a, b = (keras.saving.load_model(str(tmp_path / f"w{i}.keras"), compile=False).get_weights() for i in range(2))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert results[0]["loss"] == results[1]["loss"]  # the all-reduced loss of the same steps
