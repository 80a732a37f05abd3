"""Learnable digits datasets for the trainer's tests: written with the demo's synth and converted, once per session."""
from __future__ import annotations

import pytest

from tfrec.demo import synth
from tfrec.write.convert import ConvertOptions, convert


def _digits(factory, name: str, n_train: int, n_test: int, seed: int) -> str:
    root = factory.mktemp(name)
    synth.write_mnist(root / "src", n_train=n_train, n_test=n_test, seed=seed)
    convert(str(root / "src"), str(root / "ds"), ConvertOptions(shards=2, progress=False, workers=1))
    return str(root / "ds")


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> str:
    """1,200 training and 300 test digits (28x28x1, 10 classes) in 2 shards per split."""
    return _digits(tmp_path_factory, "digits", 1200, 300, 5)


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory) -> str:
    """256 training and 64 test digits: for runs in subprocesses, where only the weights matter."""
    return _digits(tmp_path_factory, "tiny_digits", 256, 64, 6)


@pytest.fixture(scope="session")
def torch_digits(tmp_path_factory) -> str:
    """3,000 training and 300 test digits: enough steps for lenet5 to pass 0.95 held-out accuracy in 3 epochs."""
    return _digits(tmp_path_factory, "torch_digits", 3000, 300, 5)
