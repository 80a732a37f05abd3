"""Evaluation: loss, accuracy, top-5, per-class accuracy with class names, and a confusion-matrix picture."""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from ..errors import TfrecError
from ..io.manifest import MANIFEST, read_manifest

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


def draw_confusion(confusion: list[list[int]], names: list[str], path: str) -> str:
    """Writes the confusion matrix as a PNG (rows: true class, columns: predicted; darker is more)."""
    from PIL import Image, ImageDraw

    m = np.asarray(confusion, np.float64)
    k = len(m)
    cell = max(8, min(40, 800 // max(k, 1)))
    margin = 8 + 7 * min(16, max((len(n) for n in names), default=1))
    img = Image.new("RGB", (margin + k * cell + 8, margin + k * cell + 8), "white")
    draw = ImageDraw.Draw(img)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)  # each true class's share, so rare classes show too
    for i in range(k):
        for j in range(k):
            shade = int(255 * (1 - rows[i, j]))
            x, y = margin + j * cell, margin + i * cell
            colour = (shade, shade, 255) if i == j else (255, shade, shade)
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=colour, outline=(220, 220, 220))
            if cell >= 28 and m[i, j]:
                draw.text((x + 3, y + cell // 3), str(int(m[i, j])), fill="black")
        draw.text((4, margin + i * cell + cell // 3), names[i][:16], fill="black")
    draw.text((margin, 2), "predicted ->  (rows: true class)", fill="black")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path)
    return path


def evaluate(path: str, model_path: str, split: str | None = None, batch_size: int = 256,
             confusion: str | None = None, skip_corrupt: bool = False) -> dict:
    """Evaluates an exported model (`.keras` from `tfrec train --export`) on a split of a tfrec dataset.

    The images get the preprocessing stored with the model. `split` defaults to test, else val.

    Returns:
        {"model", "path", "split", "records", "loss", "accuracy", "top5_accuracy", "per_class", "confusion",
        "confusion_png", "read_stats"}.

    Raises:
        TfrecError: no dataset.json, no such split, a model without tfrec metadata, damaged records,
            a label outside the model's classes (naming the record).
    """
    from ..io.salvage import ReadStats
    from .data import damaged_record_error, eval_dataset, label_range_error
    from .export import load_model

    if not os.path.isfile(os.path.join(path, MANIFEST)):
        raise TfrecError(f"{path}: no {MANIFEST}: evaluate reads datasets written by `tfrec convert`")
    splits = read_manifest(path)["splits"]
    split = split or next((s for s in ("test", "val", "validation") if s in splits), None)
    if split not in splits:
        raise TfrecError(f"{path}: no split {split!r}; splits: {', '.join(splits)}")
    model, meta = load_model(model_path)
    stats = ReadStats()
    ds = eval_dataset(path, split, batch_size, tuple(meta["image_size"]), skip_corrupt, stats)
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    try:
        out = evaluate_model(model, ds, meta["num_classes"], names)
    except tf.errors.DataLossError as e:
        raise damaged_record_error(path, split, e) from None
    except LabelOutsideClasses as e:
        raise label_range_error(path, split, e.num_classes, e.label, "the model's",
                                "evaluate it with a model trained on this dataset's classes") from None
    out.update({"model": model_path, "path": path, "split": split, "read_stats": stats.to_json(),
                "confusion_png": draw_confusion(out["confusion"], names, confusion) if confusion else None})
    return out
