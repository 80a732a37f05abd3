"""The tf.data service: serve-data subprocesses on loopback, every record once, a lost worker fails in bounded time."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from click.testing import CliRunner  # noqa: E402

import tfrec  # noqa: E402
from tfrec.cli.main import cli  # noqa: E402
from tfrec.demo import synth  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.read import service  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

RECORDS, SHARDS = 2400, 16
START_S = 120  # the servers import TensorFlow: slow on a loaded 2-core machine
LOST_S = 4.0  # the reader's data_service_timeout in the lost-worker tests


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("served")
    synth.write_mnist(root / "src", n_train=RECORDS, n_test=10, seed=2)
    convert(str(root / "src"), str(root / "ds"), ConvertOptions(shards=SHARDS, progress=False, workers=1))
    return str(root / "ds")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tfrec.cli", "serve-data", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


@pytest.fixture(scope="module")
def cluster():
    """A dispatcher and two workers, subprocesses on 127.0.0.1, started together; stopped at the end."""
    port = _free_port()
    procs = [_serve("--dispatcher", str(port), "--worker-timeout", "2")]
    procs += [_serve("--worker", "--dispatcher-address", f"127.0.0.1:{port}", "--host", "127.0.0.1")
              for _ in range(2)]
    try:
        deadline = time.monotonic() + START_S
        infos = []
        for p in procs:  # each prints one JSON line once it serves
            line = p.stdout.readline() if time.monotonic() < deadline else ""
            assert line, f"serve-data exited with {p.poll()} before serving"
            infos.append(json.loads(line))
        assert [i["role"] for i in infos] == ["dispatcher", "worker", "worker"]
        yield {"address": f"grpc://127.0.0.1:{port}", "workers": procs[1:]}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _labels(ds) -> Counter:
    out = Counter()
    for images, labels in ds:
        for image, label in zip(images.numpy(), labels.numpy()):
            out[(int(label), image.tobytes())] += 1
    return out


# --------------------------------------------------------------------------- no servers


def test_service_address_forms():
    assert service.service_address("127.0.0.1:5050") == "grpc://127.0.0.1:5050"
    assert service.service_address("grpc://host-1.example:5050") == "grpc://host-1.example:5050"
    for bad in ("http://h:1", "h", "h:0", "h:99999"):
        with pytest.raises(TfrecError, match="grpc://HOST:PORT"):
            service.service_address(bad)


def test_skip_corrupt_cannot_run_on_workers(digits):
    with pytest.raises(TfrecError, match="skip_corrupt cannot run on tf.data service workers"):
        tfrec.make_dataset(digits, data_service="grpc://127.0.0.1:1", skip_corrupt=True)
    with pytest.raises(TfrecError, match="processing_mode"):
        tfrec.make_dataset(digits, data_service="grpc://127.0.0.1:1", processing_mode="sideways")


def test_watchdog_fails_a_stalled_pass_in_bounded_time():
    def slow():
        yield np.zeros([2], np.int64)
        time.sleep(30)
        yield np.zeros([2], np.int64)

    stalled = tf.data.Dataset.from_generator(slow, output_signature=tf.TensorSpec([None], tf.int64))
    t = time.monotonic()
    with pytest.raises(tf.errors.OpError, match=r"no batch for 0.5 s after 2 records of 4"):
        list(service.watched(stalled, "grpc://h:1", 0.5, expected=4))
    assert time.monotonic() - t < 5


def test_watchdog_fails_a_pass_that_ends_short():
    ds = tf.data.Dataset.range(6).batch(4)
    with pytest.raises(tf.errors.OpError, match=r"ended with 6 of its 8 records"):
        list(service.watched(ds, "grpc://h:1", 5, expected=8))
    assert [len(b) for b in service.watched(ds, "grpc://h:1", 5, expected=6)] == [4, 2]


def test_serve_data_usage_errors():
    runner = CliRunner()
    assert runner.invoke(cli, ["serve-data"]).exit_code == 2
    assert runner.invoke(cli, ["serve-data", "--worker"]).exit_code == 2
    assert runner.invoke(cli, ["serve-data", "--dispatcher", "0", "--worker"]).exit_code == 2
    assert "GPU host" in runner.invoke(cli, ["serve-data", "--help"]).output


# --------------------------------------------------------------------------- a dispatcher and two workers


@pytest.mark.slow
def test_distributed_epoch_yields_every_record_exactly_once(digits, cluster):
    local = _labels(tfrec.make_dataset(digits, batch_size=50, shuffle=False, dtype="uint8"))
    served = tfrec.make_dataset(digits, batch_size=50, seed=3, dtype="uint8", data_service=cluster["address"],
                                processing_mode="distributed_epoch", data_service_timeout=60)
    shapes = [int(y.shape[0]) for _, y in served]
    assert shapes == [50] * (RECORDS // 50)  # batches re-cut on the reader: no short batch per worker
    got = _labels(served)
    assert sum(got.values()) == RECORDS and got == local


@pytest.mark.slow
def test_parallel_epochs_give_each_worker_a_whole_pass(digits, cluster):
    local = _labels(tfrec.make_dataset(digits, batch_size=64, shuffle=False, dtype="uint8"))
    got = _labels(tfrec.make_dataset(digits, batch_size=64, seed=3, dtype="uint8", data_service=cluster["address"],
                                     processing_mode="parallel_epochs", data_service_timeout=60))
    assert got == Counter({k: 2 * v for k, v in local.items()})


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_fails_the_pass_in_bounded_time(digits, cluster):
    """distributed_epoch: the files the dead worker held are gone, and the service would wait for it
    forever; the reader fails LOST_S after the last batch, naming the records it got."""
    ds = tfrec.make_dataset(digits, batch_size=16, seed=4, dtype="uint8", data_service=cluster["address"],
                            data_service_timeout=LOST_S)
    records, error = 0, None
    t = time.monotonic()
    try:
        for i, (_, labels) in enumerate(ds):
            records += int(labels.shape[0])
            if i == 1:
                cluster["workers"][0].send_signal(signal.SIGKILL)
                cluster["workers"][0].wait(timeout=10)
    except tf.errors.OpError as e:
        error = str(e)
    elapsed = time.monotonic() - t
    print(f"killed mid-epoch: {records} records, {elapsed:.1f} s, error: {error is not None}")
    assert elapsed < 30, f"the reader took {elapsed:.0f} s"
    # It either failed, saying so, or (if the dead worker held no unread file) completed whole: never short.
    if error is None:
        assert records == RECORDS
    else:
        assert "ServiceError" in error and f"records of {RECORDS:,}" in error and "a worker is unreachable" in error
        assert records < RECORDS


@pytest.mark.slow
def test_parallel_epochs_carry_on_without_a_lost_worker(digits, cluster):
    """After the kill above, the dispatcher still lists the dead worker (TensorFlow keeps its tasks): a
    repeating parallel_epochs reader skips it and reads on from the live one."""
    if cluster["workers"][0].poll() is None:
        cluster["workers"][0].send_signal(signal.SIGKILL)
    ds = tfrec.make_dataset(digits, batch_size=64, seed=5, dtype="uint8", data_service=cluster["address"],
                            processing_mode="parallel_epochs", repeat=True, data_service_timeout=LOST_S)
    t = time.monotonic()
    assert sum(int(y.shape[0]) for _, y in ds.take(2 * RECORDS // 64)) == 2 * RECORDS // 64 * 64
    assert time.monotonic() - t < 30
