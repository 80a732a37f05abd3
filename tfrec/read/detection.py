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
from .augment import DEFAULT_CROP_SIZE, RandomFlip, RandomResizedCrop, output_images, to_float  # noqa: E402
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
    """Boxes [..., 4] (normalised to an image of `shape` [..., 2] = H, W) moved into `window` [..., 4] = y, x, h, w
    (pixels), and which are kept: clipped to the window while at least min_visible of their area stays in it
    (boxes of no area are dropped). Shapes broadcast: one image ([n, 4], [4], [2]) or a batch ([B, N, 4],
    [B, 1, 4], [B, 1, 2])."""
    win = tf.cast(window, tf.float32)
    hw = tf.cast(tf.concat([shape, shape], -1), tf.float32)
    rel = (boxes * hw - tf.concat([win[..., :2], win[..., :2]], -1)) / tf.concat([win[..., 2:], win[..., 2:]], -1)
    clipped = tf.clip_by_value(rel, 0.0, 1.0)
    area = (rel[..., 2] - rel[..., 0]) * (rel[..., 3] - rel[..., 1])
    visible = (clipped[..., 2] - clipped[..., 0]) * (clipped[..., 3] - clipped[..., 1])
    return clipped, (visible > 0) & (visible >= min_visible * area)


def pad_boxes(boxes: tf.Tensor, shape: tf.Tensor, target: Sequence[int]) -> tf.Tensor:
    """Boxes [..., 4] moved as tf.image.resize_with_pad moves the pixels of an image of `shape` [..., 2] to
    `target` (its arithmetic); shapes broadcast as in crop_boxes."""
    size = tf.cast(shape, tf.float32)
    goal = tf.constant([float(target[0]), float(target[1])])
    ratio = tf.reduce_max(size / goal, axis=-1, keepdims=True)
    resized = size / ratio
    offset = tf.maximum(0.0, tf.floor((goal - resized) / 2))
    return (boxes * tf.concat([tf.floor(resized)] * 2, -1) + tf.concat([offset] * 2, -1)) / tf.concat([goal] * 2, -1)


def flip_boxes(boxes: tf.Tensor, flipped: tf.Tensor, horizontal: bool) -> tf.Tensor:
    """Boxes [..., N, 4] mirrored left-right (or upside-down) where `flipped` [...] is true."""
    order, sign, shift = ((0, 3, 2, 1), (1, -1, 1, -1), (0, 1, 0, 1)) if horizontal else \
        ((2, 1, 0, 3), (-1, 1, -1, 1), (1, 0, 1, 0))
    mirrored = tf.gather(boxes, order, axis=-1) * tf.constant(sign, tf.float32) + tf.constant(shift, tf.float32)
    return tf.where(flipped[..., None, None], mirrored, boxes)


