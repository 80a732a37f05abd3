"""Augmentation ops and presets: shapes, dtypes, label alignment, seeds, and the registry's errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")

from tfrec.read import augment as A  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402

SEED = tf.constant([3, 4], tf.int64)


def _labelled_batch(n=8, size=16, channels=3, dtype=np.uint8):
    """Image i is filled with the value 10 * (i + 1): any op that keeps pixels shows whose image it holds."""
    labels = np.arange(n, dtype=np.int64)
    images = np.repeat((10 * (labels + 1)).astype(dtype)[:, None, None, None], size, 1)
    images = np.repeat(np.repeat(images, size, 2), channels, 3)
    return tf.constant(images), tf.constant(labels)


GEOMETRIC = [
    A.RandomCrop(padding=4),
    A.RandomCrop(12, 10),
    A.RandomCrop(padding=2, pad_mode="reflect"),
    A.RandomFlip(horizontal=True, vertical=True),
    A.RandomResizedCrop(12, 12),
]


@pytest.mark.parametrize("op", GEOMETRIC, ids=lambda op: repr(op))
def test_geometric_ops_keep_dtype_and_label_alignment(op):
    images, labels = _labelled_batch()
    out, out_labels = op(images, labels, SEED)
    assert out.dtype == tf.uint8 and out.shape[0] == 8 and out.shape[3] == 3
    assert np.array_equal(out_labels.numpy(), labels.numpy())
    for i, img in enumerate(out.numpy()):
        values = set(np.unique(img)) - {0}  # 0 is constant padding
        assert values == {10 * (i + 1)}, f"image {i} holds pixels of another image: {values}"


@pytest.mark.parametrize("op", [A.RandomBrightness(0.3), A.RandomContrast(0.5, 1.5), A.RandomSaturation(0.5, 1.5),
                                A.RandomHue(0.2), A.Standardize()], ids=lambda op: type(op).__name__)
def test_colour_ops_return_float_of_the_same_shape(op):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8))
    labels = tf.range(6, dtype=tf.int64)
    out, out_labels = op(images, labels, SEED)
    assert out.dtype == tf.float32 and out.shape == images.shape
    assert np.array_equal(out_labels.numpy(), labels.numpy())
    if not isinstance(op, A.Standardize):
        assert 0.0 <= out.numpy().min() and out.numpy().max() <= 1.0


def test_same_seed_same_output_and_another_seed_differs():
    images = tf.constant(np.random.default_rng(1).integers(0, 256, (16, 20, 20, 3), dtype=np.uint8))
    aug = A.compose(A.RandomCrop(padding=4), A.RandomFlip(), A.RandomBrightness(0.2), A.RandomHue(0.1))
    first, _ = aug(images, None, SEED)
    again, _ = aug(images, None, tf.constant([3, 4], tf.int64))
    other, _ = aug(images, None, tf.constant([3, 5], tf.int64))
    assert np.array_equal(first.numpy(), again.numpy())
    assert not np.array_equal(first.numpy(), other.numpy())


def test_flip_per_image_matches_a_reversed_image_or_itself():
    image = tf.constant(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3))
    seen = set()
    for k in range(12):
        out = A.RandomFlip().per_image(image, tf.constant([k, 0], tf.int64)).numpy()
        assert np.array_equal(out, image.numpy()) or np.array_equal(out, image.numpy()[:, ::-1])
        seen.add(np.array_equal(out, image.numpy()))
    assert seen == {True, False}


@settings(max_examples=15, deadline=None)
@given(h=st.integers(4, 12), w=st.integers(4, 12), pad=st.integers(0, 3), data=st.data())
def test_random_crop_is_a_window_of_the_padded_image(h, w, pad, data):
    ch = data.draw(st.integers(1, h + 2 * pad))
    cw = data.draw(st.integers(1, w + 2 * pad))
    img = np.arange(1, h * w + 1, dtype=np.int32).reshape(1, h, w, 1)
    out, _ = A.RandomCrop(ch, cw, padding=pad)(tf.constant(img), None, SEED)
    out = out.numpy()[0, :, :, 0]
    padded = np.pad(img[0, :, :, 0], pad)
    windows = [padded[y: y + ch, x: x + cw]
               for y in range(padded.shape[0] - ch + 1) for x in range(padded.shape[1] - cw + 1)]
    assert any(np.array_equal(out, win) for win in windows)


def test_random_resized_crop_windows_fit_and_respect_the_area():
    crop = A.RandomResizedCrop(32, 32, scale=(0.25, 0.5))
    for k in range(20):
        y, x, h, w = crop.window(tf.constant([60, 80, 3]), tf.constant([k, 1], tf.int64)).numpy()
        assert 0 <= y and 0 <= x and y + h <= 60 and x + w <= 80
        assert h * w <= 0.5 * 60 * 80 * 1.05 and (h * w >= 0.25 * 60 * 80 * 0.95 or (h, w) == (60, 80))


def test_random_resized_crop_of_the_whole_image_is_a_resize():
    images = tf.constant(np.random.default_rng(2).integers(0, 256, (3, 10, 10, 3), dtype=np.uint8))
    out, _ = A.RandomResizedCrop(10, 10, scale=(1.0, 1.0), ratio=(1.0, 1.0))(images, None, SEED)
    assert np.array_equal(out.numpy(), images.numpy())


def test_mixup_blends_images_and_one_hot_labels():
    images, labels = _labelled_batch(n=6, dtype=np.uint8)
    out, mixed = A.Mixup(alpha=1.0, num_classes=6)(images, labels, SEED)
    mixed = mixed.numpy()
    assert out.dtype == tf.float32 and mixed.shape == (6, 6)
    assert np.allclose(mixed.sum(1), 1.0) and (mixed >= 0).all()
    # Each image is the same blend of the two images whose labels carry the weight.
    values = (10 * (np.arange(6) + 1)) / 255.0
    assert np.allclose(out.numpy()[:, 0, 0, 0], mixed @ values, atol=1e-5)


def test_mixup_takes_num_classes_from_bind_and_needs_labels():
    op = A.Mixup().bind(None, 10)
    assert op.num_classes == 10
    with pytest.raises(TfrecError, match="needs class labels"):
        A.Mixup()(tf.zeros([2, 4, 4, 3]), tf.constant([0, 1]), SEED)


def test_presets_registry_and_unknown_name_lists_them():
    assert set(A.PRESETS) >= {"none", "mnist", "cifar", "imagenet"}
    assert A.get_augmentation(None).ops == ()
    assert A.get_augmentation("cifar") is A.PRESETS["cifar"]
    with pytest.raises(TfrecError, match="preset 'autoaugment'; presets: none, mnist, cifar, imagenet"):
        A.get_augmentation("autoaugment")
    custom = A.get_augmentation([A.RandomFlip(), A.Standardize()])
    assert custom.name == "custom" and len(custom.ops) == 2 and custom.needs_float
    assert not A.PRESETS["cifar"].needs_float


@pytest.mark.parametrize("name,size", [("none", 32), ("mnist", 28), ("cifar", 32), ("imagenet", 24)])
def test_presets_keep_batch_shape(name, size):
    images, labels = _labelled_batch(n=4, size=size)
    aug = A.PRESETS[name].bind((size, size), 10)
    out, out_labels = aug(images, labels, SEED)
    assert out.shape == (4, size, size, 3) and np.array_equal(out_labels.numpy(), labels.numpy())


def test_split_per_image_moves_the_crop_and_leading_flips():
    aug = A.compose(A.RandomResizedCrop(), A.RandomFlip(), A.RandomBrightness(), A.RandomFlip())
    crop, per_image, rest = aug.split_per_image()
    assert isinstance(crop, A.RandomResizedCrop) and per_image == (A.RandomFlip(),)
    assert [type(op) for op in rest.ops] == [A.RandomBrightness, A.RandomFlip]
    crop, per_image, rest = A.PRESETS["cifar"].split_per_image()
    assert crop is None and per_image == () and rest.ops == A.PRESETS["cifar"].ops


@pytest.mark.parametrize("make,match", [
    (lambda: A.RandomCrop(padding=-1), "padding >= 0"),
    (lambda: A.RandomCrop(pad_mode="wrap"), "pad_mode"),
    (lambda: A.RandomResizedCrop(scale=(0.5, 0.1)), "lower <= upper"),
    (lambda: A.RandomResizedCrop(scale=(0.5, 2.0)), "scale <= 1"),
    (lambda: A.RandomContrast(1.5, 0.5), "lower <= upper"),
    (lambda: A.RandomHue(0.7), "0 to 0.5"),
    (lambda: A.Mixup(alpha=0), "alpha > 0"),
    (lambda: A.Augmentation("x", (42,)), "callables"),
])
def test_bad_op_settings_are_refused(make, match):
    with pytest.raises(TfrecError, match=match):
        make()


def test_crop_larger_than_padded_image_is_refused():
    with pytest.raises(TfrecError, match="does not fit"):
        A.RandomCrop(40, 40, padding=2)(tf.zeros([1, 32, 32, 3]), None, SEED)


def test_hue_needs_rgb():
    with pytest.raises(TfrecError, match="3 channels"):
        A.RandomHue()(tf.zeros([1, 4, 4, 1]), None, SEED)
