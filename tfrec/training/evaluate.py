"""Evaluation: loss, accuracy, top-5, per-class accuracy with class names, and a confusion-matrix picture."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import UsageError
from ..io.dataset import Dataset, open_dataset
from .confusion import draw_confusion  # noqa: F401 - re-exported (tests, tfrec.training.evaluate.draw_confusion)
from .metrics import (EVAL_SPLITS, TOP5_ABOVE_CLASSES, LabelOutsideClasses, choose_split,  # noqa: F401 - re-exported
                      classification_metrics)
from .predictions import check_model_input


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


def evaluate_model(model, ds: tf.data.Dataset, num_classes: int, names=None, step=None) -> dict:
    """classification_metrics of `model` over `ds`."""
    labels, logits = predict_logits(model, ds, step)
    return classification_metrics(labels, logits, num_classes, names)


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
