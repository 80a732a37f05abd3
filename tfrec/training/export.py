"""Exported models: a `.keras` file that carries tfrec's preprocessing with it, a SavedModel, and prediction."""
from __future__ import annotations

import json
import os
import sys
import zipfile

import keras
import numpy as np
import tensorflow as tf

from ..errors import TfrecError
from ..codec.schema import FeatureSpec
from ..read.decode import image_decoder
from ..read.options import ReadOptions
from ..sources.imagefolder import text_name
from .predictions import (CSV_COLUMNS, ImageFiles, ModelInputMismatch, Predictions,  # noqa: F401 - re-exported
                          _read_image, _top, check_model_input, list_image_files, model_meta, read_image_file,
                          write_predictions_csv)

META_NAME = "tfrec.json"  # inside the .keras zip (Keras ignores members it does not know), and in a SavedModel


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


def _decoder(meta: dict):
    feature = FeatureSpec(name="image", kind="image", shape=(None, None, meta["channels"]), encoding="encoded")
    options = ReadOptions(image_size=tuple(meta["image_size"]), fit=meta.get("fit", "stretch"))
    return image_decoder(feature, options, None, ())


def _prepared(path: str, meta: dict, model_path: str, decode) -> tuple[np.ndarray | None, str]:
    """One file read, checked against the model and decoded as in training: (image, '') or (None, why not)."""
    image, reason = _read_image(path)
    if image is None:
        return None, reason
    data, size, channels = image
    check_model_input(meta, model_path, f"{path} is", size, channels, one=True)
    try:
        return decode(tf.constant(data)).numpy(), ""
    except tf.errors.InvalidArgumentError:
        return None, "not a valid image: TensorFlow cannot decode it"


def preprocess_files(files: list[str], meta: dict, model_path: str = "the model") -> np.ndarray:
    """Reads image files as the converter does (read_image_file), checks each against the model
    (check_model_input), then decodes and resizes them with the reader's own decoder and the model's
    stored settings, so prediction cannot drift from training."""
    decode = _decoder(meta)
    images = []
    for f in files:
        image, reason = _prepared(f, meta, model_path, decode)
        if image is None:
            raise TfrecError(f"{f}: {reason}")
        images.append(image)
    return np.stack(images)


def _predict_batch(model, meta: dict, model_path: str, decode, chunk, names: list[str], top_k: int,
                   skipped: list) -> list[dict]:
    """Predictions for a batch of (path, named) files; appends to `skipped` those found in a folder that
    cannot be read."""
    paths, images = [], []
    for path, named in chunk:
        image, reason = _prepared(path, meta, model_path, decode)
        if image is None and named:
            raise TfrecError(f"{path}: {reason}")
        if image is None:
            skipped.append({"path": text_name(path), "reason": reason})
        else:
            paths.append(path)
            images.append(image)
    if not images:
        return []
    probs = tf.nn.softmax(tf.cast(model(np.stack(images), training=False), tf.float32)).numpy()
    k = min(top_k, probs.shape[1])
    return [{"file": text_name(f), "top": _top(p, names, k)} for f, p in zip(paths, probs)]


def predict_paths(model_path: str, paths: list[str], top_k: int = 5, batch_size: int = 32,
                  follow_symlinks: bool = False, progress: bool = False) -> Predictions:
    """The top-k classes (with names and probabilities) of image files, and of every image under folders.

    A file named that cannot be read is an error; one found in a folder is skipped and listed, with the
    converter's reason, as `tfrec convert` skips it; files without an image extension are ignored and
    counted. Images are read as convert reads them and prepared as in training, `batch_size` at a time.

    Raises:
        ModelInputMismatch: an image of channels the model cannot take (check_model_input).
        TfrecError: a named file convert would skip ("PATH: empty file (0 bytes)"); a folder without images.
    """
    model, meta = load_model(model_path)
    listed = list_image_files(paths, follow_symlinks)
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    decode = _decoder(meta)
    bar = None
    if progress and len(listed.files) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(listed.files), unit="image", desc="predict", file=sys.stderr, leave=False)
    out, skipped = [], list(listed.skipped)
    try:
        for start in range(0, len(listed.files), batch_size):
            chunk = listed.files[start:start + batch_size]
            out += _predict_batch(model, meta, model_path, decode, chunk, names, top_k, skipped)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return Predictions(model_path, tuple(out), tuple(skipped), listed.ignored, listed.ignored_files)


def predict(model_path: str, files: list[str], top_k: int = 5) -> list[dict]:
    """The top-k classes (with names and probabilities) for each image file (a folder: each image in it).

    Returns:
        One {"file", "top": [{"class", "name", "probability"}]} per image (predict_paths also lists the
        files of a folder it skipped).

    Raises:
        ModelInputMismatch: a colour image for a greyscale model (check_model_input).
        TfrecError: a file convert would skip, in convert's words ("PATH: empty file (0 bytes)").
    """
    return list(predict_paths(model_path, files, top_k).predictions)


