"""Decoding in the reader: raw pixels a batch at a time; JPEG/PNG one by one, only the window needed, DCT-scaled."""
from __future__ import annotations

from typing import Sequence

from .._tfimport import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's first import: without its C++ start-up banner
import tensorflow as tf  # noqa: E402

from ..codec.schema import FeatureSpec
from .augment import RandomResizedCrop
from .options import IMAGE_SEED_SALT, ReadOptions

CAST_BEFORE_RESIZE_AREA_RATIO = 8  # source pixels per target pixel, at most; see _resize


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


def with_alpha(images: tf.Tensor) -> tf.Tensor:
    """uint8 RGB image(s) with an opaque alpha channel added."""
    return tf.concat([images, tf.fill(tf.concat([tf.shape(images)[:-1], [1]], 0), tf.constant(255, tf.uint8))], -1)


def convert_channels(images: tf.Tensor, channels: int) -> tf.Tensor:
    """uint8 image(s) with 1, 3 or 4 channels to `channels`: grey repeated into RGB,
    tf.image.rgb_to_grayscale (alpha dropped), an opaque alpha added."""
    have = images.shape[-1]
    if have == channels:
        return images
    rgb = tf.image.grayscale_to_rgb(images) if have == 1 else images[..., :3]
    if channels == 1:
        return tf.image.rgb_to_grayscale(rgb)
    return rgb if channels == 3 else with_alpha(rgb)


def decode_raw_batches(ds: tf.data.Dataset, feature: FeatureSpec, options: ReadOptions) -> tf.data.Dataset:
    """Decodes a whole batch of raw uint8 images with one decode_raw and a reshape (and resizes it if asked)."""
    key, shape = feature.name, list(feature.shape)
    channels = options.channels(shape[2])

    def decode(d):
        images = convert_channels(tf.reshape(tf.io.decode_raw(d[key], tf.uint8), [-1] + shape), channels)
        if options.image_size and tuple(shape[:2]) != options.image_size:
            images = resize_images(images, options.image_size, options.fit)
        return {**d, key: images}

    return ds.map(decode, num_parallel_calls=options.parallel, deterministic=options.is_deterministic)


