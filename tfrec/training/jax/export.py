"""The JAX backend's export: the Keras model as a `.keras` file (Keras 3's native format, which loads on any backend,
TensorFlow's included) with tfrec's preprocessing inside it, as tfrec.training.export writes it; and loading it."""
from __future__ import annotations

import json
import os
import zipfile

from .backend import use_jax_backend

use_jax_backend()

import keras  # noqa: E402 - after the backend is chosen

from ...errors import TfrecError  # noqa: E402
from ..predictions import model_meta  # noqa: E402

META_NAME = "tfrec.json"  # as tfrec.training.export: inside the .keras zip (Keras ignores members it does not know)


def export_model(model: keras.Model, path: str, plan) -> dict:
    """Writes `path` (.keras) atomically, tfrec's metadata inside it (the TensorFlow path's keys).

    Returns:
        {"keras": path, "saved_model": None}.
    """
    if not path.endswith(".keras"):
        raise TfrecError(f"--export {path}: expected a file name ending in .keras")
    meta = {**model_meta(model, plan), "framework": "jax"}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    with zipfile.ZipFile(tmp, "a") as z:
        z.writestr(META_NAME, json.dumps(meta, indent=1))
    os.replace(tmp, path)
    return {"keras": path, "saved_model": None}


def load_model(path: str) -> tuple[keras.Model, dict]:
    """Loads a .keras file written by `tfrec train --export` (any backend) and its preprocessing metadata.

    Raises:
        TfrecError: no such file, not a .keras file, or one without tfrec's metadata.
    """
    if not os.path.isfile(path):
        raise TfrecError(f"{path}: no such model file (tfrec train --export PATH.keras writes one)")
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read(META_NAME))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise TfrecError(f"{path}: not a model exported by `tfrec train --export` ({e})") from None
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # a damaged archive or weights: one line naming the file
        raise TfrecError(f"{path}: cannot load the model ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    return model, meta