def dct_windows(windows: tf.Tensor, target: Sequence[int]) -> tf.Tensor:
    """The windows [..., 4] that decode_jpeg_window decodes, in full-size pixels: at DCT scale 1/r a
    window's corner and size are rounded down to multiples of r (r chosen as there)."""
    y, x, h, w = tf.unstack(windows, axis=-1)
    fit = tf.minimum(h // target[0], w // target[1])
    r = tf.where(fit >= 8, 8, tf.where(fit >= 4, 4, tf.where(fit >= 2, 2, 1)))
    return tf.stack([y // r * r, x // r * r, tf.maximum(h // r, 1) * r, tf.maximum(w // r, 1) * r], axis=-1)


def _window(shape: tf.Tensor, seed, crop: RandomResizedCrop | None, fit: str, target: Sequence[int]) -> tf.Tensor:
    if crop is not None:
        return crop.window(shape, seed)
    if fit == "crop":
        return center_window(shape, target)
    return tf.stack([0, 0, shape[0], shape[1]])


def _decode_image(encoded: tf.Tensor, channels: int, crop, fit: str, target: Sequence[int], seed):
    """(the image resized to target, float32 in [0, 255]; the window [y, x, h, w]; the image's [H, W]; whether
    the window was decoded DCT-scaled, see dct_windows).

    JPEGs decode only their window, DCT-scaled, as the classification reader decodes them."""
    whole = crop is None and fit == "stretch"

    def jpeg():
        full = tf.io.extract_jpeg_shape(encoded)
        shape, win = full[:2], _window(full, seed, crop, fit, target)
        img = decode_jpeg_window(encoded, win, target, min(channels, 3), whole)
        img = tf.concat([img, tf.fill(tf.concat([tf.shape(img)[:-1], [1]], 0), tf.constant(255, tf.uint8))],
                        -1) if channels == 4 else img
        return tf.image.resize(tf.cast(img, tf.float32), target), win, shape, tf.constant(not whole)

    def other():
        img = decode_any(encoded, channels)
        shape, win = tf.shape(img)[:2], _window(tf.shape(img), seed, crop, fit, target)
        y, x, h, w = tf.unstack(win)
        return tf.image.resize(tf.cast(img[y: y + h, x: x + w], tf.float32), target), win, shape, tf.constant(False)

    if crop is None and fit == "pad":
        img = decode_any(encoded, channels)
        shape = tf.shape(img)[:2]
        whole_image = tf.stack([0, 0, shape[0], shape[1]])
        return tf.image.resize_with_pad(tf.cast(img, tf.float32), *target), whole_image, shape, tf.constant(False)
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


def _flip_axes(flips: Sequence[RandomFlip]) -> list[bool]:
    """The flips' axes in the order their draws come: True horizontal, False vertical."""
    return [h for op in flips for h, on in ((True, op.horizontal), (False, op.vertical)) if on]


def example_decoder(options: ReadOptions, channels: int, crop: RandomResizedCrop | None, flips: Sequence[RandomFlip]):
    """(serialized record, seeds) -> its image decoded at the target size (and flipped), the window and image
    size its boxes need, the flips drawn, its masks (if asked) cut, resized and flipped alike, and the record.

    Only the pixels are handled here, one image at a time: the record's boxes are parsed and moved a batch
    at a time (move_boxes). Carrying each record's variable-length lists through this per-image map and
    batching them ragged (or padded) cost ~250 CPU us per image more than the classification reader
    (about 500x375 JPEGs to 224, benchmarks/read_detection.py); carrying the serialized record costs a
    second parse of it per batch."""
    target = crop.size if crop is not None else options.image_size
    unit = options.dtype == "float32"
    pad = crop is None and options.fit == "pad"
    axes = _flip_axes(flips)

    def decode(record, seeds=None):
        seeds = [None] * (1 + len(flips)) if seeds is None else tf.unstack(seeds, 1 + len(flips))
        d = tf.io.parse_single_example(record, _image_spec(options.instance_masks))
        image, window, shape, dct = _decode_image(d[IMAGE_KEY], channels, crop, options.fit, target, seeds[0])
        draws = [tf.unstack(tf.random.stateless_uniform([len(_flip_axes([op]))], seeds[k + 1]) < 0.5)
                 for k, op in enumerate(flips)]  # as RandomFlip.per_image draws them
        draws = [x for row in draws for x in row]
        masks = None
        if options.instance_masks:  # as many as the record's objects (_parse's n: the shortest list)
            n = tf.reduce_min(tf.stack([tf.size(v) for k, v in d.items() if k != IMAGE_KEY]))
            cut = tf.where(dct, dct_windows(window, target), window)
            masks = _decode_masks(d[MASK_KEY][:n], cut, shape, target, pad)
        for horizontal, flip in zip(axes, draws):
            axis = 1 if horizontal else 0
            image = tf.cond(flip, lambda img=image, a=axis: tf.reverse(img, [a]), lambda img=image: img)
            if masks is not None:
                masks = tf.cond(flip, lambda m=masks, a=axis: tf.reverse(m, [a + 1]), lambda m=masks: m)
        image = image * (1 / 255) if unit else tf.cast(tf.clip_by_value(image + 0.5, 0, 255), tf.uint8)
        out = {"image": tf.ensure_shape(image, [*target, channels]), "record": record, "window": window, "dct": dct,
               "shape": shape, "flips": tf.stack(draws) if draws else tf.zeros([0], bool)}
        return {**out, "masks": masks} if masks is not None else out

    return decode


def move_boxes(d: dict, options: ReadOptions, crop: RandomResizedCrop | None, flips: Sequence[RandomFlip]) -> dict:
    """A batch's boxes moved as its pixels were (window or padding, then flips), those left out dropped, the rest
    moved to the front of each row, and everything padded (zeros; class 0) to max_boxes or the row with most."""
    d = {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in d.items()}  # masks: see _batch
    parsed = _parse(d["record"])
    boxes, classes, n = parsed["boxes"], parsed["classes"], parsed["n"]
    valid = tf.range(tf.shape(boxes)[1])[None] < n[:, None]
    shape = d["shape"][:, None]
    if crop is None and options.fit == "pad":
        keep = valid & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
        boxes = pad_boxes(boxes, shape, options.image_size)
    else:
        target = crop.size if crop is not None else options.image_size
        window = tf.where(d["dct"][:, None], dct_windows(d["window"], target), d["window"])
        boxes, keep = crop_boxes(boxes, window[:, None], shape, options.min_box_visible)
        keep &= valid
    for k, horizontal in enumerate(_flip_axes(flips)):
        boxes = flip_boxes(boxes, d["flips"][:, k], horizontal)
    order = tf.argsort(tf.cast(~keep, tf.int32), axis=1, stable=True)  # kept boxes first, in their order
    num = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
    width = options.max_boxes if options.max_boxes is not None else tf.reduce_max(tf.concat([num, [0]], 0))
    num = tf.minimum(num, width)
    real = tf.range(width)[None] < num[:, None]
    out = {"boxes": tf.where(real[..., None], _fit(tf.gather(boxes, order, batch_dims=1), width), 0.0),
           "classes": tf.where(real, _fit(tf.gather(classes, order, batch_dims=1), width), tf.constant(0, tf.int64)),
           "num_boxes": num}
    if "masks" in d:
        masks = _fit(tf.gather(_fit(d["masks"], tf.shape(boxes)[1]), order, batch_dims=1), width)
        out["masks"] = tf.where(real[..., None, None], masks, tf.constant(0, tf.uint8))
    if options.ragged_boxes:
        out = {k: v if k == "num_boxes" else tf.RaggedTensor.from_tensor(v, lengths=num) for k, v in out.items()}
    return {"image": d["image"], **out}


def _fit(x: tf.Tensor, width) -> tf.Tensor:
    """x [B, N, ...] cut or zero-padded to N = width on axis 1."""
    x = x[:, :width]
    pad = [[0, 0], [0, tf.maximum(width - tf.shape(x)[1], 0)]] + [[0, 0]] * (x.shape.rank - 2)
    return tf.pad(x, pad)


def _parse(serialized: tf.Tensor) -> dict:
    """A batch of serialized records -> boxes [B, W, 4], classes [B, W] (zero-padded) and the objects per
    record n [B]: the shortest of its lists (a record whose lists disagree, which verify names, is read as
    far as they agree rather than failing the batch). The image bytes are not parsed (nor copied) here."""
    types = {**{k: tf.float32 for k in BOX_KEYS}, LABEL_KEY: tf.int64}
    f = tf.io.parse_example(serialized, {k: tf.io.RaggedFeature(t, row_splits_dtype=tf.int32) for k, t in types.items()})
    lengths = tf.stack([f[k].row_lengths() for k in types])
    n, width = tf.reduce_min(lengths, axis=0), tf.reduce_max(lengths)
    rows = tf.shape(serialized)[0]
    return {"boxes": tf.stack([f[k].to_tensor(0.0, shape=[rows, width]) for k in BOX_KEYS], -1),
            "classes": f[LABEL_KEY].to_tensor(tf.constant(0, tf.int64), shape=[rows, width]), "n": n}


def _image_spec(masks: bool) -> dict:
    """What the per-image map parses of a record: the image (and, for masks, every per-object list, to count them)."""
    spec = {IMAGE_KEY: tf.io.FixedLenFeature((), tf.string, default_value="")}
    if masks:
        lists = {**{k: tf.float32 for k in BOX_KEYS}, LABEL_KEY: tf.int64, MASK_KEY: tf.string}
        spec.update({k: tf.io.FixedLenSequenceFeature((), t, allow_missing=True) for k, t in lists.items()})
    return spec


def _batch(ds: tf.data.Dataset, options: ReadOptions) -> tf.data.Dataset:
    """Decoded records into batches; masks (one per object: their number varies) ragged, made dense by move_boxes."""
    if options.instance_masks:
        return ds.ragged_batch(options.batch_size, drop_remainder=options.drop_remainder)
    return ds.batch(options.batch_size, drop_remainder=options.drop_remainder)


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
        parsed = batched
    else:
        parsed = batched.enumerate().map(lambda i, s: (s, seeder(i, tf.shape(s)[0])), **parallel)
    decode = example_decoder(options, channels, crop, flips)
    calls = dict(num_parallel_calls=options.decode_parallel(target[0] * target[1] * channels * 4),
                 deterministic=options.is_deterministic)
    one = parsed.unbatch().map(decode, **calls)  # record or (record, seeds): decode takes either
    moved = _batch(one, options).map(lambda d: move_boxes(d, options, crop, flips), **parallel)
    stages = [("parse", parsed), ("decode", moved)]
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
    img = output_images(d["image"], options.dtype, options.normalize)
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
