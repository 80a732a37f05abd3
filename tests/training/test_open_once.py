"""The trainer, evaluate and `bench train` open a dataset once per run: dataset.json is read once, and every
epoch's reader, the validation and the benchmark's modes read through the one handle, not the path."""
from __future__ import annotations

import os

import pytest

tf = pytest.importorskip("tensorflow")

from tfrec.io.dataset import Dataset, open_dataset  # noqa: E402
from tfrec.io.manifest import MANIFEST  # noqa: E402
from tfrec.training import data as training_data  # noqa: E402
from tfrec.training.loop import train  # noqa: E402

FAST = dict(model="lenet5", batch_size=32, seed=0, lr=0.003, progress=False)


@pytest.fixture
def readers(monkeypatch):
    """What each of the trainer's make_dataset calls was handed to read."""
    handed: list = []
    real = training_data.make_dataset

    def spy(dataset, *args, **kwargs):
        handed.append(dataset)
        return real(dataset, *args, **kwargs)

    monkeypatch.setattr(training_data, "make_dataset", spy)
    return handed


def test_the_trainer_reads_dataset_json_once_per_run(digits, manifest_reads, readers):
    result = train(digits, epochs=3, steps_per_epoch=2, **FAST)
    assert [row["epoch"] for row in result.epochs] == [1, 2, 3] and "val_loss" in result.epochs[-1]
    assert manifest_reads == [os.path.join(digits, MANIFEST)]
    # three epochs' readers and three validations, each through the run's one handle (never the path again)
    assert len(readers) == 6 and all(r is readers[0] for r in readers) and isinstance(readers[0], Dataset)


def test_an_opened_dataset_is_not_read_again(digits, manifest_reads, readers):
    dataset = open_dataset(digits)
    train(dataset, epochs=1, steps_per_epoch=2, val_split="", **FAST)
    assert len(manifest_reads) == 1 and readers == [dataset]


def test_evaluate_reads_dataset_json_once(digits, tmp_path, manifest_reads):
    from tfrec.training.evaluate import evaluate

    model = str(tmp_path / "m.keras")
    train(digits, epochs=1, steps_per_epoch=2, val_split="", export=model, **FAST)
    manifest_reads.clear()
    out = evaluate(digits, model, batch_size=64)
    assert out["split"] == "test" and out["records"] == 300 and len(manifest_reads) == 1


@pytest.mark.slow  # two modes' models built and traced, and the stage rates
def test_bench_train_reads_dataset_json_once(datasets, manifest_reads):
    from tfrec.bench.train import benchmark_train

    r = benchmark_train(datasets["cifar10"], model="cifar_cnn", batch_size=8, steps=2, warmup_steps=1, rounds=2,
                        modes=("synthetic", "tfrec", "tfrec_cached"), stage_batches=2, stage_rounds=1,
                        drop_cache=False, progress=False)
    assert set(r["modes"]) == {"synthetic", "tfrec", "tfrec_cached"}
    assert [s["stage"] for s in r["stages"]["tfrec"]] == ["read", "parse", "decode", "output"]
    assert manifest_reads == [os.path.join(datasets["cifar10"], MANIFEST)]
