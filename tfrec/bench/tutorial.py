"""The tutorial pipeline, the baseline tfrec is measured against: one record at a time, as the classic tutorials teach.

`TFRecordDataset(files)` -> `map(parse_single_example)` -> decode each image -> augment each image ->
`batch` -> `prefetch`, with `num_parallel_calls=AUTOTUNE` on the maps (as the tutorials write it).
The augmentation is the same preset as tfrec's, applied to each image alone, so that the two
pipelines do the same work and differ only in how they are built.
"""
from __future__ import annotations

import tensorflow as tf

from ..read.augment import get_augmentation, to_float
from ..read.inputs import Source

AUTOTUNE = tf.data.AUTOTUNE
_COMPRESSION = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}


def _keys(source: Source) -> tuple[str, str | None]:
    image = next(f for f in source.schema.features if f.kind == "image")
    label = next((f for f in source.schema.features if f.kind == "class_label"), None)
    return image.name, label.name if label is not None else None


def tutorial_stages(source: Source, batch_size: int, augment: str = "none", image_size: tuple[int, int] | None = None,
                    repeat: bool = False, seed: int = 0) -> list[tuple[str, tf.data.Dataset]]:
    """The tutorial pipeline as cumulative stages (read, parse, decode, augment, output), each batched
    so that it can be timed alone; the last is the whole pipeline, yielding (images, labels)."""
    image_key, label_key = _keys(source)
    feature = source.schema[image_key]
    spec = {k: v for k, v in source.schema.parse_spec().items() if k in (image_key, label_key)}
    label = source.schema[label_key] if label_key else None
    augmentation = get_augmentation(augment).bind(image_size, label.num_classes if label else None)
    crop = bool(augmentation.ops) and hasattr(augmentation.ops[0], "window")  # a random resized crop sizes the image

    def decode(ex):
        if feature.encoding == "raw":
            img = tf.reshape(tf.io.decode_raw(ex[image_key], tf.uint8), list(feature.shape))
        else:
            img = tf.io.decode_image(ex[image_key], channels=feature.shape[-1] or 3, expand_animations=False)
        img = tf.cast(img, tf.float32) / 255.0
        if image_size is not None and not crop:
            img = tf.image.resize(img, image_size)
        return img, ex[label_key] if label_key else tf.constant(0, tf.int64)

    def augment_one(i, sample):
        img, lab = sample
        s = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0x7070], tf.int64), i)
        images, labels = augmentation(img[None], lab[None], s)
        return to_float(images)[0], labels[0]

    read = tf.data.TFRecordDataset(list(source.files), _COMPRESSION[source.compression])
    if repeat:
        read = read.repeat()
    parsed = read.map(lambda s: tf.io.parse_single_example(s, spec), num_parallel_calls=AUTOTUNE)
    decoded = parsed.map(decode, num_parallel_calls=AUTOTUNE)
    stages = [("read", read), ("parse", parsed), ("decode", decoded)]
    if augmentation.ops:
        stages.append(("augment", decoded.enumerate().map(augment_one, num_parallel_calls=AUTOTUNE)))
    out = stages[-1][1].batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)
    # Every stage but the output is per record: batched here (a cheap op) so that each can be timed in batches.
    return [(name, ds.batch(batch_size)) for name, ds in stages] + [("output", out)]
