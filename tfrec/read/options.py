"""What make_dataset can be asked: ReadOptions, which checks itself, and the reader's named constants (no TensorFlow)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from ..codec.schema import Schema

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
# processing_mode -> the tf.data service's sharding policy (read/service.py). distributed_epoch: the
# dispatcher hands out the source's splits (here: shard files, the reader's first dataset) one at a
# time, so one epoch reads each file once across all workers. parallel_epochs: every worker reads the
# whole dataset.
PROCESSING_MODES = ("distributed_epoch", "parallel_epochs")
# A reader gives up on the service after waiting this long for one batch. Far above a healthy wait (the
# first batch of an ImageNet pipeline, its shuffle buffer filled, comes in seconds), far below forever.
DATA_SERVICE_TIMEOUT_S = 60.0
TASKS = ("classification", "detection")  # detection: read/detection.py (the Object Detection API's keys)
# A box cut by a random crop is kept (clipped to the crop) while at least this fraction of its area
# remains inside it, else dropped: the 25% that keeps a box mostly recognisable without keeping slivers.
MIN_BOX_VISIBLE = 0.25
IMAGE_SEED_SALT, BATCH_SEED_SALT = 0x1A6E, 0xBA7C  # keep per-image and per-batch random streams apart


@dataclass(frozen=True)
class ReadOptions:
    """How make_dataset reads: every option it takes, written here once; checks itself.

    `make_dataset(dataset, options, **overrides)` takes a ReadOptions and/or these fields as keywords
    (`make_dataset(path, batch_size=64, seed=1)`); so do the trainer's and the benchmarks' readers.

    Attributes:
        split: which split of a tfrec dataset (ignored for foreign files).
        batch_size: records per batch; with make_dataset's input_context, the global batch (split over replicas).
        shuffle: shuffle the file order and the records (in a buffer).
        shuffle_buffer: records in the shuffle buffer; default SHUFFLE_BUFFER_BYTES / mean record
            size, at most MAX_SHUFFLE_RECORDS, so large images cannot blow it up.
        seed: seeds shuffling and augmentation; with it the pipeline is deterministic by default.
        deterministic: keep element order across parallel stages (None: when a seed is given
            or shuffle is off; otherwise a slow element may be overtaken, which is faster).
        repeat: True to repeat forever, or a number of epochs.
        drop_remainder: drop the last partial batch (gives static batch shapes).
        cache: cache the serialized records in memory (True) or in files with this prefix.
        image_size: (height, width) or an int; required for images of varying size.
        fit: how to reach image_size: 'stretch', 'crop' (centre crop to the aspect) or 'pad'.
        dtype: 'float32' (in [0, 1], or standardised) or 'uint8'.
        normalize: 'unit' (default for float32) or 'standardize' (per-image zero mean, unit variance).
        augment: a preset ('none', 'mnist', 'cifar', 'imagenet'), an Augmentation or a list of ops.
        num_parallel_calls: parallelism of the interleave and the maps. None (the default): the
            per-image decode of JPEG/PNG at DECODE_CALLS_PER_CORE (2) x the cores, the other
            stages tf.data.AUTOTUNE (see DECODE_CALLS_PER_CORE);
            tf.data.AUTOTUNE (-1) or a number: every stage.
        skip_corrupt: skip records with bad CRCs or truncated files, and shards listed in dataset.json
            but missing, counting them in the dataset's `read_stats` (a ReadStats). Each shard is
            checked when first opened in the process (every CRC; a compressed one against
            dataset.json's checksum; again only once it changes) and read by tf.data's own reader
            up to its first damaged record; from there on (a damaged compressed shard: whole) by a
            slower Python reader that skips and counts. A shard damaged while it is read fails the
            pass (tf.errors.DataLossError); so does one damaged after make_dataset was called when
            every shard had been found intact before (the dataset is then built without the slower
            reader): call make_dataset again. Without it a missing shard fails at once (TfrecError).
        num_shards: workers reading disjoint sets of files.
        shard_index: this worker's index, 0 <= shard_index < num_shards.
        features: yield dicts of these feature keys instead of (images, labels).
        label_mode: as in Keras' image_dataset_from_directory: 'int' (class ids; int64 as stored,
            where Keras gives int32), 'categorical' (one-hot float32, (batch, classes)), 'binary'
            (float32 (batch, 1); exactly 2 classes), or None (images only). Mixup's soft labels stay
            soft ('binary': the second class's share).
        color_mode: 'grayscale', 'rgb' or 'rgba' (1, 3 or 4 channels); None: the schema's. JPEG/PNG
            are decoded to it as Keras decodes them (tf.io.decode_image's channels); a format that
            cannot decode to it (JPEG to rgba, GIF or BMP to grayscale), and raw pixels, are
            converted: grey repeated into RGB, tf.image.rgb_to_grayscale, an opaque alpha added.
        validation_split: with subset, the fraction of the split's records held out for validation:
            int(validation_split x records) of them, as Keras counts (an empty subset is refused).
            Keras shuffles its file list with the seed (when shuffle is on) and takes the last files;
            tfrec does the same with the records' indices (the shards in dataset.json's order, then
            their records): a seeded permutation (np.random.RandomState(seed)) whenever a seed is
            given, else the stored order (which convert shuffled). So the subsets are disjoint,
            together complete, and the same for the same seed and dataset (and the shards present),
            but hold other images than Keras' for that seed.
            Needs dataset.json's record counts (not foreign files); with shuffle, a seed (as Keras).
        subset: 'training', 'validation', or 'both' for (training, validation) datasets; the
            validation one, like Keras', is read in stored order, without augmentation or repeat.
        schema: a schema (file, built-in name, JSON object or Schema) for foreign files; overrides dataset.json's.
        data_service: grpc://HOST:PORT of a tf.data service dispatcher (`tfrec serve-data`): reading,
            parsing, decoding, augmentation and conversion run on its workers, which must see the
            files at the same paths (or gs:// URLs); this process only receives finished batches.
            Not with skip_corrupt (its checking reader is Python code in this process).
        processing_mode: with data_service: 'distributed_epoch' (the workers share one epoch, each
            file read once; a worker lost mid-epoch makes the epoch fail at its end rather than come
            up short) or 'parallel_epochs' (each worker reads every file: an epoch per worker).
        data_service_timeout: seconds to wait for one batch from the service before failing the pass
            (the service itself waits forever for a lost worker).
        task: 'classification' (images and class labels) or 'detection': records with the Object
            Detection API's keys give (images, {'boxes', 'classes', 'num_boxes'}) batches; see
            tfrec.read.detection and docs/detection.md. The fields below apply to detection only.
        max_boxes: boxes per image in a detection batch: padded to this many (an image with more
            keeps its first max_boxes); None: padded to the most boxes of an image in that batch.
        ragged_boxes: boxes [B, None, 4] and classes [B, None] as tf.RaggedTensor, unpadded.
        instance_masks: also yield 'masks' [B, N, H, W] uint8 (image/object/mask PNGs), moved with the pixels.
        min_box_visible: a box cut by a random crop is kept, clipped, while at least this fraction of
            its area stays inside the crop, else dropped (MIN_BOX_VISIBLE, 0.25).
    """

    split: str = "train"
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
    schema: Union[str, dict, "Schema", None] = None
    data_service: str | None = None
    processing_mode: str = "distributed_epoch"
    data_service_timeout: float = DATA_SERVICE_TIMEOUT_S
    task: str = "classification"
    max_boxes: int | None = None  # None: the most boxes of an image in each batch
    ragged_boxes: bool = False
    instance_masks: bool = False
    min_box_visible: float = MIN_BOX_VISIBLE

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
            (self.processing_mode in PROCESSING_MODES, "processing_mode", f"one of {', '.join(PROCESSING_MODES)}",
             self.processing_mode),
            (self.task in TASKS, "task", f"one of {', '.join(TASKS)}", self.task),
            (self.max_boxes is None or (isinstance(self.max_boxes, int) and self.max_boxes >= 1), "max_boxes",
             "None or a positive integer", self.max_boxes),
            (not (self.ragged_boxes and self.max_boxes is not None), "max_boxes", "None with ragged_boxes=True",
             self.max_boxes),
            (0 < self.min_box_visible <= 1, "min_box_visible", "a fraction in (0, 1]", self.min_box_visible),
        ]
        for ok, name, expected, found in checks:
            if not ok:
                raise TfrecError(f"{name}: expected {expected}, found {found!r}")
        self._check_split()
        if self.data_service is not None and self.skip_corrupt:
            raise TfrecError("skip_corrupt cannot run on tf.data service workers (its checking reader is Python "
                             "code in this process): check the shards with `tfrec verify` and read without it")

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
