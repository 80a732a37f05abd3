"""What the trainer reads, whatever trains: the dataset's shape, classes and splits and the model chosen for it (no framework here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..codec.schema import schema_from_json
from ..io.dataset import Dataset, open_dataset
from .options import TrainOptions
from .zoo import TrainUsageError, check_input, choose_model, get_model_info


@dataclass(frozen=True)
class DataPlan:
    """The dataset as the trainer sees it: input shape, classes, splits, and the model chosen for it."""

    path: str
    model: str
    image_size: tuple[int, int]  # (height, width) the model takes
    resize: tuple[int, int] | None  # passed to the reader: None when the stored size is the model's
    channels: int
    num_classes: int
    class_names: tuple[str, ...] | None
    train_split: str
    val_split: str | None
    train_records: int | None
    val_records: int | None
    # The dataset, opened once for the run (at a URL TensorFlow cannot read: its local copy); every
    # epoch's reader, the validation and the error reports read through it, never dataset.json again.
    dataset: Dataset | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict:
        return {"path": self.path, "model": self.model, "image_size": list(self.image_size),
                "channels": self.channels, "num_classes": self.num_classes, "train_split": self.train_split,
                "val_split": self.val_split, "train_records": self.train_records, "val_records": self.val_records}


def plan_data(path: Dataset | str, options: TrainOptions) -> DataPlan:
    """Reads the dataset's schema and splits and settles the model, input size and validation split.

    Args:
        path: a dataset (tfrec.open_dataset's) or its directory or URL; opened here once for the run.

    Raises:
        TrainUsageError: no labels, no such split, an image size the model cannot take.
        TfrecError: no dataset.json (the trainer reads tfrec datasets).
    """
    dataset = open_dataset(path)
    require_labels(dataset, "train")
    root, splits = dataset.root, dataset.splits
    if options.train_split not in splits:
        raise TrainUsageError(f"{root}: no split {options.train_split!r}; splits: {', '.join(splits)}")
    val = options.val_split
    if val is None:
        val = next((s for s in ("val", "validation", "test") if s in splits and s != options.train_split), None)
    elif val == "":
        val = None
    elif val not in splits:
        raise TrainUsageError(f"{root}: no split {val!r} for validation; splits: {', '.join(splits)}")
    schema = schema_from_json(dataset.schema, dataset.manifest_path)
    image = next((f for f in schema.features if f.kind == "image"), None)
    label = next((f for f in schema.features if f.kind == "class_label"), None)
    if image is None:
        raise TrainUsageError(f"{root}: schema {schema.name!r} has no image feature to train on")
    if label is None or not label.num_classes:  # require_labels read the same schema: only a changed file gets here
        raise TrainUsageError(f"{root}: schema {schema.name!r} has no class labels (with a number of classes): "
                              "train needs a class_label feature")
    stored, channels = stored_shape(image)
    model = options.model or choose_model(*(stored or (None, None)), channels)
    size = options.image_size or stored or (get_model_info(model).default_size,) * 2
    check_input(model, *size)
    return DataPlan(root, model, tuple(size), None if stored == tuple(size) else tuple(size), channels,
                    int(label.num_classes), tuple(label.names) if label.names else None, options.train_split, val,
                    dataset.records(options.train_split), dataset.records(val) if val else None, dataset)


# What a command that needs labels suggests doing with an unlabelled dataset instead.
UNLABELLED_USES = {
    "train": "read its images without labels with tfrec.make_dataset (it yields images only)",
    "evaluate": "run `tfrec predict --model MODEL` on the source images to see what the model makes of them",
}


def require_labels(path: Dataset | str, command: str, manifest: Mapping[str, Any] | None = None) -> None:
    """Refuses a dataset whose schema has no class_label feature (with a number of classes), saying why.

    Args:
        path: the dataset (tfrec.open_dataset's), or its directory (opened here).
        command: what needs the labels, as the message names it ('train', 'evaluate').
        manifest: the dataset's dataset.json, when the caller has read it (a Dataset has it).

    Raises:
        TrainUsageError (exit code 2): converted from an unlabelled image folder (its dataset.json's
            source says labels 'none'), or a schema without class labels.
    """
    if manifest is None:
        path = open_dataset(path)
        manifest = path.manifest
    path = path.root if isinstance(path, Dataset) else path
    schema = manifest.get("schema") if isinstance(manifest.get("schema"), dict) else {}
    features = schema.get("features") if isinstance(schema.get("features"), dict) else {}
    if any(isinstance(f, dict) and f.get("kind") == "class_label" and f.get("num_classes") for f in features.values()):
        return
    source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
    if source.get("labels") == "none":
        raise TrainUsageError(
            f"{path} has no labels (converted from an unlabelled image folder); {command} needs a class_label "
            f"feature: convert a folder of class subfolders (SRC/<class>/<images>) without --labels none, or "
            f"{UNLABELLED_USES.get(command, 'read its images without labels')}")
    raise TrainUsageError(f"{path}: schema {schema.get('name')!r} has no class labels (with a number of classes): "
                          f"{command} needs a class_label feature")


def stored_shape(image) -> tuple[tuple[int, int] | None, int]:
    """An image feature's stored (height, width) (None when it varies) and channels (3 when unstated)."""
    stored = tuple(image.shape[:2]) if image.shape and None not in image.shape[:2] else None
    return stored, image.shape[2] if len(image.shape) > 2 and image.shape[2] else 3


def steps_in_epoch(plan: DataPlan, options: TrainOptions) -> int | None:
    """Batches per epoch (None when the record count is unknown)."""
    if options.steps_per_epoch:
        return options.steps_per_epoch
    if plan.train_records is None:
        return None
    if plan.train_records < options.batch_size:
        return 1
    return plan.train_records // options.batch_size
