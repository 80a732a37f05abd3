"""Evaluation: loss, accuracy, top-5, per-class accuracy with class names, and a confusion-matrix picture."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import TfrecError, UsageError
from ..io.dataset import Dataset, open_dataset
from .confusion import draw_confusion
from .export import check_model_input

TOP5_ABOVE_CLASSES = 10  # top-5 accuracy is reported for more classes than this


class LabelOutsideClasses(TfrecError):
    """A class label outside [0, num_classes): the callers say which record (data.label_range_error)."""

    def __init__(self, label: int, num_classes: int):
        super().__init__(f"label {label} is outside the {num_classes} classes (0-{num_classes - 1})")
        self.label, self.num_classes = label, num_classes


def predict_logits(model, ds: tf.data.Dataset, step=None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) over a dataset of (images, labels) batches, with a compiled forward pass."""
    forward = step.logits if step is not None else tf.function(lambda x: model(x, training=False),
                                                               reduce_retracing=True)
    labels, logits = [], []
    for images, y in ds:
        logits.append(np.asarray(forward(images), dtype=np.float32))
        y = y.numpy()
        labels.append(y.argmax(-1) if y.ndim == 2 else y)
    if not labels:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(labels).astype(np.int64), np.concatenate(logits)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def classification_metrics(labels: np.ndarray, logits: np.ndarray, num_classes: int,
                           names: tuple[str, ...] | None = None) -> dict:
    """Mean cross-entropy, accuracy, top-5 (above TOP5_ABOVE_CLASSES classes), per-class accuracy, confusion matrix."""
    n = len(labels)
    if n == 0:
        raise TfrecError("nothing to evaluate: the split holds no records")
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        raise LabelOutsideClasses(int(labels[outside][0]), num_classes)
    loss = float(-_log_softmax(logits)[np.arange(n), labels].mean())
    pred = logits.argmax(-1)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    out = {"records": n, "loss": loss, "accuracy": float((pred == labels).mean()), "top5_accuracy": None}
    if num_classes > TOP5_ABOVE_CLASSES:
        top5 = np.argsort(-logits, -1)[:, :5]
        out["top5_accuracy"] = float((top5 == labels[:, None]).any(-1).mean())
    per_class = []
    for c in range(num_classes):
        total = int(confusion[c].sum())
        per_class.append({"class": c, "name": names[c] if names and c < len(names) else str(c), "records": total,
                          "accuracy": float(confusion[c, c] / total) if total else None})
    out["per_class"] = per_class
    out["confusion"] = confusion.tolist()
    return out


def evaluate_model(model, ds: tf.data.Dataset, num_classes: int, names=None, step=None) -> dict:
    """classification_metrics of `model` over `ds`."""
    labels, logits = predict_logits(model, ds, step)
    return classification_metrics(labels, logits, num_classes, names)


EVAL_SPLITS = ("test", "val", "validation")  # the split evaluated when none is named, the first present


def choose_split(path: str, splits: dict, split: str | None) -> tuple[str, str | None]:
    """The split to evaluate and a note when it was not asked for: `split`, else the first of EVAL_SPLITS,
    else the only split there is (said in the note: it may be the training data).

    Raises:
        UsageError: no such split, or several splits and none of EVAL_SPLITS.
    """
    names = ", ".join(splits)
    if split is not None:
        if split not in splits:
            raise UsageError(f"{path}: no split {split!r}; splits: {names}")
        return split, None
    found = next((s for s in EVAL_SPLITS if s in splits), None)
    if found:
        return found, None
    if len(splits) == 1:
        only = next(iter(splits))
        return only, (f"no test or val split: evaluated {only!r}, the only split (the data the model may have "
                      "been trained on: its accuracy is optimistic)")
    raise UsageError(f"{path}: no split {', '.join(EVAL_SPLITS[:-1])} or {EVAL_SPLITS[-1]} to evaluate; "
                     f"splits: {names}; choose one with --split")


def evaluate(path: Dataset | str, model_path: str, split: str | None = None, batch_size: int = 256,
             confusion: str | None = None, skip_corrupt: bool = False) -> dict:
    """Evaluates an exported model (`.keras` from `tfrec train --export`) on a split of a tfrec dataset.

    `path` is the dataset (tfrec.open_dataset's), or its directory or URL, opened here once.

    The images get the preprocessing stored with the model. `split` defaults to test, else val, else
    the dataset's only split (with a note saying so).

    Returns:
        {"model", "path", "split", "records", "loss", "accuracy", "top5_accuracy", "per_class", "confusion",
        "confusion_png", "read_stats", "notes"}.

    Raises:
        UsageError: no such split; images the model cannot take (check_model_input).
        TfrecError: no dataset.json, a model without tfrec metadata, damaged records,
            a label outside the model's classes (naming the record).
    """
    from ..codec.schema import schema_from_json
    from ..io.salvage import ReadStats
    from ..read.inputs import readable
    from .data import damaged_record_error, eval_dataset, label_range_error, require_labels, stored_shape
    from .export import load_model

    dataset = open_dataset(path)
    path = dataset.root
    require_labels(dataset, "evaluate")  # before the model is loaded: nothing to score against
    split, note = choose_split(path, dict.fromkeys(dataset.splits), split)
    model, meta = load_model(model_path)
    image = schema_from_json(dataset.schema, dataset.manifest_path).image
    dataset = readable(dataset)
    if image is None:
        raise UsageError(f"{path}: its schema has no image feature to evaluate on")
    to_rgb = check_model_input(meta, model_path, f"split {split!r} of {path} holds", *stored_shape(image))
    stats = ReadStats()
    ds = eval_dataset(dataset, split, batch_size, tuple(meta["image_size"]), skip_corrupt, stats, to_rgb)
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    try:
        out = evaluate_model(model, ds, meta["num_classes"], names)
    except tf.errors.DataLossError as e:
        raise damaged_record_error(dataset, split, e, skip_corrupt) from None
    except LabelOutsideClasses as e:
        raise label_range_error(dataset, split, e.num_classes, e.label, "the model's",
                                "evaluate it with a model trained on this dataset's classes") from None
    out.update({"model": model_path, "path": path, "split": split, "read_stats": stats.to_json(),
                "confusion_png": draw_confusion(out["confusion"], names, confusion).path if confusion else None,
                "notes": [note] if note else []})
    return out
