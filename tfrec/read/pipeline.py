"""The streaming reader: a tf.data pipeline of small stages (read, shuffle, batch, parse, decode, augment)."""
from __future__ import annotations

import random
import warnings
from dataclasses import fields, replace
from typing import Any, Mapping, Sequence

import numpy as np
from .._tfimport import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's first import: without its C++ start-up banner
import tensorflow as tf  # noqa: E402

from ..codec.schema import FeatureSpec, Schema
from ..errors import TfrecError
from ..io.dataset import Dataset, is_dataset, open_dataset
from ..io.salvage import ReadStats, check_shard, iter_intact_records, known_intact
from .augment import Augmentation, output_images, to_float
from .decode import decode_encoded, decode_raw_batches, image_seeder
from .detection import FOREIGN_SCHEMA, detection_stages, label_map_of
from .inputs import Readable, Source, resolve_source, shard_files
from .subsets import RecordPlan, plan_records
from .options import (
    BATCH_SEED_SALT,
    AUTOTUNE,
    INTERLEAVE_CHUNK_BYTES,
    MAX_SHUFFLE_RECORDS,
    READ_CHUNK_RECORDS,
    SHUFFLE_BUFFER_BYTES,
    TFRECORD_BUFFER_BYTES,
    ReadOptions,
    usable_cores,
)

# Memory stays bounded: shards are streamed (TFRecordDataset inflates GZIP block by block), the
# interleave holds a few chunks of at most INTERLEAVE_CHUNK_BYTES per open file, and the record shuffle
# buffer holds serialized records, at most SHUFFLE_BUFFER_BYTES of them by default, since its size
# comes from the mean record size in the shard index (or dataset.json, or a sample). Damaged
# records are skipped, on request, by the Python reader in tfrec.io.salvage (only in shards found damaged).

CHANGED_SINCE_CHECKED = ("changed since make_dataset found it intact, and is now damaged; this dataset was built "
                         "without the reader that skips damaged records: call make_dataset again")

# --------------------------------------------------------------------------- stages


