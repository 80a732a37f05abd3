"""Evaluation and prediction with a `.keras` export on Keras 3's JAX backend: the TensorFlow path's results, read
through tfrec.access without TensorFlow."""
from __future__ import annotations

import sys

from .backend import use_jax_backend

use_jax_backend()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from ...access.augment import make_augment  # noqa: E402
from ...codec.schema import schema_from_json  # noqa: E402
from ...errors import ImageDecodeError, TfrecError, UsageError  # noqa: E402
from ...io.dataset import Dataset, open_dataset  # noqa: E402
from ...sources.imagefolder import text_name  # noqa: E402
from ..confusion import draw_confusion  # noqa: E402
from ..metrics import LabelOutsideClasses, choose_split, classification_metrics  # noqa: E402
from ..plan import require_labels, stored_shape  # noqa: E402
from ..predictions import Predictions, _read_image, _top, check_model_input, list_image_files  # noqa: E402
from .export import load_model  # noqa: E402
from .inputs import batches as read_batches  # noqa: E402
from .loop import DEFAULT_WORKERS  # noqa: E402


def _forward(model):
    """A compiled forward over uint8 NHWC images: scaled to [0, 1] floats as in training, float32 logits."""
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def logits(images):
        x = images.astype("float32") / 255.0
        out, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return out.astype("float32")

    def run(images: np.ndarray, size: int | None = None) -> np.ndarray:
        n = len(images)
        if size is not None and n < size:  # padded to the batch's shape: compiled once
            images = np.concatenate([images, np.zeros((size - n, *images.shape[1:]), images.dtype)])
        return np.asarray(logits(images))[:n]

    return run


def evaluate(path: Dataset | str, model_path: str, split: str | None = None, batch_size: int = 256,
             confusion: str | None = None, skip_corrupt: bool = False) -> dict:
    """Evaluates a `.keras` export on a split of a tfrec dataset on JAX (see tfrec.training.evaluate.evaluate: the
    same keys, the same checks and messages)."""
    dataset = open_dataset(path)
    path = dataset.root
    require_labels(dataset, "evaluate")  # before the model is loaded: nothing to score against
    split, note = choose_split(path, dict.fromkeys(dataset.splits), split)
    model, meta = load_model(model_path)
    image = schema_from_json(dataset.schema, dataset.manifest_path).image
    if image is None:
        raise UsageError(f"{path}: its schema has no image feature to evaluate on")
    stored, channels = stored_shape(image)
    to_rgb = check_model_input(meta, model_path, f"split {split!r} of {path} holds", stored, channels)
    size = tuple(meta["image_size"])
    reader = read_batches(dataset, split, batch_size=batch_size, num_workers=DEFAULT_WORKERS,
                          image_size=None if stored == size else size, skip_corrupt=skip_corrupt)
    forward = _forward(model)
    labels, logits = [], []
    for images, y in reader:
        if to_rgb:
            images = np.repeat(images, 3, axis=-1)
        logits.append(forward(images, batch_size))
        labels.append(y)
    names = meta.get("class_names") or [str(c) for c in range(meta["num_classes"])]
    if not labels:
        raise TfrecError(f"nothing to evaluate: split {split!r} of {path} gave no record")
    try:
        out = classification_metrics(np.concatenate(labels), np.concatenate(logits), meta["num_classes"], names)
    except LabelOutsideClasses as e:
        raise TfrecError(f"label {e.label} in split {split!r} of {path} is outside the model's {e.num_classes} "
                         f"classes (0-{e.num_classes - 1}); evaluate it with a model trained on this dataset's "
                         f"classes (`tfrec verify --deep {path}` lists the records)") from None
    out.update({"model": model_path, "path": path, "split": split, "read_stats": reader.stats.to_json(),
                "confusion_png": draw_confusion(out["confusion"], names, confusion).path if confusion else None,
                "notes": [note] if note else []})
    return out


def _prepared(path: str, meta: dict, model_path: str, resize) -> tuple[np.ndarray | None, str]:
    """One file read as convert reads it, checked against the model, decoded and resized as the reader does in
    training: (HWC uint8 image, '') or (None, why not)."""
    image, reason = _read_image(path)
    if image is None:
        return None, reason
    data, size, channels = image
    check_model_input(meta, model_path, f"{path} is", size, channels, one=True)
    try:
        return resize.decode(data, np.random.default_rng(0), channels=int(meta["channels"])), ""
    except ImageDecodeError as e:
        return None, f"not a valid image: {e}"


def predict_paths(model_path: str, paths: list[str], top_k: int = 5, batch_size: int = 32,
                  follow_symlinks: bool = False, progress: bool = False) -> Predictions:
    """The top-k classes of image files and of every image under folders, with a `.keras` export on JAX (see
    tfrec.training.export.predict_paths: the same files, skips and result)."""
    model, meta = load_model(model_path)
    forward = _forward(model)
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
                    images.append(image if image.shape[-1] == meta["channels"] else np.repeat(image, 3, -1))
            if images:
                logits = forward(np.stack(images), batch_size)
                z = np.exp(logits - logits.max(-1, keepdims=True))
                probs = z / z.sum(-1, keepdims=True)
                k = min(top_k, probs.shape[1])
                out += [{"file": text_name(f), "top": _top(p, names, k)} for f, p in zip(files, probs)]
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return Predictions(model_path, tuple(out), tuple(skipped), listed.ignored, listed.ignored_files)
