"""The model zoo's builders (Keras 3): name -> a model of (height, width, channels) images to class logits.

Every model is built from stock Keras layers only, so a saved `.keras` file loads anywhere without
custom objects. Inputs are float32 images in [0, 1] (what `tfrec.make_dataset` yields); models that
expect another range rescale in their first layer. Outputs are logits (no softmax). Nothing is
downloaded: `weights` is a local file or None (random initialisation).
"""
from __future__ import annotations

import keras
from keras import layers

from .zoo import MODELS, TrainUsageError, check_input, get_model_info


def lenet5(inputs):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, as in the Keras MNIST examples."""
    x = layers.Conv2D(6, 5, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu")(x)
    return layers.Dense(84, activation="relu")(x)


def cifar_cnn(inputs):
    """The TensorFlow CIFAR-10 tutorial network (cifar10.py): two 5x5x64 conv + 3x3/2 pool blocks and
    384 -> 192 dense layers, with batch normalisation where the tutorial used local response normalisation."""
    x = inputs
    for _ in range(2):
        x = layers.Conv2D(64, 5, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(384, activation="relu")(x)
    return layers.Dense(192, activation="relu")(x)


def _residual(x, filters: int, stride: int):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def resnet20(inputs):
    """ResNet-20 for CIFAR (He et al. 2016, section 4.2): 3 stages of 3 basic blocks, 16/32/64 filters."""
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            x = _residual(x, filters, 2 if stage and not block else 1)
    return layers.GlobalAveragePooling2D()(x)


def _application(kind: str, inputs, weights: str | None, freeze_base: bool, fine_tune_at: int | None):
    """A keras.applications base without its top (weights: a local no-top weights file, or None)."""
    if kind == "mobilenet_v2":
        x = layers.Rescaling(2.0, offset=-1.0)(inputs)  # MobileNetV2 expects [-1, 1]
        base = keras.applications.MobileNetV2(include_top=False, weights=weights, input_shape=tuple(inputs.shape[1:]))
    else:
        x = layers.Rescaling(255.0)(inputs)  # ResNet50's 'caffe' range; its mean subtraction is learnt by BN here
        base = keras.applications.ResNet50(include_top=False, weights=weights, input_shape=tuple(inputs.shape[1:]))
    if freeze_base:
        base.trainable = False
    elif fine_tune_at is not None:
        if not 0 <= fine_tune_at < len(base.layers):
            raise TrainUsageError(f"--fine-tune-at {fine_tune_at}: the {kind} base has {len(base.layers)} layers "
                                  f"(0 to {len(base.layers) - 1})")
        for layer in base.layers[:fine_tune_at]:
            layer.trainable = False
    # training=False keeps a frozen base's batch norm in inference mode, as the transfer-learning tutorials do.
    x = base(x, training=False) if freeze_base else base(x)
    x = layers.GlobalAveragePooling2D()(x)
    return layers.Dropout(0.2)(x)


_BODIES = {"lenet5": lenet5, "cifar_cnn": cifar_cnn, "resnet20": resnet20}


def build_model(name: str, input_shape: tuple[int, int, int], num_classes: int, weights: str | None = None,
                freeze_base: bool = False, fine_tune_at: int | None = None) -> keras.Model:
    """Builds zoo model `name` for `input_shape` (height, width, channels) and `num_classes` logits.

    Args:
        weights: a local weights file: for mobilenet_v2/resnet50 the base's no-top weights (as the
            transfer-learning tutorials load them); for the others the whole model's (`.weights.h5`).
        freeze_base: train only the new head (mobilenet_v2, resnet50).
        fine_tune_at: unfreeze the base from this layer index on (mobilenet_v2, resnet50).

    Raises:
        TrainUsageError: unknown name, an input the model cannot take, base options on a model without a base.
    """
    info = get_model_info(name)
    height, width, channels = input_shape
    check_input(name, height, width)
    if (freeze_base or fine_tune_at is not None) and not info.has_base:
        raise TrainUsageError(f"--freeze-base/--fine-tune-at need a model with a base "
                              f"({', '.join(n for n, m in MODELS.items() if m.has_base)}), not {name}")
    if freeze_base and fine_tune_at is not None:
        raise TrainUsageError("give --freeze-base or --fine-tune-at, not both")
    inputs = keras.Input(shape=input_shape, name="image")
    if info.has_base:
        if channels != 3:
            raise TrainUsageError(f"model {name} takes 3-channel (RGB) images, not {channels}-channel ones")
        x = _application(name, inputs, weights, freeze_base, fine_tune_at)
    else:
        x = _BODIES[name](inputs)
    outputs = layers.Dense(num_classes, name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights and not info.has_base:
        model.load_weights(weights)
    return model

