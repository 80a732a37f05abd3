"""Exported models: a `.keras` file that carries tfrec's preprocessing with it, a SavedModel, and prediction."""
from __future__ import annotations

import io
import json
import os
import zipfile

import keras
import numpy as np
import tensorflow as tf

from .._version import __version__
from ..errors import TfrecError, UsageError
from ..codec.example import decode_example
from ..codec.schema import FeatureSpec, load_schema
from ..read.decode import image_decoder
from ..read.options import ReadOptions
from ..sources import SourceOptions
from ..sources.imagefolder import _WorkerOptions, make_image_record

META_NAME = "tfrec.json"  # inside the .keras zip (Keras ignores members it does not know), and in a SavedModel
_IMAGE_SCHEMA = load_schema("imagefolder")  # predict reads a file as convert reads one in an image folder


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


class ModelInputMismatch(UsageError):
    """Images the model cannot take as they are (other channels): a usage error, exit code 2."""


def _describe(size: tuple[int, int] | None, channels: int, one: bool = False) -> str:
    """'32x32 images with 3 channels (colour)'; with `one`, 'a 40x30 image ...'."""
    kind = {1: "greyscale", 2: "greyscale with alpha", 3: "colour", 4: "colour with alpha"}.get(channels)
    noun = "image" if one else "images"
    shape = f"{noun} of varying size" if size is None else f"{size[1]}x{size[0]} {noun}"
    return (f"{'a ' if one else ''}{shape} with {channels} channel{'' if channels == 1 else 's'}"
            + (f" ({kind})" if kind else ""))


def check_model_input(meta: dict, model_path: str, data: str, size: tuple[int, int] | None, channels: int,
                      one: bool = False) -> bool:
    """Checks images of `size` (height, width; None when it varies) and `channels` against an exported model.

    The size is the model's stored preprocessing's business (resized as in training). The channels must
    match, except that greyscale goes into a colour model as 3 equal channels, which is what the reader
    does with a greyscale file in an image folder (and Keras' color_mode="rgb"). `evaluate` and `predict`
    both check here.

    Args:
        data: what holds the images, as the message's subject ("split 'test' of out/c10 holds").
        one: the data is one image (a file), not a collection.

    Returns:
        True when greyscale images must be repeated into the model's 3 channels.

    Raises:
        ModelInputMismatch: any other difference of channels (colour into a greyscale model would lose
            its colour silently; Keras would fail with a traceback).
    """
    want = int(meta["channels"])
    if channels == want:
        return False
    if channels == 1 and want == 3:
        return True
    model_size = tuple(meta["image_size"])
    how = ("the channels differ" if size is not None and tuple(size) == model_size else
           "the size would be resized as in training, the channels cannot")
    raise ModelInputMismatch(f"{data} {_describe(size, channels, one)}, but model {model_path} takes "
                             f"{_describe(model_size, want)}: {how}; use a model trained on {channels}-channel images")


def read_image_file(path: str) -> tuple[bytes, tuple[int, int], int]:
    """An image file as `tfrec convert` would store it from an image folder: the same checks and words
    (empty, not an image, truncated, too many pixels), EXIF rotation and re-encoding of what TensorFlow
    cannot decode. Returns (encoded bytes, (height, width), channels: 1 greyscale, 3 colour; alpha is
    dropped, as the reader drops it).

    Raises:
        TfrecError: "PATH: REASON", in the converter's words for a skipped file.
    """
    from PIL import Image, ImageMode

    record, reason, _ = make_image_record((path, path, 0, 0), _WorkerOptions.of(SourceOptions(), _IMAGE_SCHEMA))
    if record is None:
        raise TfrecError(f"{path}: {reason}")
    example = decode_example(record)
    data = example["image"][1][0]
    with Image.open(io.BytesIO(data)) as img:  # reads the header only
        grey = ImageMode.getmode(img.mode).basemode == "L"
    return data, (example["height"][1][0], example["width"][1][0]), 1 if grey else 3


def preprocess_files(files: list[str], meta: dict, model_path: str = "the model") -> np.ndarray:
    """Reads image files as the converter does (read_image_file), checks each against the model
    (check_model_input), then decodes and resizes them with the reader's own decoder and the model's
    stored settings, so prediction cannot drift from training."""
    feature = FeatureSpec(name="image", kind="image", shape=(None, None, meta["channels"]), encoding="encoded")
    options = ReadOptions(image_size=tuple(meta["image_size"]), fit=meta.get("fit", "stretch"))
    decode = image_decoder(feature, options, None, ())
    images = []
    for f in files:
        data, size, channels = read_image_file(f)
        check_model_input(meta, model_path, f"{f} is", size, channels, one=True)
        try:
            images.append(decode(tf.constant(data)).numpy())
        except tf.errors.InvalidArgumentError:
            raise TfrecError(f"{f}: not a valid image: TensorFlow cannot decode it") from None
    return np.stack(images)


def predict(model_path: str, files: list[str], top_k: int = 5) -> list[dict]:
    """The top-k classes (with names and probabilities) for each image file.

    Returns:
        One {"file", "top": [{"class", "name", "probability"}]} per file.

    Raises:
        ModelInputMismatch: a colour image for a greyscale model (check_model_input).
        TfrecError: a file convert would skip, in convert's words ("PATH: empty file (0 bytes)").
    """
    model, meta = load_model(model_path)
    images = preprocess_files(files, meta, model_path)
    probs = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32)).numpy()
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    k = min(top_k, probs.shape[1])
    out = []
    for f, p in zip(files, probs):
        top = np.argsort(-p)[:k]
        out.append({"file": f, "top": [{"class": int(c), "name": names[c], "probability": round(float(p[c]), 5)}
                                       for c in top]})
    return out
