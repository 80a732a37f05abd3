"""What prediction needs whatever framework runs the model: the model's stored preprocessing, image files read
as convert reads them, the channel check, the result and its CSV (no framework here)."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from ..errors import TfrecError, UsageError
from ..codec.example import decode_example
from ..codec.schema import load_schema
from ..sources import MAX_LISTED_IGNORED, SourceOptions
from ..sources.imagefolder import IMAGE_EXTENSIONS, _list_class, _WorkerOptions, make_image_record

_IMAGE_SCHEMA = load_schema("imagefolder")  # predict reads a file as convert reads one in an image folder


def model_meta(model, plan) -> dict:
    """What prediction needs to prepare an image exactly as training did, and to name the classes."""
    return {"tfrec_version": __version__, "model": plan.model, "image_size": list(plan.image_size),
            "channels": plan.channels, "num_classes": plan.num_classes,
            "class_names": list(plan.class_names) if plan.class_names else None,
            "fit": "stretch", "dtype": "float32", "normalize": "unit", "dataset": os.path.abspath(plan.path)}


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


def _read_image(path: str) -> tuple[tuple[bytes, tuple[int, int], int] | None, str]:
    """(read_image_file's result, '') or (None, the converter's reason for skipping the file)."""
    from PIL import Image, ImageMode

    record, reason, _ = make_image_record((path, path, 0, 0), _WorkerOptions.of(SourceOptions(), _IMAGE_SCHEMA))
    if record is None:
        return None, reason
    example = decode_example(record)
    data = example["image"][1][0]
    with Image.open(io.BytesIO(data)) as img:  # reads the header only
        grey = ImageMode.getmode(img.mode).basemode == "L"
    return (data, (example["height"][1][0], example["width"][1][0]), 1 if grey else 3), ""


def read_image_file(path: str) -> tuple[bytes, tuple[int, int], int]:
    """An image file as `tfrec convert` would store it from an image folder: the same checks and words
    (empty, not an image, truncated, too many pixels), EXIF rotation and re-encoding of what TensorFlow
    cannot decode. Returns (encoded bytes, (height, width), channels: 1 greyscale, 3 colour; alpha is
    dropped, as the reader drops it).

    Raises:
        TfrecError: "PATH: REASON", in the converter's words for a skipped file.
    """
    image, reason = _read_image(path)
    if image is None:
        raise TfrecError(f"{path}: {reason}")
    return image


@dataclass(frozen=True)
class ImageFiles:
    """The files to predict: those named, and those found in the folders named, as convert lists a class folder."""

    files: tuple[tuple[str, bool], ...]  # (path, named: a file given by name, so a bad one is an error)
    skipped: tuple[dict, ...] = ()  # {"path", "reason"}: found in a folder, not read (symlinks out, not regular)
    ignored: tuple[str, ...] = ()  # files in the folders without an image extension: the first MAX_LISTED_IGNORED
    ignored_files: int = 0


def list_image_files(paths: list[str], follow_symlinks: bool = False) -> ImageFiles:
    """Files are taken as named; a folder is walked recursively by the rules and with the words of
    `tfrec convert` (image extensions, symlinks that lead out, files that are not regular, loops).

    Raises:
        TfrecError: a folder holds no image file at all.
    """
    files, skipped, ignored = [], [], []
    options = SourceOptions(follow_symlinks=follow_symlinks)
    for path in paths:
        if not os.path.isdir(path):
            files.append((path, True))
            continue
        items, left, other = [], [], []
        _list_class(path, path, 0, options, items, left, other)
        if not items and not left:
            raise TfrecError(f"{path}: no image files in this folder or below ({', '.join(IMAGE_EXTENSIONS)})"
                             + (f"; {len(other)} other file{'' if len(other) == 1 else 's'}" if other else ""))
        files += [(item[0], False) for item in items]
        skipped += [{"path": os.path.join(path, s["path"]), "reason": s["reason"]} for s in left]
        ignored += [os.path.join(path, name) for name in other]
    return ImageFiles(tuple(files), tuple(skipped), tuple(ignored[:MAX_LISTED_IGNORED]), len(ignored))


@dataclass(frozen=True)
class Predictions:
    """What `predict_paths` found: the top classes of each image, and the files it left out, as convert does."""

    model: str
    predictions: tuple[dict, ...]  # {"file", "top": [{"class", "name", "probability"}]}, in the files' order
    skipped: tuple[dict, ...]  # {"path", "reason"}: image files in the folders that could not be read
    ignored: tuple[str, ...]  # files in the folders without an image extension (the first MAX_LISTED_IGNORED)
    ignored_files: int

    def to_json(self) -> dict:
        return {"model": self.model, "predictions": list(self.predictions), "skipped": list(self.skipped),
                "ignored": list(self.ignored), "ignored_files": self.ignored_files}


def _top(probs: np.ndarray, names: list[str], k: int) -> list[dict]:
    return [{"class": int(c), "name": names[c], "probability": round(float(probs[c]), 5)} for c in np.argsort(-probs)[:k]]


CSV_COLUMNS = ("file", "class", "name", "probability")


def write_predictions_csv(result: Predictions, path: str) -> str:
    """Writes one row per image: file, then class, name, probability of the top class, then class_2,
    name_2, probability_2 ... for the other top-k (atomically: a temporary name, then renamed). Returns `path`."""
    k = max((len(p["top"]) for p in result.predictions), default=1)
    header = list(CSV_COLUMNS) + [f"{c}_{r}" for r in range(2, k + 1) for c in CSV_COLUMNS[1:]]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for p in result.predictions:
            row = [p["file"]]
            for t in p["top"]:
                row += [t["class"], t["name"], t["probability"]]
            writer.writerow(row + [""] * (len(header) - len(row)))
    os.replace(tmp, path)
    return path
