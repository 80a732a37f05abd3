"""Fixtures of the CLI tests: untrained exported models (no training needed to check reading and checks)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def models(datasets, tmp_path_factory):
    """Untrained exports: 'grey' takes 28x28x1 (planned on the MNIST fixture), 'colour' 32x32x3 (CIFAR-10)."""
    pytest.importorskip("tensorflow")
    from tfrec.training.data import plan_data
    from tfrec.training.export import export_model
    from tfrec.training.models import build_model
    from tfrec.training.options import TrainOptions

    root = tmp_path_factory.mktemp("models")
    out = {}
    for name, fmt, model, shape in (("grey", "mnist", "lenet5", (28, 28, 1)),
                                    ("colour", "cifar10", "cifar_cnn", (32, 32, 3))):
        out[name] = str(root / f"{name}.keras")
        export_model(build_model(model, shape, 10), out[name], plan_data(datasets[fmt], TrainOptions()))
    return out
