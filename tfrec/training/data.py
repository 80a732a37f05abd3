"""What the trainer reads: the dataset's shape, classes and splits, one seeded reader per epoch, damage reports."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import tensorflow as tf

from ..codec.schema import schema_from_json
from ..errors import TfrecError
from ..io.dataset import Dataset, open_dataset
from ..read.inputs import readable, resolve_source
from ..read.pipeline import make_dataset
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
                    dataset.records(options.train_split), dataset.records(val) if val else None, readable(dataset))


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


def epoch_dataset(plan: DataPlan, options: TrainOptions, epoch: int, stats=None,
                  input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """The train split for `epoch`: shuffled and augmented with the epoch's seed, so a resumed run
    reads the same batches as an uninterrupted one; `steps_per_epoch` batches when given.

    With an input_context (multi_worker) this worker reads its own files, repeated and cut to the
    epoch's step count: every worker must run the same number of steps, or the last all-reduce waits.
    """
    full = plan.train_records is None or plan.train_records >= options.batch_size
    steps = options.steps_per_epoch or (steps_in_epoch(plan, options) if input_context is not None else None)
    # The model's size, even where the stored images already have it (plan.resize None): a random
    # resized crop takes its output size from image_size, and would otherwise crop to 224x224.
    ds = make_dataset(plan.dataset or plan.path, split=plan.train_split, batch_size=options.batch_size,
                      image_size=plan.image_size, augment=options.augment, seed=options.epoch_seed(epoch),
                      skip_corrupt=options.skip_corrupt, drop_remainder=full or input_context is not None,
                      repeat=steps is not None, stats=stats, input_context=input_context)
    return ds.take(steps) if steps else ds


def eval_dataset(path: Dataset | str, split: str, batch_size: int, resize: tuple[int, int] | None,
                 skip_corrupt: bool = False, stats=None, to_rgb: bool = False) -> tf.data.Dataset:
    """A split in file order, without augmentation: what evaluation and validation read. `to_rgb` repeats
    greyscale images into 3 channels (for a colour model: export.check_model_input).

    Args:
        path: the dataset (tfrec.open_dataset's: its dataset.json is not read again), or its directory.

    Raises:
        TrainUsageError: the dataset has no labels to score against (require_labels).
    """
    dataset = open_dataset(path)
    require_labels(dataset, "evaluate")
    ds = make_dataset(dataset, split=split, batch_size=batch_size, image_size=resize, shuffle=False,
                      skip_corrupt=skip_corrupt, stats=stats)
    return ds.map(lambda x, y: (tf.image.grayscale_to_rgb(x), y)) if to_rgb else ds


def steps_in_epoch(plan: DataPlan, options: TrainOptions) -> int | None:
    """Batches per epoch (None when the record count is unknown)."""
    if options.steps_per_epoch:
        return options.steps_per_epoch
    if plan.train_records is None:
        return None
    if plan.train_records < options.batch_size:
        return 1
    return plan.train_records // options.batch_size


def damaged_record_error(path: Dataset | str, split: str, error: Exception, skip_corrupt: bool = False) -> TfrecError:
    """A one-line error for a damaged record met while training: the shard, record and offset (found by
    a framing check of the split's shards, since TensorFlow's message names no file). Under skip_corrupt
    only a shard damaged while it was being read gets here: rerunning skips it."""
    from ..check.verify import VerifyOptions, verify

    dataset = open_dataset(path)
    path, files = dataset.root, [s.path for s in dataset.present(split)]
    report = verify(files, VerifyOptions(level="framing", dataset=False, checksums=False, max_errors=1,
                                         progress=False))
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = str(report.problems[0]) if report.problems else f"a shard of split {split!r} ({first})"
    advice = ("it was damaged while being read; run the same command again to skip it" if skip_corrupt
              else "or pass --skip-corrupt to skip damaged records")
    return TfrecError(f"damaged record in {where}; check with `tfrec verify {path}`, {advice}")


def missing_shard_error(path: Dataset | str, split: str, error: Exception) -> TfrecError:
    """A one-line error for a shard that was present when the dataset was opened and is gone now (TensorFlow's
    NotFoundError names the file, deep in its message): the shard, in the words the reader uses up front."""
    from ..io import fs
    from ..io.manifest import MISSING_SHARD

    dataset = open_dataset(path)
    gone = [s.path for s in dataset.present(split) if not fs.isfile(s.path)]
    if gone:
        return TfrecError(f"{gone[0]}: {MISSING_SHARD} (removed during the run); restore it, or pass --skip-corrupt "
                          "to read the other shards")
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return TfrecError(f"a file of split {split!r} of {dataset.root} could not be opened: {first}")


LOCATE_BYTES = 1 << 30  # a label error's record is looked for in this much of the split (a second or so)


def label_range_error(path: Dataset | str, split: str, num_classes: int, label: int | None = None, whose: str = "the schema's",
                      advice: str = "") -> TfrecError:
    """A one-line error for a class label outside [0, num_classes): the label, and the shard, record and
    offset of the first such record (found by parsing the split's labels, since a batch names no record).

    Args:
        label: the value the step or the metrics saw, named when the scan finds no record.
        whose: whose class count it is: the schema's (training) or the model's (evaluate).
        advice: what to do, after the semicolon.
    """
    classes = f"{whose} {num_classes} classes (0-{num_classes - 1})"
    found = _first_label_outside(path, split, num_classes)
    path = path.root if isinstance(path, Dataset) else path
    if found is not None:
        shard, index, offset, label = found
        where = f"{shard}: record {index}" + (f" at byte {offset}" if offset is not None else "")
        return TfrecError(f"label {label} in {where} is outside {classes}; {advice}")
    what = f"label {label}" if label is not None else "a label"
    return TfrecError(f"{what} in split {split!r} of {path} is outside {classes}; {advice} "
                      f"(`tfrec verify --deep {path}` lists the records)")


def _first_label_outside(path: Dataset | str, split: str, num_classes: int) -> tuple[str, int, int | None, int] | None:
    """(shard, record index, byte offset, label) of the first record in shard order whose label is outside
    [0, num_classes), within LOCATE_BYTES of the split; None if none is found there."""
    from ..io.index import read_index
    from ..io.salvage import ReadStats

    try:
        source = resolve_source(path, split, stats=ReadStats())
    except TfrecError:
        return None
    key = next((f.name for f in source.schema.features if f.kind == "class_label"), None)
    ctype = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}[source.compression]
    spec = {key: tf.io.FixedLenFeature([], tf.int64, default_value=0)}
    budget = LOCATE_BYTES
    for shard in source.files:
        if budget <= 0 or key is None:
            return None
        budget -= os.path.getsize(shard) if os.path.isfile(shard) else 0
        ds = tf.data.TFRecordDataset(shard, compression_type=ctype).batch(4096)
        start = 0
        try:
            for batch in ds.map(lambda x: tf.io.parse_example(x, spec)[key]):
                labels = batch.numpy()
                bad = ((labels < 0) | (labels >= num_classes)).nonzero()[0]
                if len(bad):
                    index = start + int(bad[0])
                    return shard, index, _offset(shard, index, read_index), int(labels[bad[0]])
                start += len(labels)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
            continue  # a damaged shard: the rest of it cannot be located here
    return None


def _offset(shard: str, index: int, read_index) -> int | None:
    try:
        return int(read_index(shard + ".idx")[index, 0])
    except (OSError, TfrecError, IndexError, ValueError):
        return None
