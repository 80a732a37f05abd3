"""Evaluation and prediction with a torch export (`.pt` + its JSON): the TensorFlow path's results, read without TensorFlow."""
from __future__ import annotations

import sys

import numpy as np
import torch

from ...access.augment import make_augment
from ...codec.schema import schema_from_json
from ...errors import ImageDecodeError, TfrecError, UsageError
from ...io.dataset import Dataset, open_dataset
from ...sources.imagefolder import text_name
from ..confusion import draw_confusion
from ..metrics import LabelOutsideClasses, choose_split, classification_metrics
from ..plan import require_labels, stored_shape
from ..predictions import Predictions, _read_image, _top, check_model_input, list_image_files
from .export import load_model
from .loop import DEFAULT_WORKERS, pick_device


def _logits(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> np.ndarray:
    with torch.no_grad():
        return model(images.to(device)).float().cpu().numpy()


def evaluate(path: Dataset | str, model_path: str, split: str | None = None, batch_size: int = 256,
             confusion: str | None = None, skip_corrupt: bool = False) -> dict:
    """Evaluates a torch export on a split of a tfrec dataset, read by tfrec.torch's loader (no TensorFlow).

    Images are resized to the model's size as in training; greyscale goes into a colour model as 3 equal
    channels. `split` defaults to test, else val, else the only split (with a note saying so).

    Returns:
        The keys of tfrec.training.evaluate.evaluate: {"model", "path", "split", "records", "loss", "accuracy",
        "top5_accuracy", "per_class", "confusion", "confusion_png", "read_stats", "notes"}.

    Raises:
        UsageError: no such split; images the model cannot take (check_model_input).
        TfrecError: no dataset.json, not a torch export, damaged records, a label outside the model's classes.
    """
    from ...torch import loader

    dataset = open_dataset(path)
    path = dataset.root
    require_labels(dataset, "evaluate")  # before the model is loaded: nothing to score against
    split, note = choose_split(path, dict.fromkeys(dataset.splits), split)
    device = pick_device()
    model, meta = load_model(model_path, device)
    image = schema_from_json(dataset.schema, dataset.manifest_path).image
    if image is None:
        raise UsageError(f"{path}: its schema has no image feature to evaluate on")
    stored, channels = stored_shape(image)
    to_rgb = check_model_input(meta, model_path, f"split {split!r} of {path} holds", stored, channels)
    size = tuple(meta["image_size"])
    batches = loader(dataset, split, batch_size=batch_size, num_workers=DEFAULT_WORKERS,
                     image_size=None if stored == size else size, skip_corrupt=skip_corrupt)
    labels, logits = [], []
    for images, y in batches:
        if to_rgb:
            images = images.expand(-1, 3, -1, -1)
        logits.append(_logits(model, images, device))
        labels.append(y.numpy())
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    if not labels:
        raise TfrecError(f"nothing to evaluate: split {split!r} of {path} gave no record")
    try:
        out = classification_metrics(np.concatenate(labels), np.concatenate(logits), meta["num_classes"], names)
    except LabelOutsideClasses as e:
        raise TfrecError(f"label {e.label} in split {split!r} of {path} is outside the model's {e.num_classes} "
                         f"classes (0-{e.num_classes - 1}); evaluate it with a model trained on this dataset's "
                         f"classes (`tfrec verify --deep {path}` lists the records)") from None
    out.update({"model": model_path, "path": path, "split": split, "read_stats": batches.stats.to_json(),
                "confusion_png": draw_confusion(out["confusion"], names, confusion).path if confusion else None,
                "notes": [note] if note else []})
    return out


def _prepared(path: str, meta: dict, model_path: str, resize) -> tuple[np.ndarray | None, str]:
    """One file read as convert reads it, checked against the model, decoded and resized as the loader does
    in training: (CHW uint8 image, '') or (None, why not)."""
    image, reason = _read_image(path)
    if image is None:
        return None, reason
    data, size, channels = image
    check_model_input(meta, model_path, f"{path} is", size, channels, one=True)
    try:
        return resize.decode(data, np.random.default_rng(0), channels=int(meta["channels"])).transpose(2, 0, 1), ""
    except ImageDecodeError as e:
        return None, f"not a valid image: {e}"


def predict_paths(model_path: str, paths: list[str], top_k: int = 5, batch_size: int = 32,
                  follow_symlinks: bool = False, progress: bool = False) -> Predictions:
    """The top-k classes of image files and of every image under folders, with a torch export (see
    tfrec.training.export.predict_paths: the same files, skips and result)."""
    device = pick_device()
    model, meta = load_model(model_path, device)
    listed = list_image_files(paths, follow_symlinks)
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    resize = make_augment("none", tuple(meta["image_size"]))
    bar = None
    if progress and len(listed.files) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(listed.files), unit="image", desc="predict", file=sys.stderr, leave=False)
    out, skipped = [], list(listed.skipped)
    try:
        for start in range(0, len(listed.files), batch_size):
            chunk = listed.files[start:start + batch_size]
            files, images = [], []
            for f, named in chunk:
                image, reason = _prepared(f, meta, model_path, resize)
                if image is None and named:
                    raise TfrecError(f"{f}: {reason}")
                if image is None:
                    skipped.append({"path": text_name(f), "reason": reason})
                else:
                    files.append(f)
                    images.append(image)
            if images:
                probs = torch.softmax(torch.from_numpy(_logits(model, torch.from_numpy(np.stack(images)), device)), -1)
                k = min(top_k, probs.shape[1])
                out += [{"file": text_name(f), "top": _top(p, names, k)} for f, p in zip(files, probs.numpy())]
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return Predictions(model_path, tuple(out), tuple(skipped), listed.ignored, listed.ignored_files)
