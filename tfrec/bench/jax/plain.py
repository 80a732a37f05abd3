"""The honest-pace row: a plain JAX training loop over the same Keras model, batch, precision and device, no tfrec code.

What the Keras 3 guide "writing a training loop from scratch in JAX" writes: the zoo's Keras model, the
benchmark's optimizer (SGD with Nesterov momentum 0.9, or Adam, at a constant rate), one batch of [0, 1]
floats already on the device, a jax.jit'ed step over `stateless_call` + `stateless_apply` with the state
donated, in a bare `for` loop; the steps are dispatched asynchronously and the clock is read after
`block_until_ready` at the end (so the step's p50 is the mean and its p95 unknown). The synthetic mode runs
the same model through tfrec's trainer (its monitors, per-step timing and readback); synthetic / plain says
what the trainer's own overhead costs.
"""
from __future__ import annotations

import time

from ...training.jax.backend import use_jax_backend

use_jax_backend()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402


def plain_loop_rate(model: keras.Model, images, labels, steps: int, warmup: int, optimizer: str = "sgd",
                    lr: float = 0.01, mixed_precision: bool = False) -> dict:
    """Trains `model` on one batch (uint8 NHWC, moved to the device and scaled once) for `warmup` untimed and
    `steps` timed steps.

    Returns:
        {"images_per_s", "step_ms_p50", "step_ms_p95", "optimizer", "precision", "channels_last", "device"}.
    """
    opt = (keras.optimizers.SGD(lr, momentum=0.9, nesterov=True) if optimizer == "sgd"
           else keras.optimizers.Adam(lr))
    opt.build(model.trainable_variables)
    x = jax.device_put(jnp.asarray(images, jnp.float32) / 255.0)
    y = jax.device_put(jnp.asarray(labels, jnp.int32))

    def loss_fn(trainable, non_trainable, x, y):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits.astype("float32"), from_logits=True).mean()
        return loss, non_trainable

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(state, x, y):
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt_vars = opt.stateless_apply(opt_vars, grads, trainable)
        return loss, (trainable, non_trainable, opt_vars)

    train_step = jax.jit(train_step, donate_argnums=(0,))
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in opt.variables])
    for _ in range(warmup):
        loss, state = train_step(state, x, y)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(steps):
        loss, state = train_step(state, x, y)
    jax.block_until_ready((loss, state))
    wall = time.perf_counter() - start
    device = next(iter(x.devices()))
    return {"images_per_s": round(steps * len(images) / wall, 1), "step_ms_p50": round(1e3 * wall / steps, 3),
            "step_ms_p95": None, "optimizer": optimizer, "precision": "bfloat16" if mixed_precision else "float32",
            "channels_last": True, "device": f"{device.platform}:{device.id}"}
