"""Keras 3 on its JAX backend: chosen before keras is first imported in the process, refused clearly after."""
from __future__ import annotations

import os
import sys

from ..zoo import TrainUsageError


def use_jax_backend() -> None:
    """Sets KERAS_BACKEND=jax for the keras import to come; the JAX backend modules call it before importing keras.

    Raises:
        TrainUsageError (exit code 2): keras was already imported in this process with another backend (it
            picks its backend once, at import), so the zoo would not run on JAX.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        os.environ["KERAS_BACKEND"] = "jax"
        return
    try:
        backend = keras.backend.backend()
    except AttributeError:  # a half-imported keras: it reads the variable when it finishes
        os.environ["KERAS_BACKEND"] = "jax"
        return
    if backend != "jax":
        raise TrainUsageError(f"--framework jax needs Keras on its JAX backend, but keras was already imported in "
                              f"this process with the {backend!r} backend; set KERAS_BACKEND=jax before importing "
                              "keras (or run the JAX backend in a process of its own)")
