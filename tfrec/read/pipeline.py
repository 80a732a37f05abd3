"""The streaming reader: a tf.data pipeline of small stages (read, shuffle, batch, parse, decode, augment)."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from .augment import Augmentation, RandomResizedCrop, get_augmentation, to_float
from ..errors import TfrecError
from .inputs import Source, resolve_source, shard_files
from ..io.salvage import ReadStats, iter_intact_records
from ..codec.schema import FeatureSpec, Schema

# Memory stays bounded: shards are streamed (TFRecordDataset inflates GZIP block by block), the
# interleave holds a few chunks of at most READ_CHUNK_BYTES per open file, and the record shuffle
# buffer holds serialized records, at most SHUFFLE_BUFFER_BYTES of them by default, since its size
# comes from the mean record size in the shard index (or dataset.json, or a sample). Damaged
# records are skipped, on request, by the Python reader in tfrec.io.salvage.

AUTOTUNE = tf.data.AUTOTUNE
# The shuffle buffer holds serialized records (it sits before decoding), so its memory is
# buffer x mean record size. The default buffer is SHUFFLE_BUFFER_BYTES / mean record size,
# capped at MAX_SHUFFLE_RECORDS: 10,000 CIFAR records (31 MB), ~2,300 ImageNet JPEGs (256 MB).
SHUFFLE_BUFFER_BYTES = 256 << 20
MAX_SHUFFLE_RECORDS = 10_000  # with file-level shuffling this mixes well; more only delays the first batch
# Each file yields chunks of records to the parallel interleave, unbatched after it: one record per
# element cost 9.2 us of CPU per CIFAR record, chunks of 64 cost 6.3 us (benchmarks/read.py machine).
# A chunk holds at most READ_CHUNK_BYTES, so that the interleave's buffers (a few chunks per open
# file) stay small for large records too: 64 CIFAR records, 9 ImageNet JPEGs.
READ_CHUNK_RECORDS = 64
READ_CHUNK_BYTES = 1 << 20
CAST_BEFORE_RESIZE_AREA_RATIO = 8  # source pixels per target pixel, at most; see _resize
FITS = ("stretch", "crop", "pad")
DTYPES = ("float32", "uint8")
NORMALIZATIONS = ("unit", "standardize")
_IMAGE_SALT, _BATCH_SALT = 0x1A6E, 0xBA7C  # keep per-image and per-batch random streams apart


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
    num_parallel_calls: int | None = None  # None: AUTOTUNE
    skip_corrupt: bool = False
    num_shards: int = 1
    shard_index: int = 0
    features: tuple[str, ...] | None = None

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
             "num_parallel_calls", "None (AUTOTUNE) or a positive integer", self.num_parallel_calls),
        ]
        for ok, name, expected, found in checks:
            if not ok:
                raise TfrecError(f"{name}: expected {expected}, found {found!r}")

    @property
    def parallel(self) -> int:
        return AUTOTUNE if self.num_parallel_calls is None else self.num_parallel_calls

    @property
    def is_deterministic(self) -> bool:
        if self.deterministic is not None:
            return self.deterministic
        return self.seed is not None or not self.shuffle


# --------------------------------------------------------------------------- stages


def read_records(files: Sequence[str], compression: str, options: ReadOptions, stats: ReadStats,
                 record_bytes: float = 0.0) -> tf.data.Dataset:
    """Serialized records from all files: shuffled file order, files read in parallel, interleaved."""
    chunk = int(min(READ_CHUNK_RECORDS, max(1, READ_CHUNK_BYTES // max(record_bytes, 1))))
    ds = tf.data.Dataset.from_tensor_slices(list(files))
    if options.shuffle:
        ds = ds.shuffle(len(files), seed=options.seed, reshuffle_each_iteration=True)
    ctype = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}[compression]

    def chunks(path):
        batch = []
        for rec in iter_intact_records(path.decode(), compression, stats):
            batch.append(rec)
            if len(batch) == chunk:
                yield np.array(batch, dtype=object)
                batch = []
        if batch:
            yield np.array(batch, dtype=object)

    def open_file(path):
        if options.skip_corrupt:  # tf.data's reader gives up on a file at its first bad record
            spec = tf.TensorSpec([None], tf.string)
            return tf.data.Dataset.from_generator(chunks, args=(path,), output_signature=spec)
        # TFRecordDataset streams (a GZIP shard is inflated block by block, never held whole).
        return tf.data.TFRecordDataset(path, compression_type=ctype).batch(chunk)

    ds = ds.interleave(open_file, cycle_length=min(len(files), max(2, os.cpu_count() or 1)),
                       num_parallel_calls=options.parallel, deterministic=options.is_deterministic)
    return ds.unbatch()


def shuffle_buffer_size(record_bytes: float, options: ReadOptions) -> int:
    """The record shuffle buffer: the option, else SHUFFLE_BUFFER_BYTES of records (at most MAX_SHUFFLE_RECORDS)."""
    if options.shuffle_buffer:
        return options.shuffle_buffer
    return int(max(1, min(MAX_SHUFFLE_RECORDS, SHUFFLE_BUFFER_BYTES // max(record_bytes, 1))))


def cache_shuffle_repeat(ds: tf.data.Dataset, buffer: int, options: ReadOptions) -> tf.data.Dataset:
    """Caches the serialized records if asked, shuffles them in a bounded buffer, repeats."""
    if options.cache:
        ds = ds.cache() if options.cache is True else ds.cache(str(options.cache))
    if options.shuffle:
        seed = None if options.seed is None else options.seed + 1
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if options.repeat is not False:
        ds = ds.repeat(None if options.repeat is True else options.repeat)
    return ds


def parse_batches(ds: tf.data.Dataset, spec: dict, options: ReadOptions) -> tf.data.Dataset:
    """Batches serialized records, then parses each batch with one tf.io.parse_example."""
    ds = ds.batch(options.batch_size, drop_remainder=options.drop_remainder)
    return ds.map(lambda s: tf.io.parse_example(s, spec), num_parallel_calls=options.parallel,
                  deterministic=options.is_deterministic)


def _resize(images: tf.Tensor, size: tuple[int, int], pad: bool) -> tf.Tensor:
    """Bilinear resize (antialias off, as Keras' loaders do) to float32, padding to the aspect if `pad`."""

    def resize(x):
        return tf.image.resize_with_pad(x, *size) if pad else tf.image.resize(x, size)

    if images.dtype == tf.float32:
        return resize(images)
    # ResizeBilinear's output is bit-identical for uint8 and float32 input, but its uint8 kernel is
    # slower: to 224x224 it took 265 us from uint8, and 150-185 us casting sources of up to 600x448
    # to float32 first (cast included), the same at 900x700 (TF 2.21, one core). So cast sources
    # of up to CAST_BEFORE_RESIZE_AREA_RATIO x the target's pixels: every JPEG window the DCT scaling
    # leaves under 2x the target per side (all but windows over 16x it).
    pixels = tf.reduce_prod(tf.shape(images)[-3:-1])
    small = pixels <= CAST_BEFORE_RESIZE_AREA_RATIO * size[0] * size[1]
    return tf.cond(small, lambda: resize(tf.cast(images, tf.float32)), lambda: resize(images))


def resize_images(images: tf.Tensor, size: tuple[int, int], fit: str) -> tf.Tensor:
    """Resizes one image or a batch to `size`: stretch, centre-crop to the aspect first, or pad; float32 [0, 1]."""
    scale = images.dtype == tf.uint8
    if fit == "crop":
        shape = tf.shape(images)[-3:]
        y, x, h, w = tf.unstack(center_window(shape, size))
        images = tf.image.crop_to_bounding_box(images, y, x, h, w)
    out = _resize(images, size, fit == "pad")
    return out / 255.0 if scale else out


def center_window(shape: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """The largest centred [y, x, h, w] window of the target's aspect ratio in an image of `shape`."""
    h, w = shape[0], shape[1]
    th, tw = size
    crop_h = tf.minimum(h, w * th // tw)
    crop_w = tf.minimum(w, h * tw // th)
    return tf.stack([(h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w])


def decode_raw_batches(ds: tf.data.Dataset, feature: FeatureSpec, options: ReadOptions) -> tf.data.Dataset:
    """Decodes a whole batch of raw uint8 images with one decode_raw and a reshape (and resizes it if asked)."""
    key, shape = feature.name, list(feature.shape)

    def decode(d):
        images = tf.reshape(tf.io.decode_raw(d[key], tf.uint8), [-1] + shape)
        if options.image_size and tuple(shape[:2]) != options.image_size:
            images = resize_images(images, options.image_size, options.fit)
        return {**d, key: images}

    return ds.map(decode, num_parallel_calls=options.parallel, deterministic=options.is_deterministic)


def _decode_jpeg_window(encoded: tf.Tensor, window: tf.Tensor, target: tuple[int, int], channels: int,
                        whole: bool = False, then=None) -> tf.Tensor:
    """Decodes only `window` of a JPEG (all of it if `whole`: the window is the image), at the smallest
    DCT scale (1, 1/2, 1/4, 1/8) that keeps it >= target; `then(image)`, if given, runs in the same
    branch (one control-flow op per image instead of two: each cost about 1% of a 500x375 JPEG's decode)."""
    y, x, h, w = tf.unstack(window)
    th, tw = target
    # The largest ratio r in (1, 2, 4, 8) with h >= r * th and w >= r * tw, as a branch index 0-3.
    fit = tf.minimum(h // th, w // tw)
    pick = tf.cast(fit >= 2, tf.int32) + tf.cast(fit >= 4, tf.int32) + tf.cast(fit >= 8, tf.int32)
    then = then or (lambda img: img)

    def at(r):
        if whole:  # decode_and_crop_jpeg of the whole image cost ~30 us more per 500x375 JPEG than this
            return lambda: then(tf.io.decode_jpeg(encoded, channels=channels, ratio=r))
        scaled = tf.stack([y // r, x // r, tf.maximum(h // r, 1), tf.maximum(w // r, 1)])
        return lambda: then(tf.io.decode_and_crop_jpeg(encoded, scaled, channels=channels, ratio=r))

    return tf.switch_case(pick, [at(1), at(2), at(4), at(8)])


def image_decoder(feature: FeatureSpec, options: ReadOptions, crop: RandomResizedCrop | None,
                  per_image: Sequence, seed: int):
    """The per-image decode for encoded images: (encoded, index) -> image of the target size.

    A random resized crop picks its window before decoding, so that only the window is decoded.
    The decoded window is cast to float32 and resized with tf.image.resize (bilinear, as Keras'
    loaders; tf.image.crop_and_resize straight from uint8 took twice as long). `per_image` ops
    (e.g. flips) run on the resized float32 image: a flip commutes with the resize, and there its
    cost does not grow with the window (flipping a 224x224 float32 image took 31 us, a 330x300
    uint8 window 46 us; most windows are larger than that). For float32 output the resized image
    is scaled to [0, 1] at once, while it is still in cache (scaling whole batches later cost
    about 5% more per image); uint8 output is rounded from the [0, 255] resize.
    JPEGs are decoded with TensorFlow's defaults (INTEGER_FAST IDCT, fancy upsampling): turning
    fancy upsampling off saved nothing measurable and changes pixels (benchmarks/RESULTS.md).
    """
    channels = feature.shape[2]
    target = crop.size if crop is not None else options.image_size
    base = tf.constant([seed, _IMAGE_SALT], tf.int64)

    def window(shape, seed):
        if crop is not None:
            return crop.window(shape, seed)
        if options.fit == "crop":
            return center_window(shape, target)
        return tf.stack([0, 0, shape[0], shape[1]])

    def any_format(encoded):
        return tf.io.decode_image(encoded, channels=channels, expand_animations=False)

    unit = options.dtype == "float32"  # float32 output is in [0, 1]; uint8 output is rounded from [0, 255]

    def resized(encoded, seeds):
        """The image at the target size, float32 in [0, 1] (`unit`) or [0, 255]."""
        if crop is None and options.fit == "pad":
            img = _resize(any_format(encoded), target, True)
            return img * (1 / 255) if unit else img

        # The resize runs in the decode's branch: one control-flow op per image. A DCT-scaled
        # window is under 2x the target on at least one side, so casting to float32 first is the
        # faster resize (see _resize). (Dequantizing to [0, 1] there instead of the multiply after
        # the resize cost 1% more.)
        def jpeg_then(img):
            img = tf.image.resize(tf.cast(img, tf.float32), target)
            return img * (1 / 255) if unit else img

        def other_then(img):  # other formats are not DCT-scaled: _resize decides when to convert
            img = _resize(img, target, False)
            return img * (1 / 255) if unit else img

        def jpeg():
            whole = crop is None and options.fit == "stretch"
            win = window(tf.io.extract_jpeg_shape(encoded), seeds[0])
            return _decode_jpeg_window(encoded, win, target, channels, whole, jpeg_then)

        def other():
            img = any_format(encoded)
            y, x, h, w = tf.unstack(window(tf.shape(img), seeds[0]))
            return other_then(img[y: y + h, x: x + w])

        return jpeg() if feature.encoding == "jpeg" else tf.cond(tf.io.is_jpeg(encoded), jpeg, other)

    def converted(img):
        if target is None:
            return tf.ensure_shape(img, feature.shape)
        if not unit:
            img = tf.cast(tf.clip_by_value(img + 0.5, 0, 255), tf.uint8)
        return tf.ensure_shape(img, [*target, channels])

    def decode(encoded, index=None):
        n = 1 + len(per_image)  # seeds: the crop window's, then one per per-image op
        seeds = [None] * n if index is None else tf.unstack(tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(base, index), n))
        img = any_format(encoded) if target is None else resized(encoded, seeds)
        for k, op in enumerate(per_image):
            img = op.per_image(img, seeds[k + 1])
        return converted(img)

    return decode


def decode_encoded(ds: tf.data.Dataset, feature: FeatureSpec, options: ReadOptions, crop: RandomResizedCrop | None,
                   per_image: Sequence, seed: int) -> tf.data.Dataset:
    """Decodes JPEG/PNG images one by one in a parallel map (between unbatch and batch): sizes differ."""
    decode = image_decoder(feature, options, crop, per_image, seed)
    key = feature.name
    parallel = dict(num_parallel_calls=options.parallel, deterministic=options.is_deterministic)
    if crop is None and not per_image:
        ds = ds.unbatch().map(lambda d: {**d, key: decode(d[key])}, **parallel)
    else:  # the record's position seeds its random crop and flips
        ds = ds.unbatch().enumerate().map(lambda i, d: {**d, key: decode(d[key], i)}, **parallel)
    return ds.batch(options.batch_size, drop_remainder=options.drop_remainder)


def augment_batches(ds: tf.data.Dataset, image_key: str, label_key: str | None, augmentation: Augmentation,
                    seed: int, options: ReadOptions) -> tf.data.Dataset:
    """Applies the augmentation to whole batches; batch i's seed is (seed, i) folded, so a seed replays a run."""
    base = tf.constant([seed, _BATCH_SALT], tf.int64)

    def apply(i, d):
        images = to_float(d[image_key]) if augmentation.needs_float else d[image_key]
        images, labels = augmentation(images, d.get(label_key), tf.random.experimental.stateless_fold_in(base, i))
        return {**d, image_key: images, **({label_key: labels} if label_key else {})}

    return ds.enumerate().map(lambda i, d: apply(i, d), num_parallel_calls=options.parallel,
                              deterministic=options.is_deterministic)


def finish_batches(ds: tf.data.Dataset, image_key: str | None, label_key: str | None,
                   options: ReadOptions) -> tf.data.Dataset:
    """Converts images to the output dtype and normalisation; yields (images, labels), images, or a dict."""

    def finish(d):
        if image_key in d:
            img = d[image_key]
            if options.dtype == "uint8":
                img = img if img.dtype == tf.uint8 else tf.image.convert_image_dtype(img, tf.uint8, saturate=True)
            else:
                img = to_float(img)
                if options.normalize == "standardize":
                    img = tf.image.per_image_standardization(img)
            d = {**d, image_key: img}
        if options.drop_remainder:  # every batch is full: say so in the static shapes
            d = {k: tf.ensure_shape(v, [options.batch_size] + [None] * (v.shape.rank - 1))
                 if isinstance(v, tf.Tensor) else v for k, v in d.items()}
        if options.features is not None:
            return {k: d[k] for k in options.features}
        return (d[image_key], d[label_key]) if label_key else d[image_key]

    return ds.map(finish, num_parallel_calls=options.parallel, deterministic=options.is_deterministic)


# --------------------------------------------------------------------------- assembly


def _pick(schema: Schema, kind: str, preferred: str) -> FeatureSpec | None:
    if preferred in schema and schema[preferred].kind == kind:
        return schema[preferred]
    return next((f for f in schema.features if f.kind == kind), None)


def _select_features(schema: Schema, options: ReadOptions) -> tuple[FeatureSpec | None, FeatureSpec | None, tuple]:
    """(the image feature, the label feature, the keys to parse): None where the output has none."""
    image, label = _pick(schema, "image", "image"), _pick(schema, "class_label", "label")
    keys = options.features or tuple(f.name for f in (image, label) if f is not None)
    unknown = [k for k in keys if k not in schema]
    if unknown or image is None and options.features is None:
        raise TfrecError(f"schema {schema.name!r} has no feature {(unknown or ['image'])[0]!r}; "
                         f"features: {', '.join(f.name for f in schema.features)}")
    return (image if image is not None and image.name in keys else None,
            label if label is not None and label.name in keys else None, keys)


def build_stages(source: Source, options: ReadOptions, stats: ReadStats) -> list[tuple[str, tf.data.Dataset]]:
    """The pipeline as named cumulative stages (read, parse, decode, augment, output); the last is the whole.

    Raises:
        TfrecError: unknown features, variable-size images without image_size, too few files for the workers.
    """
    schema = source.schema
    image, label, keys = _select_features(schema, options)
    label_key = label.name if label is not None else None
    augmentation = options.augment.bind(options.image_size, label.num_classes if label else None)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    files = shard_files(source.files, options.num_shards, options.shard_index)
    ds = read_records(files, source.compression, options, stats, source.record_bytes)
    stages = [("read", cache_shuffle_repeat(ds, shuffle_buffer_size(source.record_bytes, options), options))]
    spec = {k: v for k, v in schema.parse_spec().items() if k in keys}
    stages.append(("parse", parse_batches(stages[-1][1], spec, options)))
    if image is not None:
        if image.encoding != "raw":
            crop, per_image, augmentation = augmentation.split_per_image()
            if crop is None and options.image_size is None and None in image.shape:
                raise TfrecError(f"{source.files[0]}: images of schema {schema.name!r} vary in size "
                                 f"(shape {list(image.shape)}); pass image_size=(height, width) to batch them")
            stages.append(("decode", decode_encoded(stages[-1][1], image, options, crop, per_image, seed)))
        else:
            stages.append(("decode", decode_raw_batches(stages[-1][1], image, options)))
        if augmentation.ops:
            ds = augment_batches(stages[-1][1], image.name, label_key, augmentation, seed, options)
            stages.append(("augment", ds))
    elif augmentation.ops:
        raise TfrecError(f"augmentation {augmentation.name!r} needs the image feature in features=")
    out = finish_batches(stages[-1][1], image.name if image else None, label_key, options)
    stages.append(("output", out.prefetch(AUTOTUNE)))
    dopt = tf.data.Options()
    dopt.deterministic = options.is_deterministic
    dopt.experimental_optimization.map_fusion = True  # parse, decode and finish run as one function
    if options.num_shards > 1:  # sharded here by file: stop tf.distribute from sharding again
        dopt.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return [(name, d.with_options(dopt)) for name, d in stages]


def make_dataset(
    path: str | Sequence[str],
    split: str = "train",
    batch_size: int = 32,
    *,
    schema: str | dict | Schema | None = None,
    features: Sequence[str] | None = None,
    shuffle: bool = True,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    deterministic: bool | None = None,
    repeat: bool | int = False,
    drop_remainder: bool = False,
    cache: bool | str = False,
    image_size: int | tuple[int, int] | None = None,
    fit: str = "stretch",
    dtype: str = "float32",
    normalize: str | None = None,
    augment: str | Augmentation | Sequence | None = None,
    num_parallel_calls: int | None = None,
    skip_corrupt: bool = False,
    num_shards: int = 1,
    shard_index: int = 0,
    input_context: tf.distribute.InputContext | None = None,
    stats: ReadStats | None = None,
) -> tf.data.Dataset:
    """A tf.data.Dataset of (images, labels) batches read from a tfrec dataset or foreign TFRecords.

    Files are shuffled and interleaved in parallel; records are shuffled in a bounded buffer,
    batched, parsed a batch at a time (tf.io.parse_example) and decoded (raw pixels a batch at
    a time; JPEG/PNG in a parallel map, decoding only the crop window for `random resized crop`
    and at a reduced DCT scale when the window is at least twice the target), augmented a batch
    at a time with stateless random ops, converted and prefetched.

    Args:
        path: a dataset directory (with dataset.json), or foreign TFRecord file(s), glob or directory.
        split: which split of the dataset.
        batch_size: records per batch; with input_context, the global batch (split over replicas).
        schema: a schema (file, name, JSON or Schema) for foreign files; overrides dataset.json's.
        features: yield dicts of these feature keys instead of (images, labels).
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
        num_parallel_calls: parallelism of interleave and maps (default AUTOTUNE).
        skip_corrupt: skip records with bad CRCs or truncated files, counting them in the
            dataset's `read_stats` (a ReadStats); reading then goes through a Python reader.
        num_shards: workers reading disjoint sets of files.
        shard_index: this worker's index, 0 <= shard_index < num_shards.
        input_context: from tf.distribute; sets num_shards, shard_index and the per-replica batch.
        stats: a ReadStats to count skipped records in (default: a new one).

    Returns:
        The dataset; its `read_stats` attribute is the ReadStats (keep a reference to it before
        chaining more transformations, which return new datasets without it).

    Raises:
        TfrecError: bad options, a missing dataset.json or split, unknown features or preset.
    """
    if input_context is not None:
        if num_shards != 1:
            raise TfrecError("give input_context or num_shards/shard_index, not both")
        num_shards, shard_index = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    options = ReadOptions(
        batch_size=batch_size, shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed, deterministic=deterministic,
        repeat=repeat, drop_remainder=drop_remainder, cache=cache, image_size=image_size, fit=fit, dtype=dtype,
        normalize=normalize, augment=augment, num_parallel_calls=num_parallel_calls, skip_corrupt=skip_corrupt,
        num_shards=num_shards, shard_index=shard_index, features=features,
    )
    stats = stats if stats is not None else ReadStats()
    ds = build_stages(resolve_source(path, split, schema), options, stats)[-1][1]
    ds.read_stats = stats
    return ds


def augmented_samples(path: str, preset: str, n: int = 16, seed: int = 0,
                      split: str = "train") -> tuple[list[np.ndarray], list[int]]:
    """n augmented images (H x W x C uint8) and their labels, for a contact sheet of a preset.

    Variable-size images come out at 224 x 224 (or the preset's crop size).
    """
    source = resolve_source(path, split)
    image = _pick(source.schema, "image", "image")
    size = (224, 224) if image is not None and None in image.shape else None
    ds = make_dataset(path, split, n, shuffle=True, seed=seed, augment=preset, dtype="uint8",
                      image_size=size, repeat=True)
    images, labels = next(iter(ds.take(1)))
    labels = labels.numpy()
    labels = labels.argmax(-1) if labels.ndim == 2 else labels
    return list(images.numpy()), [int(v) for v in labels]
