"""The model zoo's names, input limits and the choice of a model from a dataset's schema (no TensorFlow here)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


class TrainUsageError(UsageError):
    """The request cannot be trained as asked (unknown model or optimizer, no labels, an image size the
    model cannot take): the CLI reports it as a usage error (exit code 2), before any training starts."""


@dataclass(frozen=True)
class ModelInfo:
    """A zoo entry: what it is for, the smallest image side it takes, its default size, and whether it
    has a pretrained-style base (for --weights as a base, --freeze-base and --fine-tune-at)."""

    name: str
    summary: str
    min_size: int
    default_size: int
    has_base: bool = False


MODELS: dict[str, ModelInfo] = {
    "lenet5": ModelInfo("lenet5", "LeNet-5 (MNIST-sized digits)", 12, 28),
    "cifar_cnn": ModelInfo("cifar_cnn", "the TensorFlow CIFAR-10 tutorial CNN, batch norm for LRN", 8, 32),
    "resnet20": ModelInfo("resnet20", "ResNet-20 (He et al., CIFAR-sized)", 8, 32),
    "mobilenet_v2": ModelInfo("mobilenet_v2", "MobileNetV2 + new head (transfer learning)", 32, 224, has_base=True),
    "resnet50": ModelInfo("resnet50", "ResNet-50 + new head (input-pipeline benchmarks)", 32, 224, has_base=True),
}


def get_model_info(name: str) -> ModelInfo:
    """The zoo entry for `name`.

    Raises:
        TrainUsageError: an unknown name (the message lists the known ones).
    """
    if name not in MODELS:
        raise TrainUsageError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    return MODELS[name]


def choose_model(height: int | None, width: int | None, channels: int) -> str:
    """The default model for images of this size: lenet5 for small greyscale, cifar_cnn up to 64
    pixels a side, mobilenet_v2 above that or when the size varies."""
    if height is None or width is None:
        return "mobilenet_v2"
    side = max(height, width)
    if channels == 1 and side <= 32:
        return "lenet5"
    return "cifar_cnn" if side <= 64 else "mobilenet_v2"


def check_input(name: str, height: int, width: int) -> None:
    """Raises TrainUsageError when model `name` cannot take height x width images."""
    info = get_model_info(name)
    if min(height, width) < info.min_size:
        raise TrainUsageError(f"model {name} needs images of at least {info.min_size}x{info.min_size}, "
                              f"not {width}x{height}; pass --image-size {max(info.min_size, info.default_size)} "
                              "or choose another --model")
