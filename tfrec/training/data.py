"""What the trainer reads: the dataset's shape, classes and splits, one seeded reader per epoch, damage reports."""
from __future__ import annotations

import os
from dataclasses import replace

import tensorflow as tf

from ..errors import TfrecError
from ..io.dataset import Dataset, open_dataset
from ..read.inputs import readable, resolve_source
from ..read.pipeline import make_dataset
from .options import TrainOptions
from .plan import UNLABELLED_USES, DataPlan, require_labels, steps_in_epoch, stored_shape  # noqa: F401 - re-exported
from .plan import plan_data as _plan_data


def plan_data(path: Dataset | str, options: TrainOptions) -> DataPlan:
    """plan.plan_data, with the dataset as TensorFlow reads it (at a URL its file system does not read: a
    local copy, read.inputs.readable)."""
    plan = _plan_data(path, options)
    return replace(plan, dataset=readable(plan.dataset))


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
