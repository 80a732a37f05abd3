"""What make_dataset can be asked: ReadOptions, which checks itself, and the reader's named constants (no TensorFlow)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import TfrecError
from .augment import get_augmentation

AUTOTUNE = -1  # tf.data.AUTOTUNE's value, so this module needs no TensorFlow
# The shuffle buffer holds serialized records (it sits before decoding), so its memory is
# buffer x mean record size. The default buffer is SHUFFLE_BUFFER_BYTES / mean record size,
# capped at MAX_SHUFFLE_RECORDS: 10,000 CIFAR records (31 MB), ~2,300 ImageNet JPEGs (256 MB).
SHUFFLE_BUFFER_BYTES = 256 << 20
MAX_SHUFFLE_RECORDS = 10_000  # with file-level shuffling this mixes well; more only delays the first batch
# Each file yields chunks of records to the parallel interleave, unbatched after it: one record per
# element cost 9.2 us of CPU per CIFAR record, chunks of 64 cost 6.3 us (benchmarks/read.py machine).
# A chunk holds at most INTERLEAVE_CHUNK_BYTES, so that the interleave's buffers (a few chunks per open
# file) stay small for large records too: 64 CIFAR records, 9 ImageNet JPEGs.
READ_CHUNK_RECORDS = 64
# TFRecordDataset's read buffer per open file: TensorFlow's own default (256 KiB), given explicitly
# because TF 2.21 logs "TFRecordDataset `buffer_size` is unspecified" for every file opened without one.
TFRECORD_BUFFER_BYTES = 256 << 10
INTERLEAVE_CHUNK_BYTES = 1 << 20
# By default (num_parallel_calls=None) the per-image decode map runs DECODE_CALLS_PER_CORE x the
# cores in parallel and every other stage is AUTOTUNE. tf.data's autotuner splits one CPU budget
# among all the stages; with the per-image seeds then drawn in a map stage of their own, it gave the
# decode too little of it: over 4 epochs of the imagenet preset (2 cores, steady images/s in
# standalone probes) AUTOTUNE ran at 0.73-0.80x of the decode work's own limit, 1x the cores
# 0.87-0.90x, 2x the cores 0.97-0.98x. Since the seeds moved into the parse map and warm start came
# in, the two measure alike on 2 cores (4-epoch passes: read.py's -4-epochs rows in three runs,
# read_startup.py once, one probe: default 0.92-1.09x, median 0.94x; AUTOTUNE everywhere
# 0.90-0.98x, median 0.94x). Decoded images are at most
# the target size (or the schema's fixed size), so the calls in flight hold 2 x cores images; for
# large images that is capped at DECODE_INFLIGHT_BYTES of them (float32), never below the cores
# (the most AUTOTUNE would give): 224x224 stays at 2 x cores up to 222 cores, 1024x1024 at the cores.
DECODE_CALLS_PER_CORE = 2
DECODE_INFLIGHT_BYTES = 256 << 20
FITS = ("stretch", "crop", "pad")
DTYPES = ("float32", "uint8")
NORMALIZATIONS = ("unit", "standardize")
# Keras' image_dataset_from_directory options, with its meanings.
LABEL_MODES = ("int", "categorical", "binary")  # or None: images only
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}  # -> channels
SUBSETS = ("training", "validation", "both")
IMAGE_SEED_SALT, BATCH_SEED_SALT = 0x1A6E, 0xBA7C  # keep per-image and per-batch random streams apart


@dataclass(frozen=True)
class ReadOptions:
    """How make_dataset reads: every option but the path, the split and the schema; checks itself."""

    batch_size: int = 32
    shuffle: bool = True
    shuffle_buffer: int | None = None  # None: sized from the mean record size (SHUFFLE_BUFFER_BYTES)
    seed: int | None = None
    deterministic: bool | None = None  # None: when a seed is given or shuffling is off
    repeat: bool | int = False  # True: forever; n: n epochs
    drop_remainder: bool = False
    cache: bool | str = False  # True: in memory; a string: a cache file prefix
    image_size: tuple[int, int] | None = None  # (height, width)
    fit: str = "stretch"
    dtype: str = "float32"
    normalize: str | None = None  # None: 'unit' for float32; nothing for uint8
    augment: Any = None  # a preset name, an Augmentation, or a list of ops
    num_parallel_calls: int | None = None  # None: see DECODE_CALLS_PER_CORE; AUTOTUNE (-1) or n: every stage
    skip_corrupt: bool = False
    num_shards: int = 1
    shard_index: int = 0
    features: tuple[str, ...] | None = None
    label_mode: str | None = "int"  # None: images only; "int": the stored int64 ids (Keras: int32)
    color_mode: str | None = None  # None: the schema's channels
    validation_split: float | None = None
    subset: str | None = None

    def __post_init__(self):
        size = self.image_size
        if isinstance(size, int):
            size = (size, size)
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise TfrecError(f"image_size: expected (height, width) of positive integers, found {self.image_size!r}")
        object.__setattr__(self, "image_size", None if size is None else (int(size[0]), int(size[1])))
        object.__setattr__(self, "augment", get_augmentation(self.augment))
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        checks = [
            (self.batch_size >= 1, "batch_size", "at least 1", self.batch_size),
            (self.shuffle_buffer is None or self.shuffle_buffer >= 1, "shuffle_buffer", "at least 1",
             self.shuffle_buffer),
            (self.fit in FITS, "fit", f"one of {', '.join(FITS)}", self.fit),
            (self.dtype in DTYPES, "dtype", f"one of {', '.join(DTYPES)}", self.dtype),
            (self.normalize is None or self.normalize in NORMALIZATIONS, "normalize",
             f"None or one of {', '.join(NORMALIZATIONS)}", self.normalize),
            (not (self.dtype == "uint8" and self.normalize), "normalize", "None with dtype uint8", self.normalize),
            (self.num_shards >= 1 and 0 <= self.shard_index < self.num_shards, "shard_index",
             f"0 <= shard_index < num_shards ({self.num_shards})", self.shard_index),
            (self.repeat is True or self.repeat is False or (isinstance(self.repeat, int) and self.repeat >= 1),
             "repeat", "True, False or a positive number of epochs", self.repeat),
            (self.num_parallel_calls is None or self.num_parallel_calls == AUTOTUNE or self.num_parallel_calls >= 1,
             "num_parallel_calls", "None (the default), -1 (AUTOTUNE) or a positive integer", self.num_parallel_calls),
            (self.label_mode is None or self.label_mode in LABEL_MODES, "label_mode",
             f"None or one of {', '.join(LABEL_MODES)}", self.label_mode),
            (self.color_mode is None or self.color_mode in COLOR_MODES, "color_mode",
             f"None or one of {', '.join(COLOR_MODES)}", self.color_mode),
            (self.validation_split is None or (isinstance(self.validation_split, (int, float))
                                               and 0 < self.validation_split < 1),
             "validation_split", "a fraction between 0 and 1 (exclusive)", self.validation_split),
            (self.subset is None or self.subset in SUBSETS, "subset", f"one of {', '.join(SUBSETS)}", self.subset),
        ]
        for ok, name, expected, found in checks:
            if not ok:
                raise TfrecError(f"{name}: expected {expected}, found {found!r}")
        self._check_split()

    def _check_split(self) -> None:
        """validation_split and subset come together; shuffled, the split needs a seed (as in Keras)."""
        if (self.validation_split is None) != (self.subset is None):
            raise TfrecError(f"validation_split and subset: give both or neither, found validation_split="
                             f"{self.validation_split!r}, subset={self.subset!r}")
        if self.validation_split is not None and self.shuffle and self.seed is None:
            raise TfrecError("validation_split with shuffle needs a seed: the training and the validation dataset "
                             "must draw the same split (pass seed=N to both), or pass shuffle=False")

    @property
    def parallel(self) -> int:
        """The parallelism of every stage but the per-image decode."""
        return AUTOTUNE if self.num_parallel_calls is None else self.num_parallel_calls

    def decode_parallel(self, image_bytes: int = 0) -> int:
        """The parallelism of the per-image decode map (JPEG/PNG) of images of `image_bytes` (0: unknown)."""
        if self.num_parallel_calls is not None:
            return self.num_parallel_calls
        cores = usable_cores()
        calls = DECODE_CALLS_PER_CORE * cores
        return max(cores, min(calls, DECODE_INFLIGHT_BYTES // image_bytes)) if image_bytes else calls

    def channels(self, stored: int) -> int:
        """The output's channels: color_mode's, else the `stored` ones."""
        return COLOR_MODES[self.color_mode] if self.color_mode else stored

    @property
    def is_deterministic(self) -> bool:
        if self.deterministic is not None:
            return self.deterministic
        return self.seed is not None or not self.shuffle


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it, as TensorFlow counts them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