def read_records(files: Sequence[str], compression: str, options: ReadOptions, stats: ReadStats,
                 record_bytes: float = 0.0, shuffle_files: bool = True,
                 expected: Mapping[str, dict] | None = None, plan: RecordPlan | None = None,
                 count: bool = False) -> tf.data.Dataset:
    """Serialized records from all files: shuffled file order, files read in parallel, interleaved.

    With a `plan` that keeps only some records (a validation_split subset), each file's records are
    numbered from plan.starts and a chunk at a time masked by plan.keep (every shard must then be
    intact: the salvaging reader, which skips, does not number its records). With `count`, each
    file must hold plan.sizes' records (dataset.json's count), or the pass fails saying both numbers:
    asserted per file, inside the parallel interleave (about 0.1 us per record, as much as on the
    interleave's single output thread, where it would have slowed every record).

    shuffle_files=False keeps the files in the order given: under the tf.data service's
    distributed_epoch the files are its splits, and a shuffle buffer of them would let the first
    worker take every file at once; the caller shuffles the list instead. With skip_corrupt, each
    file is checked when it is opened (check_shard; `expected`: dataset.json's entry per file, for
    its checksum), and only what is damaged goes through the salvaging reader.
    """
    chunk = int(min(READ_CHUNK_RECORDS, max(1, INTERLEAVE_CHUNK_BYTES // max(record_bytes, 1))))
    starts = list(plan.starts) if plan is not None else [0] * len(files)
    sizes = list(plan.sizes) if count and plan is not None and plan.sizes is not None else [-1] * len(files)
    count = count and sizes[:1] != [-1]
    ds = tf.data.Dataset.from_tensor_slices((list(files), tf.constant(starts, tf.int64), tf.constant(sizes, tf.int64)))
    if options.shuffle and shuffle_files:
        ds = ds.shuffle(len(files), seed=options.seed, reshuffle_each_iteration=True)
    ctype = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}[compression]
    expected = expected or {}
    keep = tf.constant(plan.keep) if plan is not None and plan.keep is not None else None

    def records_of(path, start, size, take=None):
        ds = tf.data.TFRecordDataset(path, ctype, TFRECORD_BUFFER_BYTES)
        ds = ds.apply(tf.data.experimental.assert_cardinality(size)) if count else ds
        ds = ds if take is None else ds.take(take)
        if keep is None:
            return ds.batch(chunk)
        return ds.enumerate(start).batch(chunk).map(lambda i, r: tf.boolean_mask(r, tf.gather(keep, i)))

    def chunks(path, index, offset):
        batch = []
        for rec in iter_intact_records(path.decode(), compression, stats, (int(index), int(offset))):
            batch.append(rec)
            if len(batch) == chunk:
                yield np.array(batch, dtype=object)
                batch = []
        if batch:
            yield np.array(batch, dtype=object)

    def plan(path):
        p = check_shard(path.decode(), compression, expected.get(path.decode()))
        # (records for tf.data's reader: -1 all, where the salvaging reader starts: -1 nowhere, its offset)
        return np.array([-1, -1, 0] if p.intact else [p.index, p.index, p.offset], np.int64)

    def checked(path, start, size):
        # tf.data's reader stops a file at its first bad record: it reads the records check_shard found
        # intact (all, in a clean shard), the salvaging reader the rest (in Python, per record).
        fast, index, offset = tf.unstack(tf.ensure_shape(tf.numpy_function(plan, [path], tf.int64), [3]))
        head = records_of(path, start, size, fast)
        spec = tf.TensorSpec([None], tf.string)
        rest = tf.data.Dataset.from_generator(chunks, args=(path, index, offset), output_signature=spec)
        return head.concatenate(rest.take(tf.where(index < 0, tf.constant(0, tf.int64), -1)))

    def confirm(path):
        if not check_shard(path.decode(), compression, expected.get(path.decode())).intact:
            raise TfrecError(f"{path.decode()}: {CHANGED_SINCE_CHECKED}")
        return np.int64(-1)

    def known(path, start, size):
        # Every shard was found intact earlier in this process, as it is now: no salvaging branch, whose
        # from_generator dataset alone made creating an iterator about 10 ms slower (a 5% of one pass
        # over 50,000 CIFAR records). A shard that changes and turns out damaged after this fails the pass.
        confirmed = tf.ensure_shape(tf.numpy_function(confirm, [path], tf.int64), [])
        return records_of(path, start, size, confirmed)

    fast_only = options.skip_corrupt and all(known_intact(f, compression, expected.get(f)) for f in files)

    def open_file(path, start, size):
        if options.skip_corrupt:
            return known(path, start, size) if fast_only else checked(path, start, size)
        # TFRecordDataset streams (a GZIP shard is inflated block by block, never held whole).
        return records_of(path, start, size)

    cycle = min(len(files), max(2, usable_cores()))
    # TensorFlow refuses more parallel calls than a fixed cycle_length: a file is read by one call at a time
    calls = options.parallel if options.parallel == AUTOTUNE else min(options.parallel, cycle)
    ds = ds.interleave(open_file, cycle_length=cycle, num_parallel_calls=calls, deterministic=options.is_deterministic)
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


def parse_batches(ds: tf.data.Dataset, spec: dict, options: ReadOptions, seeder=None) -> tf.data.Dataset:
    """Batches serialized records, then parses each batch with one tf.io.parse_example; with a
    `seeder` ((batch index, records) -> seeds, see decode.image_seeder), yields (features, seeds)."""
    ds = ds.batch(options.batch_size, drop_remainder=options.drop_remainder)
    parallel = dict(num_parallel_calls=options.parallel, deterministic=options.is_deterministic)
    if seeder is None:
        return ds.map(lambda s: tf.io.parse_example(s, spec), **parallel)
    return ds.enumerate().map(lambda i, s: (tf.io.parse_example(s, spec), seeder(i, tf.shape(s)[0])), **parallel)


def augment_batches(ds: tf.data.Dataset, image_key: str, label_key: str | None, augmentation: Augmentation,
                    seed: int, options: ReadOptions) -> tf.data.Dataset:
    """Applies the augmentation to whole batches; batch i's seed is (seed, i) folded, so a seed replays a run."""
    base = tf.constant([seed, BATCH_SEED_SALT], tf.int64)

    def apply(i, d):
        images = to_float(d[image_key]) if augmentation.needs_float else d[image_key]
        images, labels = augmentation(images, d.get(label_key), tf.random.experimental.stateless_fold_in(base, i))
        return {**d, image_key: images, **({label_key: labels} if label_key else {})}

    return ds.enumerate().map(lambda i, d: apply(i, d), num_parallel_calls=options.parallel,
                              deterministic=options.is_deterministic)


def encode_labels(labels: tf.Tensor, label_mode: str, num_classes: int | None) -> tf.Tensor:
    """A batch of class ids as Keras' label_mode encodes them: 'int' as they are, 'categorical' one-hot
    float32, 'binary' float32 of shape (batch, 1). Mixup's soft labels (batch, classes) stay soft."""
    if label_mode == "categorical":
        if labels.shape.rank == 2:
            return tf.cast(labels, tf.float32)
        return tf.one_hot(labels, num_classes, dtype=tf.float32)
    if label_mode == "binary":
        return labels[:, 1:2] if labels.shape.rank == 2 else tf.cast(labels, tf.float32)[:, None]
    return labels


def finish_batches(ds: tf.data.Dataset, image_key: str | None, label_key: str | None,
                   options: ReadOptions, num_classes: int | None = None) -> tf.data.Dataset:
    """Converts images to the output dtype and normalisation, labels to options.label_mode; yields
    (images, labels), images, or a dict."""

    def finish(d):
        if image_key in d:
            d = {**d, image_key: output_images(d[image_key], options.dtype, options.normalize)}
        if label_key in d and options.label_mode not in (None, "int"):
            d = {**d, label_key: encode_labels(d[label_key], options.label_mode, num_classes)}
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
    if options.label_mode is None and options.features is not None:
        raise TfrecError("label_mode=None yields images only, features= the features named: pass one of them")
    label = None if options.label_mode is None else label
    keys = options.features or tuple(f.name for f in (image, label) if f is not None)
    unknown = [k for k in keys if k not in schema]
    if unknown or image is None and options.features is None:
        raise TfrecError(f"schema {schema.name!r} has no feature {(unknown or ['image'])[0]!r}; "
                         f"features: {', '.join(f.name for f in schema.features)}")
    return (image if image is not None and image.name in keys else None,
            label if label is not None and label.name in keys else None, keys)


def _check_label_mode(schema: Schema, label: FeatureSpec | None, options: ReadOptions) -> None:
    if label is None or options.label_mode in (None, "int"):
        return
    names = f": {', '.join(label.names)}" if label.names else ""
    if options.label_mode == "binary" and label.num_classes != 2:
        raise TfrecError(f"label_mode='binary' needs exactly 2 classes (as Keras'); schema {schema.name!r} has "
                         f"{label.num_classes or 'an unknown number of'} classes{names}: use 'categorical' or 'int'")
    if options.label_mode == "categorical" and not label.num_classes:
        raise TfrecError(f"label_mode='categorical' needs the number of classes; feature {label.name!r} of schema "
                         f"{schema.name!r} has no num_classes (give a schema that says it)")


def record_plan(source: Source, options: ReadOptions) -> tuple[list[str], RecordPlan, bool]:
    """This reader's files, what it yields of them (subsets.plan_records), and whether that count is
    certain: dataset.json gives it and no record can be skipped (skip_corrupt off, or every shard
    already found intact in this process).

    Raises:
        TfrecError: too few files for the workers, a validation split that cannot be made, or one
            over a damaged shard with skip_corrupt (skipping would renumber the records it splits).
    """
    files = shard_files(source.files, options.num_shards, options.shard_index)
    plan = plan_records(source.files, files, source.expected, options)
    if plan.keep is not None and options.skip_corrupt:
        for f in files:
            found = check_shard(f, source.compression, source.expected.get(f))
            if not found.intact:
                raise TfrecError(f"{f}: damaged from record {found.index} (byte {found.offset}); validation_split "
                                 "numbers the records to split them, and skipping damaged ones would renumber the "
                                 f"rest: re-convert the shard (`tfrec verify {f}` names the damage), or read it "
                                 "without validation_split")
    certain = plan.records is not None and (not options.skip_corrupt or all(
        known_intact(f, source.compression, source.expected.get(f)) for f in files))
    return files, plan, certain


def batch_count(records: int, options: ReadOptions) -> int:
    """Batches of `records` per epoch over options.repeat's epochs (records repeat before batching)."""
    if options.repeat is True:
        return int(tf.data.INFINITE_CARDINALITY) if records else 0
    total = records * (1 if options.repeat is False else options.repeat)
    return total // options.batch_size if options.drop_remainder else -(-total // options.batch_size)


def build_stages(source: Source, options: ReadOptions, stats: ReadStats,
                 shuffle_files: bool = True, count: bool = True) -> list[tuple[str, tf.data.Dataset]]:
    """The pipeline as named cumulative stages (read, parse, decode, augment, output); the last is the whole.

    Where the count is certain (record_plan) and `count`, each file's records and the batches made
    are asserted (tf.data.experimental.assert_cardinality), so that the dataset has a length (Keras
    then knows an epoch's steps) and a dataset.json that miscounts fails the pass, naming both numbers.

    Raises:
        TfrecError: unknown features, variable-size images without image_size, too few files for the
            workers, a label_mode the labels cannot take, a validation split that cannot be made.
    """
    schema = source.schema
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    if options.task == "detection":  # (images, {boxes, classes, num_boxes}): read/detection.py
        files, plan, certain = record_plan(source, options)
        ds = read_records(files, source.compression, options, stats, source.record_bytes, shuffle_files,
                          source.expected, plan, certain and count)
        stages = [("read", cache_shuffle_repeat(ds, shuffle_buffer_size(source.record_bytes, options), options))]
        image = _pick(schema, "image", "image/encoded")
        stages += detection_stages(stages[-1][1], options, seed, image.shape[2] if image is not None else 3)
        return _finish_stages(stages, plan, certain and count, options)
    image, label, keys = _select_features(schema, options)
    _check_label_mode(schema, label, options)
    label_key = label.name if label is not None else None
    augmentation = options.augment.bind(options.image_size, label.num_classes if label else None)
    files, plan, certain = record_plan(source, options)
    certain = certain and count
    ds = read_records(files, source.compression, options, stats, source.record_bytes, shuffle_files, source.expected,
                      plan, certain)
    stages = [("read", cache_shuffle_repeat(ds, shuffle_buffer_size(source.record_bytes, options), options))]
    spec = {k: v for k, v in schema.parse_spec().items() if k in keys}
    encoded = image is not None and image.encoding != "raw"
    if encoded and options.color_mode:  # decoded straight to the channels asked for, as Keras does
        image = replace(image, shape=(*image.shape[:2], options.channels(image.shape[2])))
    if encoded:
        crop, per_image, augmentation = augmentation.split_per_image()
        if crop is None and options.image_size is None and None in image.shape:
            raise TfrecError(f"{source.files[0]}: images of schema {schema.name!r} vary in size "
                             f"(shape {list(image.shape)}); pass image_size=(height, width) to batch them")
    seeder = image_seeder(seed, crop, per_image) if encoded else None
    stages.append(("parse", parse_batches(stages[-1][1], spec, options, seeder)))
    if image is not None:
        if encoded:
            stages.append(("decode", decode_encoded(stages[-1][1], image, options, crop, per_image)))
        else:
            stages.append(("decode", decode_raw_batches(stages[-1][1], image, options)))
        if augmentation.ops:
            ds = augment_batches(stages[-1][1], image.name, label_key, augmentation, seed, options)
            stages.append(("augment", ds))
    elif augmentation.ops:
        raise TfrecError(f"augmentation {augmentation.name!r} needs the image feature in features=")
    stages.append(("output", finish_batches(stages[-1][1], image.name if image else None, label_key, options,
                                            label.num_classes if label else None)))
    return _finish_stages(stages, plan, certain, options)


def _finish_stages(stages: list, plan: RecordPlan, certain: bool, options: ReadOptions) -> list:
    """The output stage counted (where certain) and prefetched; every stage with the pipeline's tf.data options."""
    out = stages[-1][1]
    if certain:
        out = out.apply(tf.data.experimental.assert_cardinality(batch_count(plan.records, options)))
    stages[-1] = ("output", out.prefetch(AUTOTUNE))
    dopt = tf.data.Options()
    dopt.deterministic = options.is_deterministic
    dopt.experimental_optimization.map_fusion = True  # parse, decode and finish run as one function
    # Making an iterator optimises each map function (about 5 ms each on 2 cores, the DCT-scale
    # branches more); warm start reads records and fills the shuffle buffer meanwhile. The imagenet
    # preset's one-pass ratio to its limit went from 0.84x and 0.88x to 0.91x and 0.93x in two 16-round
    # probes, from 0.86x to 0.895x in benchmarks/read_startup.py (start-up 151 ms to 123).
    # Except where skip_corrupt counts over a fixed number of epochs in file order: with warm start, TF
    # 2.21 opened files for one epoch more than repeat(n) (n >= 2) asks, in 2 to 13 of 20 runs when no
    # shuffle buffer sits between the interleave and the repeat (none did in 20 with one), and the skips
    # the salvaging reader met there were counted for an epoch never delivered.
    epochs = 0 if isinstance(options.repeat, bool) else options.repeat
    dopt.experimental_warm_start = not (options.skip_corrupt and epochs >= 2 and not options.shuffle)
    if options.num_shards > 1:  # sharded here by file: stop tf.distribute from sharding again
        dopt.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return [(name, d.with_options(dopt)) for name, d in stages]


def make_dataset(dataset: Readable, options: ReadOptions | str | None = None, *legacy: int,
                 input_context: tf.distribute.InputContext | None = None, stats: ReadStats | None = None,
                 **overrides: Any) -> tf.data.Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """A tf.data.Dataset of (images, labels) batches read from a tfrec dataset or foreign TFRecords.

    Files are shuffled and interleaved in parallel; records are shuffled in a bounded buffer,
    batched, parsed a batch at a time (tf.io.parse_example) and decoded (raw pixels a batch at
    a time; JPEG/PNG in a parallel map, decoding only the crop window for `random resized crop`
    and at a reduced DCT scale when the window is at least twice the target), augmented a batch
    at a time with stateless random ops, converted and prefetched.

    Args:
        dataset: a dataset opened with tfrec.open_dataset (its dataset.json is not read again), a
            dataset directory or URL (with dataset.json), or foreign TFRecord file(s), glob or directory.
        options: how to read: a ReadOptions, where every option is documented (split, batch_size,
            shuffle, seed, augment, skip_corrupt, label_mode, validation_split, data_service, ...).
            For the calls written before ReadOptions, the split, then the batch size, may be given
            here positionally instead: `make_dataset(path, "train", 32)`.
        input_context: from tf.distribute; sets num_shards, shard_index and the per-replica batch.
        stats: a ReadStats to count skipped records in (default: a new one).
        **overrides: ReadOptions fields, replacing those of `options`: `make_dataset(path, batch_size=64, seed=1)`.

    Returns:
        The dataset (with subset='both', two). Its `read_stats` attribute is the ReadStats, its
        `class_names` the label feature's class names (None without them or without labels), as
        Keras sets them, and its `stages` the pipeline's named cumulative stages ((name, dataset):
        read, parse, decode, augment, output; () on tf.data service), which the benchmarks time one by
        one (keep a reference before chaining transformations, which return datasets without these).
        Where dataset.json's counts apply and no record can be skipped (skip_corrupt off, or every
        shard already found intact in this process), its length is known (`len(ds)`: batches over the
        epochs asked for; infinite with repeat=True) and checked as it is read; foreign files, and
        skip_corrupt before its first pass, leave it unknown.

    Raises:
        TfrecError: bad options, a missing dataset.json or split, unknown features or preset;
            skip_corrupt with data_service (its checking reader runs Python, which workers cannot);
            a label_mode or validation split the dataset cannot give.
        TypeError: an option ReadOptions does not have.
    """
    options = read_options(options, legacy, overrides)
    if input_context is not None:
        if options.num_shards != 1:
            raise TfrecError("give input_context or num_shards/shard_index, not both")
        options = replace(options, num_shards=input_context.num_input_pipelines,
                          shard_index=input_context.input_pipeline_id,
                          batch_size=input_context.get_per_replica_batch_size(options.batch_size))
    stats = stats if stats is not None else ReadStats()  # with subset='both', the two datasets' sum
    schema = options.schema
    if schema is None and options.task == "detection" and not isinstance(dataset, Dataset) and not is_dataset(dataset):
        schema = FOREIGN_SCHEMA  # foreign files: the reader knows the Object Detection API's keys
    source = resolve_source(dataset, options.split, schema, stats if options.skip_corrupt else None)
    label = _pick(source.schema, "class_label", "label")
    if options.features is None and options.label_mode is not None and label is None and options.task != "detection":
        warnings.warn(f"schema {source.schema.name!r} has no class_label feature: make_dataset yields images only, "
                      "not (images, labels) (pass features=[...] for dicts of named features)", stacklevel=2)
    if options.subset != "both":
        return _dataset(source, options, stats)
    # As Keras' "both": the validation dataset is read in order, once, without augmentation.
    held_out = replace(options, subset="validation", shuffle=False, repeat=False, augment=None)
    return _dataset(source, replace(options, subset="training"), stats), _dataset(source, held_out, stats)


_POSITIONAL = ("split", "batch_size")  # make_dataset(path, split, batch_size), as called before ReadOptions
_FIELDS = frozenset(f.name for f in fields(ReadOptions))


def read_options(options: ReadOptions | str | None = None, legacy: Sequence[Any] = (),
                 overrides: Mapping[str, Any] | None = None) -> ReadOptions:
    """make_dataset's options: `options` (a ReadOptions; or the split, then `legacy` the batch size) with
    `overrides` (ReadOptions fields) replacing its fields.

    Raises:
        TypeError: an unknown option, an option given twice, a positional argument too many.
        TfrecError: a bad value (ReadOptions checks itself).
    """
    overrides = dict(overrides or {})
    if isinstance(options, str):
        if len(legacy) > len(_POSITIONAL) - 1:
            raise TypeError(f"make_dataset() takes the split and batch_size positionally, not {len(legacy) + 1} "
                            "values: give the others as keywords (ReadOptions' fields)")
        given = dict(zip(_POSITIONAL, (options, *legacy)))
        twice = sorted(set(given) & set(overrides))
        if twice:
            raise TypeError(f"make_dataset() got multiple values for argument {twice[0]!r}")
        overrides, options = {**given, **overrides}, None
    elif legacy:
        raise TypeError("make_dataset(dataset, options, **overrides): give a ReadOptions, or the split and "
                        "batch_size, positionally, not both")
    if options is not None and not isinstance(options, ReadOptions):
        raise TypeError(f"make_dataset() options: expected a ReadOptions or a split name, found {options!r}")
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise TypeError(f"make_dataset() got an unexpected keyword argument {unknown[0]!r} (ReadOptions has no "
                        f"such field; fields: {', '.join(sorted(_FIELDS))})")
    base = options or ReadOptions()
    return replace(base, **overrides) if overrides else base


def _dataset(source: Source, options: ReadOptions, stats: ReadStats) -> tf.data.Dataset:
    """The whole pipeline (here, or on tf.data service workers), with read_stats, class_names and stages set."""
    if options.data_service is None:
        stages = tuple(build_stages(source, options, stats))
        ds = stages[-1][1]
    else:
        stages = ()
        ds = _served(source, options, stats)
    label = _pick(source.schema, "class_label", "label") if options.label_mode is not None else None
    ds.stages = stages
    ds.read_stats = stats
    ds.class_names = list(label.names) if label is not None and label.names else None
    if options.task == "detection":  # id -> name from label_map.pbtxt beside the data (None without one)
        ds.label_map = label_map_of(source.files)
    return ds


def _served(source: Source, options: ReadOptions, stats: ReadStats) -> tf.data.Dataset:
    """The whole pipeline, up to finished batches, run on tf.data service workers; see service.distribute."""
    from . import service as S

    mode = options.processing_mode
    whole_epoch = mode == "distributed_epoch"
    # Workers keep their short last batches; the client re-cuts batches and applies drop_remainder.
    on_workers = replace(options, drop_remainder=False) if whole_epoch else options
    if whole_epoch and options.shuffle:  # the dispatcher hands out files in list order: shuffle the list
        files = list(source.files)
        random.Random(options.seed).shuffle(files) if options.seed is not None else random.SystemRandom().shuffle(files)
        source = replace(source, files=tuple(files))
    epochs = 1 if options.repeat is False else None if options.repeat is True else options.repeat
    _, plan, certain = record_plan(source, options)
    expected = (plan.records * epochs if whole_epoch and epochs and plan.records is not None
                and options.num_shards == 1 else None)
    # The workers' pipelines go uncounted: under distributed_epoch each reads only the files it is handed.
    ds = S.distribute(build_stages(source, on_workers, stats, not whole_epoch, count=False)[-1][1],
                      options.data_service, mode, options.batch_size, options.drop_remainder, expected,
                      options.data_service_timeout)
    if expected is not None and certain:  # the client re-cut the batches: their number is known
        ds = ds.apply(tf.data.experimental.assert_cardinality(batch_count(plan.records, options)))
    return ds


def augmented_samples(path: Readable, preset: str, n: int = 16, seed: int = 0,
                      split: str = "train") -> tuple[list[np.ndarray], list[int]]:
    """n augmented images (H x W x C uint8) and their labels, for a contact sheet of a preset.

    Variable-size images come out at 224 x 224 (or the preset's crop size).
    """
    dataset = open_dataset(path) if is_dataset(path) else path  # dataset.json is read once
    image = _pick(resolve_source(dataset, split).schema, "image", "image")
    size = (224, 224) if image is not None and None in image.shape else None
    ds = make_dataset(dataset, split=split, batch_size=n, shuffle=True, seed=seed, augment=preset, dtype="uint8",
                      image_size=size, repeat=True)
    images, labels = next(iter(ds.take(1)))
    labels = labels.numpy()
    labels = labels.argmax(-1) if labels.ndim == 2 else labels
    return list(images.numpy()), [int(v) for v in labels]


def augmented_detection_samples(path: Readable, preset: str, n: int = 16, seed: int = 0,
                                split: str = "train") -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """n (image H x W x C uint8, boxes [k, 4], classes [k]) of detection records through a preset (224 x 224),
    the boxes moved with the pixels: for a contact sheet of a preset on a detection dataset."""
    dataset = open_dataset(path) if is_dataset(path) else path
    ds = make_dataset(dataset, split=split, task="detection", batch_size=n, shuffle=True, seed=seed, augment=preset,
                      dtype="uint8", image_size=(224, 224), repeat=True)
    images, targets = next(iter(ds.take(1)))
    counts = targets["num_boxes"].numpy()
    return [(images[i].numpy(), targets["boxes"][i, :k].numpy(), targets["classes"][i, :k].numpy())
            for i, k in enumerate(counts)]
