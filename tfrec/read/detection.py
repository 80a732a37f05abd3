"""The detection reader: images with their boxes (the Object Detection API's keys), box-aware augmentation, padded batches.

make_dataset(..., task="detection") yields (images, targets) batches:
- images [B, H, W, C] as the classification reader gives them (dtype, normalize, image_size, fit);
- targets['boxes'] [B, N, 4] float32, normalised (ymin, xmin, ymax, xmax) as the Object Detection
  API orders them, zero-padded; targets['classes'] [B, N] int64, 1-based, 0 = padding;
  targets['num_boxes'] [B] int32, the real boxes per image; with instance_masks,
  targets['masks'] [B, N, H, W] uint8. N is max_boxes when given (an image with more keeps its first
  max_boxes), else the most boxes of an image in that batch; ragged_boxes=True gives boxes and
  classes (and masks) as tf.RaggedTensor instead, unpadded.
Box-aware augmentation: a leading RandomResizedCrop picks its window before decoding (as for
classification: only the window of a JPEG is decoded) and the boxes move into it: a box is kept,
clipped to the window, while at least min_box_visible (MIN_BOX_VISIBLE, 25%) of its area remains
inside, else dropped (with its class and mask); boxes of zero area are dropped. fit='crop' (centred
window) moves boxes the same way, fit='pad' scales and offsets them, 'stretch' keeps them (they are
normalised). RandomFlip flips boxes (and masks) with the pixels. Colour ops (brightness, contrast,
saturation, hue, standardize) apply to the batch as they are. RandomCrop and Mixup do not move boxes
and are refused: of the presets, 'none' and 'imagenet' (random resized crop + horizontal flip) apply.
"""
from __future__ import annotations

from typing import Sequence

from .._tfimport import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's first import: without its C++ start-up banner
import tensorflow as tf  # noqa: E402

from ..check.detection import BOX_KEYS, IMAGE_KEY, LABEL_KEY, MASK_KEY, label_map_beside, read_label_map  # noqa: E402
from ..errors import TfrecError  # noqa: E402
from .augment import DEFAULT_CROP_SIZE, RandomFlip, RandomResizedCrop, to_float  # noqa: E402
from .decode import center_window, decode_any, decode_jpeg_window, image_seeder  # noqa: E402
from .options import BATCH_SEED_SALT, ReadOptions  # noqa: E402

# The schema of foreign detection files read without one: what this reader parses (tf_example_decoder's keys).
FOREIGN_SCHEMA = {
    "name": "detection",
    "description": "foreign TFRecords with the Object Detection API's keys (read by make_dataset(task='detection'))",
    "features": {
        IMAGE_KEY: {"kind": "image", "encoding": "encoded", "dtype": "uint8", "shape": [None, None, 3]},
        **{k: {"kind": "float", "shape": [None]} for k in BOX_KEYS},
        LABEL_KEY: {"kind": "int64", "shape": [None]},
    },
}


def parse_spec(masks: bool) -> dict:
    """The keys the reader parses, with the Object Detection API decoder's types and defaults."""
    spec = {IMAGE_KEY: tf.io.FixedLenFeature((), tf.string, default_value=""),
            **{k: tf.io.VarLenFeature(tf.float32) for k in BOX_KEYS},
            LABEL_KEY: tf.io.VarLenFeature(tf.int64)}
    if masks:
        spec[MASK_KEY] = tf.io.VarLenFeature(tf.string)
    return spec


def split_augmentation(options: ReadOptions):
    """(leading RandomResizedCrop or None, flips per image, colour ops for batches) of options.augment.

    Raises:
        TfrecError: an op that would move pixels without the boxes (RandomCrop, Mixup, a custom geometric op).
    """
    crop, per_image, rest = options.augment.bind(options.image_size, None).split_per_image()
    bad = [op for op in per_image if not isinstance(op, RandomFlip)]
    bad += [op for op in rest.ops if getattr(op, "geometric", True) or type(op).__name__ == "Mixup"]
    if bad:
        raise TfrecError(f"augmentation {options.augment.name!r}: {type(bad[0]).__name__} does not move boxes with "
                         "the pixels; for task='detection' use the presets 'none' or 'imagenet', or a leading "
                         "RandomResizedCrop, RandomFlip and colour ops (brightness, contrast, saturation, hue, "
                         "standardize)")
    return crop, per_image, rest


