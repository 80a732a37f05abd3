"""The reader's decode stages, each alone: window choice, decode at a target size, output conversion, seeds."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from tfrec.codec.schema import FeatureSpec  # noqa: E402
from tfrec.read import decode as D  # noqa: E402
from tfrec.read.augment import RandomFlip, RandomResizedCrop  # noqa: E402
from tfrec.read.options import ReadOptions  # noqa: E402


def _encoded(fmt: str, h: int = 60, w: int = 80) -> bytes:
    # smooth ramps (no noise: a DCT-scaled decode would alias it), different along each axis
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (h + w - 2)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


def _feature(encoding: str) -> FeatureSpec:
    return FeatureSpec(name="image", kind="image", dtype="bytes", shape=(None, None, 3), encoding=encoding)


def test_image_window_whole_and_centred():
    shape = tf.constant([60, 80, 3])
    assert D.image_window(shape, None, None, "stretch", (10, 10)).numpy().tolist() == [0, 0, 60, 80]
    assert D.image_window(shape, None, None, "crop", (10, 10)).numpy().tolist() == [0, 10, 60, 60]


def test_image_window_of_a_random_crop_stays_inside():
    crop = RandomResizedCrop(height=16, width=16)
    y, x, h, w = D.image_window(tf.constant([60, 80, 3]), tf.constant([1, 2], tf.int64), crop, "stretch",
                                (16, 16)).numpy().tolist()
    assert 0 <= y and 0 <= x and y + h <= 60 and x + w <= 80 and h > 0 and w > 0


@pytest.mark.parametrize("fmt,encoding", [("JPEG", "jpeg"), ("PNG", "png"), ("JPEG", "any"), ("PNG", "any")])
@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_decode_resized_matches_decode_then_resize(fmt, encoding, fit):
    data = _encoded(fmt)
    out = D.decode_resized(tf.constant(data), _feature(encoding), (24, 24), None, fit, True, None).numpy()
    assert out.shape == (24, 24, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    # the reference: the whole image decoded, then cropped/padded and resized the plain way. A JPEG
    # is decoded at half its DCT scale here (60x80 >= 2x 24x24), which blurs its noise a little.
    whole = tf.io.decode_image(data, channels=3)
    ref = D.resize_images(whole, (24, 24), fit).numpy()
    other = D.resize_images(whole, (24, 24), "crop" if fit != "crop" else "stretch").numpy()
    tolerance = 0.02 if fmt == "JPEG" else 0.005
    assert np.abs(out - ref).mean() < tolerance < np.abs(out - other).mean()


def test_to_output_rounds_uint8_and_sets_shapes():
    feature = _feature("jpeg")
    img = tf.constant(np.full((4, 5, 3), 254.6, np.float32))
    out = D.to_output(img, feature, (4, 5), unit=False)
    assert out.dtype == tf.uint8 and out.shape == (4, 5, 3) and int(out[0, 0, 0]) == 255
    # Eager, so the shape is checked when the op runs (a traced function would raise ValueError instead).
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not compatible with expected shape \[5,5,3\]"):
        D.to_output(img, feature, (5, 5), unit=True)


def test_batch_image_seeds_depend_on_the_batch_index_only_and_differ_per_record():
    base = tf.constant([7, 1], tf.int64)
    a = D.batch_image_seeds(base, tf.constant(5, tf.int64), 4, 2).numpy()
    b = D.batch_image_seeds(base, tf.constant(5, tf.int64), 4, 2).numpy()
    c = D.batch_image_seeds(base, tf.constant(6, tf.int64), 4, 2).numpy()
    assert a.shape == (4, 2, 2) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert len({tuple(s) for s in a.reshape(-1, 2).tolist()}) == 8  # every record and op its own seed


@pytest.mark.parametrize("size", [(24, 20), (12, 10)])  # (12, 10): some windows are >= 2x it, DCT-scaled
def test_crop_and_flip_decoder_gives_the_reference_pixels(size):
    """The per-image decoder of the imagenet preset, pixel for pixel: the window its seed draws,
    decoded (at the DCT scale the window allows), cast, resized, scaled to [0, 1], flipped as drawn."""
    data = tf.constant(_encoded("JPEG", 60, 80))
    crop, flip = RandomResizedCrop(*size), RandomFlip()
    decode = D.image_decoder(_feature("jpeg"), ReadOptions(image_size=size), crop, (flip,))
    flips = set()
    for k in range(12):
        seeds = tf.constant([[k, 1], [k, 2]], tf.int64)
        y, x, h, w = crop.window(tf.constant([60, 80, 3]), seeds[0]).numpy().tolist()
        r = max(r for r in (1, 2, 4, 8) if r == 1 or (h >= r * size[0] and w >= r * size[1]))
        window = [y // r, x // r, max(h // r, 1), max(w // r, 1)]
        img = tf.io.decode_and_crop_jpeg(data, window, channels=3, ratio=r)
        ref = (tf.image.resize(tf.cast(img, tf.float32), size) * (1 / 255)).numpy()
        out = decode(data, seeds).numpy()
        flipped = np.array_equal(out, ref[:, ::-1])
        assert flipped or np.array_equal(out, ref)
        flips.add(flipped)
    assert flips == {True, False}
