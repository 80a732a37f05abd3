"""The model zoo: every model builds for its input shapes and trains a step; bases load local weights and freeze."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfrec.training.models import build_model  # noqa: E402
from tfrec.training.optim import WarmupSchedule  # noqa: E402
from tfrec.training.options import TrainOptions  # noqa: E402
from tfrec.training.optim import make_optimizer  # noqa: E402
from tfrec.training.steps import Steps  # noqa: E402
from tfrec.training.zoo import MODELS, TrainUsageError, choose_model  # noqa: E402


def _one_step(name, shape, classes=10):
    model = build_model(name, shape, classes)
    assert model.output_shape == (None, classes)
    opt = make_optimizer(TrainOptions(optimizer="sgd", lr=0.01), 10, False)
    opt.build(model.trainable_variables)
    before = [w.numpy().copy() for w in model.trainable_variables]
    steps = Steps(model, opt, classes)
    x = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
    loss, right = steps.train(tf.constant(x), tf.constant([0, 1, 2, 3], tf.int64)).numpy()
    assert np.isfinite(float(loss)) and 0 <= float(right) <= 4
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_variables))


@pytest.mark.parametrize("name,shape", [("lenet5", (28, 28, 1)), ("lenet5", (32, 32, 3)), ("cifar_cnn", (32, 32, 3)),
                                        ("cifar_cnn", (24, 20, 1)), ("resnet20", (32, 32, 3)),
                                        pytest.param("mobilenet_v2", (32, 32, 3), marks=pytest.mark.slow)])
def test_model_builds_and_trains_a_step(name, shape):
    _one_step(name, shape)


@pytest.mark.slow
def test_resnet50_builds_and_trains_a_step():
    _one_step("resnet50", (32, 32, 3), classes=100)


def test_base_loads_local_weights_and_freezes(tmp_path):
    model = build_model("mobilenet_v2", (32, 32, 3), 5)
    base = next(layer for layer in model.layers if isinstance(layer, tf.keras.Model))
    path = str(tmp_path / "base.weights.h5")
    base.save_weights(path)
    frozen = build_model("mobilenet_v2", (32, 32, 3), 5, weights=path, freeze_base=True)
    fbase = next(layer for layer in frozen.layers if isinstance(layer, tf.keras.Model))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(base.weights, fbase.weights))
    assert [v.name for v in frozen.trainable_variables] == ["kernel", "bias"]  # only the new head
    tuned = build_model("mobilenet_v2", (32, 32, 3), 5, fine_tune_at=100)
    tbase = next(layer for layer in tuned.layers if isinstance(layer, tf.keras.Model))
    assert not any(layer.trainable for layer in tbase.layers[:100]) and tbase.layers[-1].trainable
    with pytest.raises(TrainUsageError, match="--fine-tune-at 999: the mobilenet_v2 base has"):
        build_model("mobilenet_v2", (32, 32, 3), 5, fine_tune_at=999)
    with pytest.raises(TrainUsageError, match="need a model with a base"):
        build_model("lenet5", (28, 28, 1), 5, freeze_base=True)


def test_choice_from_the_schema():
    assert choose_model(28, 28, 1) == "lenet5"
    assert choose_model(32, 32, 3) == "cifar_cnn"
    assert choose_model(224, 224, 3) == choose_model(None, None, 3) == "mobilenet_v2"


def test_schedules_warm_up_then_decay():
    lr = {k: WarmupSchedule(0.1, 100, 10, k) for k in ("constant", "cosine", "step")}
    assert float(lr["constant"](0)) == pytest.approx(0.01) and float(lr["constant"](9)) == pytest.approx(0.1)
    assert float(lr["constant"](99)) == pytest.approx(0.1)
    assert float(lr["cosine"](10)) == pytest.approx(0.1) and float(lr["cosine"](100)) == pytest.approx(0, abs=1e-7)
    assert float(lr["step"](60)) == pytest.approx(0.01) and float(lr["step"](80)) == pytest.approx(0.001)


def test_zoo_names_import_without_tensorflow():
    code = "import sys, tfrec.training.zoo, tfrec.training.options; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    assert list(MODELS) == ["lenet5", "cifar_cnn", "resnet20", "mobilenet_v2", "resnet50"]
