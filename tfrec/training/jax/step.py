"""The compiled steps: a jax.jit'ed train step over `model.stateless_call` and the Keras optimizer's `stateless_apply`
(Keras 3's custom training loop in JAX), the variables' buffers donated, and a compiled forward for validation.

Batches come in as uint8 NHWC; the step scales them to the [0, 1] floats the Keras zoo takes (as the
TensorFlow reader yields them), on the device, so only uint8 crosses to it.
"""
from __future__ import annotations

import warnings

from .backend import use_jax_backend

use_jax_backend()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402

# Donation is a no-op on a backend that cannot reuse the buffers (older CPU runtimes); jax says so once per call site.
warnings.filterwarnings("ignore", message="Some donated buffers were not usable")


def _inputs(images):
    return images.astype(jnp.float32) / 255.0 if images.dtype == jnp.uint8 else images.astype(jnp.float32)


def cross_entropy(logits, labels, num_classes: int, smoothing: float = 0.0):
    """Mean softmax cross-entropy in float32, with label smoothing as Keras' CategoricalCrossentropy applies it."""
    target = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / num_classes
    return -(target * jax.nn.log_softmax(logits.astype(jnp.float32))).sum(-1).mean()


class Steps:
    """`train(state, images, labels) -> (state, loss, correct)` and `logits(state, images)`, compiled once each.

    `state` is (trainable, non-trainable, optimizer variables) as lists of arrays; the train step donates it.
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, num_classes: int,
                 label_smoothing: float = 0.0):
        self.model, self.optimizer = model, optimizer

        def loss_fn(trainable, non_trainable, images, labels):
            logits, non_trainable = model.stateless_call(trainable, non_trainable, _inputs(images), training=True)
            return cross_entropy(logits, labels, num_classes, label_smoothing), (non_trainable, logits)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def train(state, images, labels):
            trainable, non_trainable, opt_vars = state
            (loss, (non_trainable, logits)), grads = grad_fn(trainable, non_trainable, images, labels)
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            correct = (jnp.argmax(logits, -1) == labels).sum()
            return (trainable, non_trainable, opt_vars), loss, correct

        def logits(state, images):
            trainable, non_trainable = state[0], state[1]
            out, _ = model.stateless_call(trainable, non_trainable, _inputs(images), training=False)
            return out.astype(jnp.float32)

        self.train = jax.jit(train, donate_argnums=(0,))
        self.logits = jax.jit(logits)

    def initial_state(self) -> tuple[list, list, list]:
        if not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)
        return ([v.value for v in self.model.trainable_variables],
                [v.value for v in self.model.non_trainable_variables],
                [v.value for v in self.optimizer.variables])

    def write_back(self, state) -> None:
        """The state's values into the Keras model's and optimizer's variables (for export and checkpoints)."""
        for group, values in zip((self.model.trainable_variables, self.model.non_trainable_variables,
                                  self.optimizer.variables), state):
            for variable, value in zip(group, values):
                variable.assign(value)
