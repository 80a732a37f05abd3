"""The torch zoo: every name builds, takes the loader's uint8 NCHW batches, gives logits; bad requests are usage errors."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tfrec.training.torch.optim import lr_factor  # noqa: E402
from tfrec.training.torch.zoo import build_model  # noqa: E402
from tfrec.training.zoo import MODELS, TrainUsageError  # noqa: E402


@pytest.mark.parametrize("name", list(MODELS))
def test_every_zoo_model_takes_uint8_batches(name):
    info = MODELS[name]
    channels = 3 if info.has_base else 1
    model = build_model(name, 7, (info.min_size, info.min_size + 4, channels)).eval()
    x = torch.randint(0, 256, (2, channels, info.min_size, info.min_size + 4), dtype=torch.uint8)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 7) and y.dtype == torch.float32 and torch.isfinite(y).all()
    assert model.config == {"model": name, "num_classes": 7, "image_shape": [info.min_size, info.min_size + 4, channels]}


def test_the_input_is_scaled_in_the_model():
    model = build_model("lenet5", 10, (28, 28, 1)).eval()
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net(x.float() / 255), atol=1e-5)


def test_bad_requests_are_usage_errors():
    with pytest.raises(TrainUsageError, match="unknown model 'vgg'; models: lenet5, cifar_cnn, resnet20"):
        build_model("vgg", 10, (32, 32, 3))
    with pytest.raises(TrainUsageError, match="model resnet50 takes 3-channel"):
        build_model("resnet50", 10, (64, 64, 1))
    with pytest.raises(TrainUsageError, match="model lenet5 needs images of at least 12x12"):
        build_model("lenet5", 10, (8, 8, 1))


def test_the_schedules_match_the_keras_ones():
    # tfrec/training/optim.py's WarmupSchedule: linear warm-up, then constant / cosine / x0.1 at 50% and 75%
    assert [lr_factor(s, 100, 10) for s in (0, 4, 9, 10, 99)] == [0.1, 0.5, 1.0, 1.0, 1.0]
    assert lr_factor(10, 110, 10, "cosine") == 1.0 and lr_factor(60, 110, 10, "cosine") == pytest.approx(0.5)
    assert [round(lr_factor(s, 100, 0, "step"), 6) for s in (49, 50, 75)] == [1.0, 0.1, 0.01]
