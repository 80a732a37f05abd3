"""The options' optimizers and learning-rate schedules as Keras 3 ones on any backend (keras.ops, no TensorFlow),
as tfrec/training/optim.py makes them for the TensorFlow path."""
from __future__ import annotations

import math

from .backend import use_jax_backend

use_jax_backend()

import keras  # noqa: E402 - after the backend is chosen
from keras import ops  # noqa: E402

from ..options import TrainOptions  # noqa: E402

STEP_DECAY_AT = (0.5, 0.75)  # as tfrec/training/optim.py: x0.1 at these fractions of the run
ADAMW_DEFAULT_DECAY = 0.004  # keras.optimizers.AdamW's default, which the Keras path uses too


@keras.saving.register_keras_serializable("tfrec")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over `warmup_steps`, then constant, cosine to 0, or x0.1 at 50% and 75% of the run
    (tfrec.training.optim.WarmupSchedule's formula in keras.ops)."""

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, kind: str = "constant"):
        self.base_lr, self.total_steps, self.warmup_steps, self.kind = base_lr, max(1, total_steps), warmup_steps, kind

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(self.warmup_steps)
        progress = ops.clip((step - warm) / max(1.0, self.total_steps - warm), 0.0, 1.0)
        if self.kind == "cosine":
            lr = 0.5 * self.base_lr * (1.0 + ops.cos(math.pi * progress))
        elif self.kind == "step":
            drops = sum(ops.cast(step >= f * self.total_steps, "float32") for f in STEP_DECAY_AT)
            lr = self.base_lr * ops.power(0.1, drops)
        else:
            lr = ops.full((), self.base_lr, "float32")
        if self.warmup_steps:
            lr = ops.where(step < warm, self.base_lr * (step + 1.0) / warm, lr)
        return lr

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "kind": self.kind}


def make_optimizer(options: TrainOptions, steps_per_epoch: int | None
                   ) -> tuple[keras.optimizers.Optimizer, WarmupSchedule]:
    """(the optimizer the options name, its schedule); weight decay decoupled (as AdamW) for all three. The schedule
    gives the rate at a step without reading the optimizer's variables (which the compiled step donates)."""
    total = options.epochs * (steps_per_epoch or 1)
    warmup = int(round(options.warmup_epochs * (steps_per_epoch or 1)))
    lr = WarmupSchedule(options.learning_rate, total, warmup, options.lr_schedule)
    decay = options.weight_decay or None
    if options.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=decay), lr
    if options.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=decay), lr
    return keras.optimizers.AdamW(lr, weight_decay=options.weight_decay or ADAMW_DEFAULT_DECAY), lr