def decode_jpeg_window(encoded: tf.Tensor, window: tf.Tensor, target: tuple[int, int], channels: int,
                        whole: bool = False, size: Sequence | None = None) -> tf.Tensor:
    """Decodes only `window` of a JPEG (all of it if `whole`: the window is the image), uint8, at the
    smallest DCT scale (1, 1/2, 1/4, 1/8) that keeps it >= target.

    The scale is chosen per image in a tf.switch_case around the decode alone (the cast and resize
    follow it, outside): on crop windows of ~500x375 JPEGs the branch cost 36 CPU µs per image more
    than decoding at full scale over a pass of 1,200 images (benchmarks/read.py, the
    jpeg/limit-crop-resize-flip-dct-choice row), about 20 of them once per iterator (TensorFlow
    optimises the branch functions when it makes one); on whole images, where some are >= 2x the
    target, the scaled decodes saved more than it cost.
    Where the schema fixes the images' (height, width) as `size`, the scale is known when the
    pipeline is built and no branch is made: full scale if the images are under 2x the target on a
    side, else the whole image's.
    """
    y, x, h, w = tf.unstack(window)
    th, tw = target

    def at(r):
        if whole:  # decode_and_crop_jpeg of the whole image cost ~30 us more per 500x375 JPEG than this
            return lambda: tf.io.decode_jpeg(encoded, channels=channels, ratio=r)
        if r == 1:
            return lambda: tf.io.decode_and_crop_jpeg(encoded, window, channels=channels)
        return lambda: tf.io.decode_and_crop_jpeg(
            encoded, tf.stack([y // r, x // r, tf.maximum(h // r, 1), tf.maximum(w // r, 1)]), channels=channels,
            ratio=r)

    if size is not None and None not in size[:2]:
        most = min(size[0] // th, size[1] // tw)  # the image's: no window of it allows more
        if most < 2 or whole:
            return at(max(r for r in (1, 2, 4, 8) if r <= max(most, 1)))()
    fit = tf.minimum(h // th, w // tw)  # the largest r in (1, 2, 4, 8) with h >= r * th and w >= r * tw
    # One four-way branch: a tf.cond around a three-way tf.switch_case made the pipeline's iterator
    # 8 ms slower to create (TensorFlow optimises every branch function when it makes one).
    scale = tf.cast(fit >= 2, tf.int32) + tf.cast(fit >= 4, tf.int32) + tf.cast(fit >= 8, tf.int32)
    return tf.switch_case(scale, [at(1), at(2), at(4), at(8)])


def decode_any(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """Any format TensorFlow decodes (JPEG, PNG, BMP, GIF's first frame) to uint8 H x W x C.

    1 or 4 channels come from the decoder where it gives them (JPEG/PNG grey, PNG/BMP alpha: as
    Keras' loaders decode), else are converted from RGB (convert_channels).
    """
    def decode(c):
        return lambda: tf.io.decode_image(encoded, channels=c, expand_animations=False)

    if channels not in (1, 4):
        return decode(channels)()
    head = tf.strings.substr(encoded, 0, 4)
    if channels == 1:
        native = tf.io.is_jpeg(encoded) | tf.equal(head, b"\x89PNG")
        return tf.cond(native, decode(1), lambda: tf.image.rgb_to_grayscale(decode(3)()))
    native = tf.equal(head, b"\x89PNG") | tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    return tf.cond(native, decode(4), lambda: with_alpha(decode(3)()))


def image_window(shape: tf.Tensor, seed: tf.Tensor | None, crop: RandomResizedCrop | None, fit: str,
                 target: tuple[int, int]) -> tf.Tensor:
    """The [y, x, h, w] window to decode: the random crop's, the centred one for fit='crop', else the whole image."""
    if crop is not None:
        return crop.window(shape, seed)
    if fit == "crop":
        return center_window(shape, target)
    return tf.stack([0, 0, shape[0], shape[1]])


def _scaled(img: tf.Tensor, unit: bool) -> tf.Tensor:
    return img * (1 / 255) if unit else img


def decode_resized(encoded: tf.Tensor, feature: FeatureSpec, target: tuple[int, int], crop: RandomResizedCrop | None,
                   fit: str, unit: bool, seed: tf.Tensor | None) -> tf.Tensor:
    """One encoded image decoded at the target size: float32 in [0, 1] (`unit`) or [0, 255].

    JPEGs decode only their window, DCT-scaled (see decode_jpeg_window). A DCT-scaled window is
    under 2x the target on at least one side, so casting to float32 first is the faster resize
    (see _resize). (Dequantizing to [0, 1] there instead of the multiply after the resize cost 1%
    more.) Other formats are not DCT-scaled: _resize decides when to convert.
    """
    channels = feature.shape[2]
    if crop is None and fit == "pad":
        return _scaled(_resize(decode_any(encoded, channels), target, True), unit)

    def jpeg():
        win = image_window(tf.io.extract_jpeg_shape(encoded), seed, crop, fit, target)
        img = decode_jpeg_window(encoded, win, target, min(channels, 3), crop is None and fit == "stretch",
                                 feature.shape)
        img = with_alpha(img) if channels == 4 else img  # JPEG has no alpha (Keras' rgba fails on it)
        return _scaled(tf.image.resize(tf.cast(img, tf.float32), target), unit)

    def other():
        img = decode_any(encoded, channels)
        y, x, h, w = tf.unstack(image_window(tf.shape(img), seed, crop, fit, target))
        return _scaled(_resize(img[y: y + h, x: x + w], target, False), unit)

    return jpeg() if feature.encoding == "jpeg" else tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def to_output(img: tf.Tensor, feature: FeatureSpec, target: tuple[int, int] | None, unit: bool) -> tf.Tensor:
    """The decoded image with its static shape; at a target size, uint8 output is rounded from [0, 255]."""
    if target is None:
        return tf.ensure_shape(img, feature.shape)
    if not unit:
        img = tf.cast(tf.clip_by_value(img + 0.5, 0, 255), tf.uint8)
    return tf.ensure_shape(img, [*target, feature.shape[2]])


def batch_image_seeds(base: tf.Tensor, batch_index: tf.Tensor, records: tf.Tensor, n: int) -> tf.Tensor:
    """n independent [2] seeds for each record of a batch ([records, n, 2]), from the batch's position.

    Drawn for the whole batch at once before the records are decoded one by one: per image, a
    fold-in and a split cost more than the row of a batch's single split (benchmarks/read.py).
    """
    key = tf.random.experimental.stateless_fold_in(base, batch_index)
    return tf.reshape(tf.random.experimental.stateless_split(key, records * n), [records, n, 2])


def image_decoder(feature: FeatureSpec, options: ReadOptions, crop: RandomResizedCrop | None,
                  per_image: Sequence):
    """The per-image decode for encoded images: (encoded, seeds) -> image of the target size; seeds
    ([1 + len(per_image), 2]: the crop window's, then one per per-image op) may be None without them.

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
    target = crop.size if crop is not None else options.image_size
    unit = options.dtype == "float32"  # float32 output is in [0, 1]; uint8 output is rounded from [0, 255]

    def decode(encoded, seeds=None):
        seeds = [None] * (1 + len(per_image)) if seeds is None else tf.unstack(seeds, 1 + len(per_image))
        if target is None:
            img = decode_any(encoded, feature.shape[2])
        else:
            img = decode_resized(encoded, feature, target, crop, options.fit, unit, seeds[0])
        for k, op in enumerate(per_image):
            img = op.per_image(img, seeds[k + 1])
        return to_output(img, feature, target, unit)

    return decode


def image_seeder(seed: int, crop: RandomResizedCrop | None, per_image: Sequence):
    """(batch index, records) -> each record's seeds for its random crop and per-image ops (see
    batch_image_seeds); None when the decode draws nothing. The parse map calls it, so that no
    extra map function is made (each cost about 5 ms of TensorFlow's optimisation per iterator)."""
    if crop is None and not per_image:
        return None
    base, n = tf.constant([seed, IMAGE_SEED_SALT], tf.int64), 1 + len(per_image)
    return lambda batch_index, records: batch_image_seeds(base, batch_index, records, n)


def decode_encoded(ds: tf.data.Dataset, feature: FeatureSpec, options: ReadOptions, crop: RandomResizedCrop | None,
                   per_image: Sequence) -> tf.data.Dataset:
    """Decodes JPEG/PNG images one by one in a parallel map (between unbatch and batch): sizes differ.

    With a random crop or per-image ops the batches come as (features, seeds) from the parse map
    (image_seeder): the batch's position seeds its records' crops and flips.
    """
    decode = image_decoder(feature, options, crop, per_image)
    key = feature.name
    height, width = crop.size if crop is not None else options.image_size or feature.shape[:2]
    image_bytes = height * width * feature.shape[2] * 4 if height and width else 0  # float32 while resized
    parallel = dict(num_parallel_calls=options.decode_parallel(image_bytes), deterministic=options.is_deterministic)
    if crop is None and not per_image:
        ds = ds.unbatch().map(lambda d: {**d, key: decode(d[key])}, **parallel)
    else:
        ds = ds.unbatch().map(lambda d, s: {**d, key: decode(d[key], s)}, **parallel)
    return ds.batch(options.batch_size, drop_remainder=options.drop_remainder)
