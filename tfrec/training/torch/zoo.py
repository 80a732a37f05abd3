"""The model zoo as native torch.nn modules: the architectures of tfrec/training/models.py, fed uint8 NCHW batches.

Each model takes the loader's uint8 images (N, C, H, W) as they come and scales them in its first
operation, as the Keras zoo's models take [0, 1] floats and rescale in their first layer: lenet5,
cifar_cnn and resnet20 see [0, 1]; mobilenet_v2 [-1, 1] (what MobileNetV2 expects); resnet50 [0, 255]
(the Keras zoo's 'caffe' range, its mean subtraction learnt by batch norm). Outputs are logits.
Nothing is downloaded (no torchvision, no pretrained weights). `config` rebuilds a model (export).
"""
from __future__ import annotations

import torch
from torch import nn

from ..zoo import MODELS, TrainUsageError, check_input, get_model_info

SCALES = {"lenet5": (1 / 255, 0.0), "cifar_cnn": (1 / 255, 0.0), "resnet20": (1 / 255, 0.0),
          "mobilenet_v2": (2 / 255, -1.0), "resnet50": (1.0, 0.0)}  # x * scale + offset, as the Keras zoo's input


class Scale(nn.Module):
    """uint8 (or float) images -> float32 x * scale + offset: the zoo's input range, inside the model."""

    def __init__(self, scale: float, offset: float):
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.scale + self.offset


def _flat_features(body: nn.Module, shape: tuple[int, int, int]) -> int:
    """The number of features `body` makes of one (channels, height, width) image (a dry run on zeros)."""
    with torch.no_grad():
        return int(body(torch.zeros(1, *shape)).flatten(1).shape[1])


def lenet5(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """LeNet-5 with ReLU and max pooling, as the Keras zoo's lenet5."""
    body = nn.Sequential(nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    n = _flat_features(body, (channels, height, width))
    return nn.Sequential(body, nn.Linear(n, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


def cifar_cnn(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """The TensorFlow CIFAR-10 tutorial network with batch norm, as the Keras zoo's cifar_cnn (3x3/2 'same' pools)."""
    layers: list[nn.Module] = []
    for c in (channels, 64):
        layers += [nn.Conv2d(c, 64, 5, padding=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                   nn.MaxPool2d(3, 2, padding=1)]  # = Keras' 3x3/2 'same' pooling: ceil(n / 2)
    body = nn.Sequential(*layers, nn.Flatten())
    n = _flat_features(body, (channels, height, width))
    return nn.Sequential(body, nn.Linear(n, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, num_classes))


class Basic(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with batch norm, a 1x1 projection where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet20(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """ResNet-20 for CIFAR (He et al. 2016, 4.2): 3 stages of 3 basic blocks, 16/32/64 filters."""
    layers: list[nn.Module] = [nn.Conv2d(channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for stage, cout in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Basic(cin, cout, 2 if stage and not block else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection; a residual where shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(), nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


# MobileNetV2 (Sandler et al. 2018, table 2): expansion t, channels c, repeats n, first stride s; width 1.0
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


def mobilenet_v2(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """MobileNetV2 (width 1.0) and the Keras zoo's new head: global average pooling, dropout 0.2, logits."""
    layers: list[nn.Module] = [nn.Conv2d(channels, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    cin = 32
    for t, c, n, s in MOBILENET_V2:
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
    return nn.Sequential(nn.Sequential(*layers), _head(1280, num_classes))


class Bottleneck(nn.Module):
    """ResNet-50's block: 1x1 reduce, 3x3 (stride here, as Keras' ResNet50 has it on the first 1x1), 1x1 expand x4."""

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet50(channels: int, height: int, width: int, num_classes: int) -> nn.Module:
    """ResNet-50 (He et al. 2016; keras.applications.ResNet50's layout) and the Keras zoo's new head."""
    layers: list[nn.Module] = [nn.Conv2d(channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                               nn.MaxPool2d(3, 2, padding=1)]
    cin = 64
    for stage, (w, n) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        for i in range(n):
            layers.append(Bottleneck(cin, w, 2 if stage and i == 0 else 1))
            cin = 4 * w
    return nn.Sequential(nn.Sequential(*layers), _head(cin, num_classes))


def _head(features: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(features, num_classes))


_BUILDERS = {"lenet5": lenet5, "cifar_cnn": cifar_cnn, "resnet20": resnet20, "mobilenet_v2": mobilenet_v2,
             "resnet50": resnet50}
assert set(_BUILDERS) == set(MODELS), "every zoo name has a torch module"


class ZooModel(nn.Module):
    """A zoo network behind its input scaling; `config` is what build_model needs to rebuild it."""

    def __init__(self, name: str, num_classes: int, image_shape_hwc: tuple[int, int, int]):
        super().__init__()
        height, width, channels = image_shape_hwc
        self.config = {"model": name, "num_classes": int(num_classes), "image_shape": [height, width, channels]}
        self.scale = Scale(*SCALES[name])
        self.net = _BUILDERS[name](channels, height, width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.scale(x))


def keras_init(model: nn.Module, he_normal: bool = False) -> None:
    """Keras' initialisation, which the zoo's training settings were tuned with: Glorot-uniform kernels and zero
    biases (Keras' defaults; PyTorch's own Kaiming-uniform(a=sqrt 5) learnt the digits fixture 2x slower here:
    validation accuracy 0.79/0.86 against 0.98/0.96 after 3 epochs, seeds 0/1); He-normal 3x3 convolutions for
    resnet20, as the Keras zoo's."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if he_normal and isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_model(name: str, num_classes: int, image_shape_hwc: tuple[int, int, int]) -> nn.Module:
    """Builds zoo model `name` for images of (height, width, channels) and `num_classes` logits.

    The module takes uint8 (or float 0-255) images of shape (N, channels, height, width) and returns
    float32 logits (N, num_classes); weights are initialised as Keras initialises the Keras zoo (keras_init).

    Raises:
        TrainUsageError: an unknown name (listing the known ones), an input the model cannot take, a
            model with a base (mobilenet_v2, resnet50) given other than 3 channels, fewer than 1 class.
    """
    info = get_model_info(name)
    height, width, channels = (int(v) for v in image_shape_hwc)
    check_input(name, height, width)
    if info.has_base and channels != 3:
        raise TrainUsageError(f"model {name} takes 3-channel (RGB) images, not {channels}-channel ones")
    if num_classes < 1:
        raise TrainUsageError(f"num_classes: expected at least 1, found {num_classes}")
    model = ZooModel(name, num_classes, (height, width, channels))
    keras_init(model, he_normal=name == "resnet20")
    return model
