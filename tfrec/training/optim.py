"""Optimizers and learning-rate schedules (linear warm-up, then constant, cosine or step decay)."""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from .options import TrainOptions

STEP_DECAY_AT = (0.5, 0.75)  # fractions of the run where the 'step' schedule divides the rate by 10


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over `warmup_steps`, then constant, cosine to 0, or x0.1 at 50% and 75% of the run."""

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, kind: str = "constant"):
        self.base_lr, self.total_steps, self.warmup_steps, self.kind = base_lr, max(1, total_steps), warmup_steps, kind

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = float(self.warmup_steps)
        progress = tf.clip_by_value((step - warm) / max(1.0, self.total_steps - warm), 0.0, 1.0)
        if self.kind == "cosine":
            lr = 0.5 * self.base_lr * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            drops = sum(tf.cast(step >= f * self.total_steps, tf.float32) for f in STEP_DECAY_AT)
            lr = self.base_lr * tf.pow(0.1, drops)
        else:
            lr = tf.constant(self.base_lr, tf.float32)
        if self.warmup_steps:
            lr = tf.where(step < warm, self.base_lr * (step + 1.0) / warm, lr)
        return lr

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "kind": self.kind}


def make_optimizer(options: TrainOptions, steps_per_epoch: int | None, mixed_precision: bool) -> keras.optimizers.Optimizer:
    """The optimizer the options name, with its schedule; weight decay is decoupled (as AdamW) for all three.

    `steps_per_epoch` gives the run's length for the schedule and the warm-up (the trainer asks for
    --steps-per-epoch when the dataset does not say how many records it holds).
    """
    total = options.epochs * (steps_per_epoch or 1)
    warmup = int(round(options.warmup_epochs * (steps_per_epoch or 1)))
    lr = WarmupSchedule(options.learning_rate, total, warmup, options.lr_schedule)
    decay = options.weight_decay or None
    if options.optimizer == "sgd":
        opt = keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=decay)
    elif options.optimizer == "adam":
        opt = keras.optimizers.Adam(lr, weight_decay=decay)
    else:
        opt = keras.optimizers.AdamW(lr, weight_decay=options.weight_decay or 0.004)
    return keras.optimizers.LossScaleOptimizer(opt) if mixed_precision else opt


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the next step will use."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    return float(lr(inner.iterations)) if callable(lr) else float(lr)
