"""Exported models: a `.keras` file that carries tfrec's preprocessing with it, a SavedModel, and prediction."""
from __future__ import annotations

import json
import os
import zipfile

import keras
import numpy as np
import tensorflow as tf

from .._version import __version__
from ..errors import TfrecError
from ..codec.schema import FeatureSpec
from ..read.decode import image_decoder
from ..read.options import ReadOptions

META_NAME = "tfrec.json"  # inside the .keras zip (Keras ignores members it does not know), and in a SavedModel


def model_meta(model: keras.Model, plan) -> dict:
    """What prediction needs to prepare an image exactly as training did, and to name the classes."""
    return {"tfrec_version": __version__, "model": plan.model, "image_size": list(plan.image_size),
            "channels": plan.channels, "num_classes": plan.num_classes,
            "class_names": list(plan.class_names) if plan.class_names else None,
            "fit": "stretch", "dtype": "float32", "normalize": "unit", "dataset": os.path.abspath(plan.path)}


def export_model(model: keras.Model, path: str, plan, saved_model: bool = False) -> dict:
    """Writes `path` (a .keras file, atomically: under a temporary name, then renamed) with the
    preprocessing metadata inside it; with `saved_model`, also a SavedModel directory beside it.

    Returns:
        {"keras": path, "saved_model": directory or None}.
    """
    if not path.endswith(".keras"):
        raise TfrecError(f"--export {path}: expected a file name ending in .keras")
    meta = model_meta(model, plan)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    with zipfile.ZipFile(tmp, "a") as z:
        z.writestr(META_NAME, json.dumps(meta, indent=1))
    os.replace(tmp, path)
    out = {"keras": path, "saved_model": None}
    if saved_model:
        directory = path[: -len(".keras")] + "_saved_model"
        model.export(directory, format="tf_saved_model", verbose=False)
        with open(os.path.join(directory, META_NAME), "w") as f:
            json.dump(meta, f, indent=1)
        out["saved_model"] = directory
    return out


def load_model(path: str) -> tuple[keras.Model, dict]:
    """Loads a .keras file written by `tfrec train --export` and its preprocessing metadata.

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
    return keras.models.load_model(path, compile=False), meta


def preprocess_files(files: list[str], meta: dict) -> np.ndarray:
    """Decodes and resizes image files with the reader's own decoder and the model's stored settings, so
    prediction cannot drift from training."""
    feature = FeatureSpec(name="image", kind="image", shape=(None, None, meta["channels"]), encoding="encoded")
    options = ReadOptions(image_size=tuple(meta["image_size"]), fit=meta.get("fit", "stretch"))
    decode = image_decoder(feature, options, None, ())
    images = []
    for f in files:
        try:
            with open(f, "rb") as fh:
                data = fh.read()
            images.append(decode(tf.constant(data)).numpy())
        except (OSError, tf.errors.InvalidArgumentError) as e:
            raise TfrecError(f"{f}: cannot read as an image ({str(e).splitlines()[0]})") from None
    return np.stack(images)


def predict(model_path: str, files: list[str], top_k: int = 5) -> list[dict]:
    """The top-k classes (with names and probabilities) for each image file.

    Returns:
        One {"file", "top": [{"class", "name", "probability"}]} per file.
    """
    model, meta = load_model(model_path)
    images = preprocess_files(files, meta)
    probs = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32)).numpy()
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    k = min(top_k, probs.shape[1])
    out = []
    for f, p in zip(files, probs):
        top = np.argsort(-p)[:k]
        out.append({"file": f, "top": [{"class": int(c), "name": names[c], "probability": round(float(p[c]), 5)}
                                       for c in top]})
    return out