def crop_boxes(boxes: tf.Tensor, window: tf.Tensor, shape: tf.Tensor, min_visible: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Boxes [n, 4] (normalised to an image of `shape` [H, W]) moved into `window` [y, x, h, w] (pixels),
    and which are kept: clipped to the window while at least min_visible of their area stays in it."""
    hw = tf.cast(tf.stack([shape[0], shape[1], shape[0], shape[1]]), tf.float32)
    win = tf.cast(window, tf.float32)
    rel = (boxes * hw - tf.stack([win[0], win[1], win[0], win[1]])) / tf.stack([win[2], win[3], win[2], win[3]])
    clipped = tf.clip_by_value(rel, 0.0, 1.0)
    area = (rel[:, 2] - rel[:, 0]) * (rel[:, 3] - rel[:, 1])
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    return clipped, (visible > 0) & (visible >= min_visible * area)


def pad_boxes(boxes: tf.Tensor, shape: tf.Tensor, target: Sequence[int]) -> tf.Tensor:
    """Boxes moved as tf.image.resize_with_pad moves the pixels of an image of `shape` to `target` (its arithmetic)."""
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    th, tw = float(target[0]), float(target[1])
    ratio = tf.maximum(w / tw, h / th)
    nh, nw = tf.floor(h / ratio), tf.floor(w / ratio)
    oy, ox = tf.maximum(0.0, tf.floor((th - h / ratio) / 2)), tf.maximum(0.0, tf.floor((tw - w / ratio) / 2))
    return (boxes * tf.stack([nh, nw, nh, nw]) + tf.stack([oy, ox, oy, ox])) / tf.constant([th, tw, th, tw])


def _dct_window(window: tf.Tensor, target: Sequence[int]) -> tf.Tensor:
    """The window decode_jpeg_window decodes in full-size pixels: at DCT scale 1/r its corner and size
    are rounded down to multiples of r (the same choice of r as there)."""
    y, x, h, w = tf.unstack(window)
    fit = tf.minimum(h // target[0], w // target[1])
    r = tf.where(fit >= 8, 8, tf.where(fit >= 4, 4, tf.where(fit >= 2, 2, 1)))
    return tf.stack([y // r * r, x // r * r, tf.maximum(h // r, 1) * r, tf.maximum(w // r, 1) * r])


def _window(shape: tf.Tensor, seed, crop: RandomResizedCrop | None, fit: str, target: Sequence[int]) -> tf.Tensor:
    if crop is not None:
        return crop.window(shape, seed)
    if fit == "crop":
        return center_window(shape, target)
    return tf.stack([0, 0, shape[0], shape[1]])


def _decode_image(encoded: tf.Tensor, channels: int, crop, fit: str, target: Sequence[int], seed):
    """(the image resized to target, float32 in [0, 255]; the window decoded [y, x, h, w]; the image's [H, W]).

    JPEGs decode only their window, DCT-scaled, as the classification reader decodes them."""
    whole = crop is None and fit == "stretch"

    def jpeg():
        full = tf.io.extract_jpeg_shape(encoded)
        shape, win = full[:2], _window(full, seed, crop, fit, target)
        img = decode_jpeg_window(encoded, win, target, min(channels, 3), whole)
        img = tf.concat([img, tf.fill(tf.concat([tf.shape(img)[:-1], [1]], 0), tf.constant(255, tf.uint8))],
                        -1) if channels == 4 else img
        return tf.image.resize(tf.cast(img, tf.float32), target), _dct_window(win, target), shape

    def other():
        img = decode_any(encoded, channels)
        shape, win = tf.shape(img)[:2], _window(tf.shape(img), seed, crop, fit, target)
        y, x, h, w = tf.unstack(win)
        return tf.image.resize(tf.cast(img[y: y + h, x: x + w], tf.float32), target), win, shape

    if crop is None and fit == "pad":
        img = decode_any(encoded, channels)
        shape = tf.shape(img)[:2]
        return tf.image.resize_with_pad(tf.cast(img, tf.float32), *target), tf.stack([0, 0, shape[0], shape[1]]), shape
    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def _decode_masks(masks: tf.Tensor, window: tf.Tensor, shape: tf.Tensor, target: Sequence[int], pad: bool) -> tf.Tensor:
    """PNG masks [n] -> [n, th, tw] uint8: the window cut out and resized (nearest neighbour) as the pixels are."""
    size = tf.concat([[tf.shape(masks)[0]], shape, [1]], 0)
    decoded = tf.cond(  # map_fn cannot stack an empty list of unknown shape
        tf.size(masks) > 0,
        lambda: tf.map_fn(lambda m: tf.image.decode_png(m, channels=1), masks,
                          fn_output_signature=tf.TensorSpec([None, None, 1], tf.uint8)),
        lambda: tf.zeros(size, tf.uint8))
    decoded = tf.reshape(decoded, size)
    y, x, h, w = tf.unstack(window)
    cut = decoded[:, y: y + h, x: x + w]
    method = tf.image.ResizeMethod.NEAREST_NEIGHBOR
    out = (tf.image.resize_with_pad(cut, *target, method=method) if pad
           else tf.image.resize(cut, target, method=method))
    return tf.cast(out[..., 0], tf.uint8)


def _flip(image, boxes, masks, seed, op: RandomFlip):
    """RandomFlip on one image with its boxes [n, 4] and masks [n, H, W] (or None)."""
    on = [(axis, idx) for axis, idx, flag in ((1, (0, 3, 2, 1), op.horizontal), (0, (2, 1, 0, 3), op.vertical))
          if flag]
    draws = tf.unstack(tf.random.stateless_uniform([len(on)], seed) < 0.5) if on else []
    for (axis, order), flip in zip(on, draws):
        image = tf.cond(flip, lambda img=image, a=axis: tf.reverse(img, [a]), lambda img=image: img)
        mirrored = tf.gather(boxes, order, axis=1) * tf.constant([1, -1, 1, -1] if axis == 1 else [-1, 1, -1, 1],
                                                              tf.float32)
        mirrored += tf.constant([0, 1, 0, 1] if axis == 1 else [1, 0, 1, 0], tf.float32)
        boxes = tf.where(flip, mirrored, boxes)
        if masks is not None:
            masks = tf.cond(flip, lambda m=masks, a=axis: tf.reverse(m, [a + 1]), lambda m=masks: m)
    return image, boxes, masks


def example_decoder(options: ReadOptions, channels: int, crop: RandomResizedCrop | None, flips: Sequence[RandomFlip]):
    """(parsed record, seeds) -> {image, boxes, classes, num_boxes[, masks]} for one record at the target size."""
    target = crop.size if crop is not None else options.image_size
    unit = options.dtype == "float32"
    pad = crop is None and options.fit == "pad"

    def decode(d, seeds=None):
        seeds = [None] * (1 + len(flips)) if seeds is None else tf.unstack(seeds, 1 + len(flips))
        image, window, shape = _decode_image(d[IMAGE_KEY], channels, crop, options.fit, target, seeds[0])
        boxes, classes = d["boxes"], d["classes"]
        if pad:
            boxes, keep = pad_boxes(boxes, shape, target), (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        else:
            boxes, keep = crop_boxes(boxes, window, shape, options.min_box_visible)
        boxes, classes = tf.boolean_mask(boxes, keep), tf.boolean_mask(classes, keep)
        masks = None
        if options.instance_masks:
            masks = _decode_masks(tf.boolean_mask(d[MASK_KEY], keep), window, shape, target, pad)
        for k, op in enumerate(flips):
            image, boxes, masks = _flip(image, boxes, masks, seeds[k + 1], op)
        if options.max_boxes is not None:
            boxes, classes = boxes[: options.max_boxes], classes[: options.max_boxes]
            masks = masks[: options.max_boxes] if masks is not None else None
        image = image * (1 / 255) if unit else tf.cast(tf.clip_by_value(image + 0.5, 0, 255), tf.uint8)
        out = {"image": tf.ensure_shape(image, [*target, channels]), "boxes": boxes, "classes": classes,
               "num_boxes": tf.shape(boxes)[0]}
        return {**out, "masks": masks} if masks is not None else out

    return decode


def _parse(serialized: tf.Tensor, masks: bool) -> dict:
    """A batch of serialized records -> the image bytes, boxes [B, None, 4] and classes [B, None] (ragged)."""
    f = tf.io.parse_example(serialized, parse_spec(masks))
    cols = [tf.RaggedTensor.from_sparse(f[k]) for k in BOX_KEYS]
    boxes = tf.stack(cols, axis=-1)
    classes = tf.RaggedTensor.from_sparse(f[LABEL_KEY])
    # A record whose lists disagree (verify names it) is cut to its shortest list rather than failing the batch.
    n = tf.minimum(tf.reduce_min(tf.stack([c.row_lengths() for c in cols]), axis=0), classes.row_lengths())
    out = {IMAGE_KEY: f[IMAGE_KEY], "boxes": _cut(boxes, n), "classes": _cut(classes, n)}
    if masks:
        out[MASK_KEY] = _cut(tf.RaggedTensor.from_sparse(f[MASK_KEY]), n)
    return out


def _cut(ragged: tf.RaggedTensor, n: tf.Tensor) -> tf.RaggedTensor:
    """Each row's first n[i] values."""
    keep = tf.ragged.range(ragged.row_lengths()) < tf.expand_dims(n, 1)
    return tf.ragged.boolean_mask(ragged, keep)


def _batch(ds: tf.data.Dataset, options: ReadOptions, channels: int, target: Sequence[int]) -> tf.data.Dataset:
    if options.ragged_boxes:
        return ds.ragged_batch(options.batch_size, drop_remainder=options.drop_remainder)
    n = options.max_boxes
    shapes = {"image": [*target, channels], "boxes": [n, 4], "classes": [n], "num_boxes": []}
    if options.instance_masks:
        shapes["masks"] = [n, *target]
    return ds.padded_batch(options.batch_size, padded_shapes=shapes, drop_remainder=options.drop_remainder)


def detection_stages(ds: tf.data.Dataset, options: ReadOptions, seed: int,
                     channels: int = 3) -> list[tuple[str, tf.data.Dataset]]:
    """The parse, decode, augment and output stages after the read stage (serialized records).

    Raises:
        TfrecError: no image_size without a random crop; an augmentation that would not move boxes.
    """
    crop, flips, colour = split_augmentation(options)
    if crop is None and options.image_size is None:
        raise TfrecError("task='detection' batches images of one size: pass image_size=(height, width) (boxes are "
                         f"normalised, so they follow any resize), or augment='imagenet' ({DEFAULT_CROP_SIZE}x"
                         f"{DEFAULT_CROP_SIZE} crops)")
    target = crop.size if crop is not None else options.image_size
    channels = options.channels(channels)
    seeder = image_seeder(seed, crop, flips)
    parallel = dict(num_parallel_calls=options.parallel, deterministic=options.is_deterministic)
    batched = ds.batch(options.batch_size, drop_remainder=options.drop_remainder)
    if seeder is None:
        parsed = batched.map(lambda s: _parse(s, options.instance_masks), **parallel)
    else:
        parsed = batched.enumerate().map(lambda i, s: (_parse(s, options.instance_masks), seeder(i, tf.shape(s)[0])),
                                         **parallel)
    decode = example_decoder(options, channels, crop, flips)
    calls = dict(num_parallel_calls=options.decode_parallel(target[0] * target[1] * channels * 4),
                 deterministic=options.is_deterministic)
    one = parsed.unbatch().map(decode, **calls)  # (record) or (record, seeds): decode takes either
    stages = [("parse", parsed), ("decode", _batch(one, options, channels, target))]
    if colour.ops:
        base = tf.constant([seed, BATCH_SEED_SALT], tf.int64)

        def apply(i, d):
            images, _ = colour(to_float(d["image"]), None, tf.random.experimental.stateless_fold_in(base, i))
            return {**d, "image": images}

        stages.append(("augment", stages[-1][1].enumerate().map(apply, **parallel)))
    stages.append(("output", stages[-1][1].map(lambda d: finish(d, options), **parallel)))
    return stages


def finish(d: dict, options: ReadOptions):
    """(images in the output dtype and normalisation, {'boxes', 'classes', 'num_boxes'[, 'masks']})."""
    img = d["image"]
    if options.dtype == "uint8":
        img = img if img.dtype == tf.uint8 else tf.image.convert_image_dtype(img, tf.uint8, saturate=True)
    else:
        img = to_float(img)
        if options.normalize == "standardize":
            img = tf.image.per_image_standardization(img)
    targets = {k: d[k] for k in ("boxes", "classes", "num_boxes", "masks") if k in d}
    if options.drop_remainder:
        img = tf.ensure_shape(img, [options.batch_size, *img.shape[1:]])
    return img, targets


def label_map_of(files: Sequence[str]) -> dict[int, str] | None:
    """id -> name of the label_map.pbtxt beside the first file (a dataset's, beside dataset.json), or None.

    Raises:
        TfrecError: the label map cannot be read (its path and line).
    """
    found = label_map_beside(files[0]) if files else None
    return read_label_map(found) if found else None
