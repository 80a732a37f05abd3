"""Classification metrics over (labels, logits) and the split an evaluation reads, whatever framework ran the model (NumPy only)."""
from __future__ import annotations

import numpy as np

from ..errors import TfrecError, UsageError

TOP5_ABOVE_CLASSES = 10  # top-5 accuracy is reported for more classes than this


class LabelOutsideClasses(TfrecError):
    """A class label outside [0, num_classes): the callers say which record (data.label_range_error)."""

    def __init__(self, label: int, num_classes: int):
        super().__init__(f"label {label} is outside the {num_classes} classes (0-{num_classes - 1})")
        self.label, self.num_classes = label, num_classes


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
