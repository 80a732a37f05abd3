"""access/augment.py: the reader's presets and resize geometry in NumPy/Pillow: shapes, determinism, crop statistics,
flips, pad-crop, fit against the tf reader's resize_images, the decode/crop cooperation, and the mirrored parameters."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from tfrec.access.augment import (CROP_ATTEMPTS, CROP_RATIO, CROP_SCALE, DEFAULT_CROP_SIZE, FLIPS, PAD_CROP, PRESETS,
                                  DCT_SCALED_MEAN_TOLERANCE, RESIZE_TOLERANCE, make_augment, random_crop_window, resize)
from tfrec.access.decode import decode_image
from tfrec.errors import TfrecError


def _image(h=30, w=40, c=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _close(got: np.ndarray, want: np.ndarray, tol=RESIZE_TOLERANCE) -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= tol[0] and diff.mean() <= tol[1], (diff.max(), diff.mean())


@pytest.mark.parametrize("preset, image_size, want", [
    ("none", None, (30, 40)), ("none", (16, 24), (16, 24)),
    ("mnist", None, (30, 40)), ("mnist", (28, 28), (28, 28)),
    ("cifar", None, (30, 40)), ("cifar", (32, 32), (32, 32)),
    ("imagenet", None, (DEFAULT_CROP_SIZE, DEFAULT_CROP_SIZE)), ("imagenet", (64, 48), (64, 48)),
])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_shapes_and_dtype(preset, image_size, want, channels):
    out = make_augment(preset, image_size)(_image(c=channels), np.random.default_rng(0))
    assert out.shape == (*want, channels) and out.dtype == np.uint8 and out.flags.c_contiguous


def test_none_without_size_is_the_image_itself():
    img = _image()
    assert make_augment("none", None)(img, np.random.default_rng(0)) is img


@pytest.mark.parametrize("preset", PRESETS)
def test_deterministic_per_seed(preset):
    aug, img = make_augment(preset, (20, 20)), _image(60, 80)
    runs = [[aug(img, np.random.default_rng(seed)) for seed in (1, 2, 3, 4, 5, 6)] for _ in range(2)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    if preset != "none":  # different seeds give different images
        assert len({r.tobytes() for r in runs[0]}) > 1
    aug2 = pickle.loads(pickle.dumps(aug))  # DataLoader workers get it pickled
    np.testing.assert_array_equal(aug2(img, np.random.default_rng(1)), runs[0][0])


@pytest.mark.parametrize("height, width", [(375, 500), (500, 375), (224, 224), (40, 1000)])
def test_random_crop_statistics(height, width):
    rng = np.random.default_rng(0)
    wins = np.array([random_crop_window(height, width, rng) for _ in range(3000)])
    top, left, h, w = wins.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= height).all() and (left + w <= width).all()
    whole = (h == height) & (w == width)
    crops = wins[~whole]
    if not len(crops):  # no aspect in the range fits a 40x1000 image at 8% of its area: the whole image
        assert height * CROP_RATIO[1] * 4 < width
        return
    area = crops[:, 2] * crops[:, 3] / (height * width)
    aspect = crops[:, 3] / crops[:, 2]
    assert area.min() >= CROP_SCALE[0] and area.max() <= CROP_SCALE[1]
    slack = 0.5 / crops[:, 2]  # the width is the height x the aspect, rounded
    assert (aspect >= CROP_RATIO[0] - slack).all() and (aspect <= CROP_RATIO[1] + slack).all()
    if height * 3 <= width * 4 and width * 3 <= height * 4:  # every aspect fits: the ranges are covered
        assert area.min() < 0.12 and area.max() > 0.9
        assert aspect.min() < 0.8 and aspect.max() > 1.25
        assert whole.mean() < 0.01


def test_random_crop_matches_tensorflows_distribution():
    """The window's area and aspect ratio are distributed as sample_distorted_bounding_box's (mean and quartiles)."""
    import tensorflow as tf

    height, width, n = 375, 500, 600
    ours = np.array([random_crop_window(height, width, np.random.default_rng(s)) for s in range(n)])
    theirs = []
    for s in range(n):
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            [height, width, 3], tf.zeros([1, 0, 4]), seed=[s, 7], min_object_covered=0.0,
            aspect_ratio_range=CROP_RATIO, area_range=CROP_SCALE, max_attempts=CROP_ATTEMPTS,
            use_image_if_no_bounding_boxes=True)
        theirs.append([begin[0], begin[1], size[0], size[1]])
    theirs = np.array(theirs)
    for stat in (lambda x: x[:, 2] * x[:, 3] / (height * width), lambda x: x[:, 3] / x[:, 2]):
        a, b = stat(ours), stat(theirs)
        for q in (25, 50, 75):
            assert abs(np.percentile(a, q) - np.percentile(b, q)) < 0.1 * max(1.0, np.percentile(b, q))


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_flip_probability_about_half(preset):
    img = _image(32, 32)
    aug = make_augment(preset, (32, 32))
    flips = 0
    for seed in range(400):
        rng = np.random.default_rng(seed)
        out = aug(img, rng)
        rng = np.random.default_rng(seed)  # the same draws without the flip
        unflipped = make_augment("none", None)(img, rng)
        if preset == "cifar":
            from tfrec.access.augment import pad_crop

            unflipped = pad_crop(img, PAD_CROP["cifar"], rng)
        else:
            from tfrec.access.augment import random_crop_window as rcw

            unflipped = resize(img, rcw(32, 32, rng), (32, 32))
        flips += not np.array_equal(out, unflipped)
    assert 160 <= flips <= 240  # 400 fair coins: 200 +- 4 standard deviations


@pytest.mark.parametrize("preset", ["mnist", "cifar"])
def test_pad_crop_keeps_size_and_shifts(preset):
    p, img = PAD_CROP[preset], _image(28, 28, 1)
    aug = make_augment(preset, None)
    shifts = set()
    for seed in range(300):
        out = aug(img, np.random.default_rng(seed))
        assert out.shape == img.shape
        if preset in FLIPS and not _is_shift(out, img, p):
            out = out[:, ::-1]
        shift = _is_shift(out, img, p)
        assert shift, "the output is not a shift of the input padded with zeros"
        shifts.add(shift)
    assert len(shifts) > (2 * p + 1) ** 2 * 0.8  # nearly every offset in [-p, p]^2 seen


def _is_shift(out: np.ndarray, img: np.ndarray, p: int):
    h, w = img.shape[:2]
    padded = np.pad(img, ((p, p), (p, p), (0, 0)))
    for oy in range(2 * p + 1):
        for ox in range(2 * p + 1):
            if np.array_equal(padded[oy: oy + h, ox: ox + w], out):
                return (oy - p, ox - p)
    return None


def _tf_resized(image: np.ndarray, size, fit: str) -> np.ndarray:
    """The tf reader's geometry (tfrec/read/decode.py resize_images) to uint8, rounded as its uint8 output is."""
    import tensorflow as tf

    from tfrec.read.decode import resize_images

    out = resize_images(tf.constant(image), size, fit).numpy() * 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(params=["opencv", "pillow"])
def resizer(request, monkeypatch):
    """Each resize backend in turn: OpenCV's (where installed) and Pillow's."""
    import tfrec.access.augment as augment_module

    if request.param == "opencv":
        pytest.importorskip("cv2")
    monkeypatch.setattr(augment_module, "_cv2", (lambda: None) if request.param == "pillow" else augment_module._cv2)
    return request.param


def test_opencv_resize_is_used_where_installed_and_pillow_on_request(monkeypatch):
    import tfrec.access.augment as augment_module

    pytest.importorskip("cv2")
    augment_module._cv2.cache_clear()
    assert augment_module._cv2() is not None
    monkeypatch.setenv("TFREC_RESIZE", "pillow")
    augment_module._cv2.cache_clear()
    assert augment_module._cv2() is None
    monkeypatch.delenv("TFREC_RESIZE")
    augment_module._cv2.cache_clear()


def test_the_two_resizes_are_at_most_one_level_apart(resizer):
    import tfrec.access.augment as augment_module

    img = np.asarray(Image.fromarray(_image(12, 16)).resize((500, 375), Image.Resampling.BICUBIC))
    for window, size in [((0, 0, 375, 500), (224, 224)), ((10, 30, 200, 301), (64, 80)), ((5, 5, 20, 30), (60, 90))]:
        got = resize(img, window, size)
        top, left, h, w = window
        want = augment_module._resize_pillow(img[top: top + h, left: left + w], size)
        assert got.shape == (*size, 3) and np.abs(got.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
@pytest.mark.parametrize("shape, size", [((90, 160), (48, 48)), ((160, 90), (48, 64)), ((30, 40), (64, 50)),
                                         ((61, 77), (61, 77))])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_fit_matches_the_tf_reader(fit, shape, size, channels, resizer):
    img = np.asarray(Image.fromarray(_image(12, 16)).resize(shape[::-1], Image.Resampling.BICUBIC))
    img = np.concatenate([img, img[..., :1]], -1)[..., :channels] if channels != 3 else img
    got = make_augment("none", size, fit)(img, np.random.default_rng(0))
    _close(got, _tf_resized(img, size, fit))


def test_imagenet_window_resize_matches_tf_crop_and_resize(resizer):
    import tensorflow as tf

    img = np.asarray(Image.fromarray(_image(12, 16)).resize((200, 150), Image.Resampling.BICUBIC))
    aug = make_augment("imagenet", (56, 56))
    for seed in range(5):
        window = aug.crop_window(150, 200, np.random.default_rng(seed))
        top, left, h, w = window
        want = tf.image.resize(tf.cast(img[top: top + h, left: left + w], tf.float32), (56, 56)).numpy()
        _close(resize(img, window, (56, 56)), np.clip(want + 0.5, 0, 255).astype(np.uint8))


def _jpeg(h: int, w: int) -> bytes:
    img = Image.fromarray(_image(6, 8)).resize((w, h), Image.Resampling.BICUBIC)  # smooth: scales alias little
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("preset, fit", [("imagenet", "stretch"), ("none", "stretch"), ("none", "crop"),
                                         ("none", "pad"), ("cifar", "crop")])
def test_decode_and_crop_cooperate(preset, fit):
    """Decoding at the window's DCT scale gives the same window and flip, and pixels close to the full decode."""
    data, (h, w) = _jpeg(768, 1024), (768, 1024)
    aug = make_augment(preset, (112, 112), fit)
    scaled_any = False
    for seed in range(6):
        full = aug(decode_image(data, channels=3), np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        window = aug.crop_window(h, w, rng)
        target = aug.decode_target(h, w, window)
        small = decode_image(data, channels=3, target=target)
        scaled_any |= small.shape[0] < h
        top, left, wh, ww = window
        assert target is None or (small.shape[0] >= target[0] and small.shape[1] >= target[1])
        out = aug(small, rng, window=window, source_size=(h, w))
        assert out.shape == full.shape
        diff = np.abs(out.astype(int) - full.astype(int))
        assert diff.mean() < 6, diff.mean()  # a reduced-scale decode, not the same pixels
    assert scaled_any


@pytest.mark.parametrize("preset", ["none", "imagenet", "cifar"])
def test_decode_of_encoded_bytes_takes_the_dct_scale_with_the_same_draws(preset, monkeypatch):
    from tfrec.access import augment as augment_module

    data, (h, w) = _jpeg(768, 1024), (768, 1024)
    aug = make_augment(preset, (96, 96))
    targets = []
    real = augment_module.image_decode.decode_image
    monkeypatch.setattr(augment_module.image_decode, "decode_image",
                        lambda d, **kw: targets.append(kw.get("target")) or real(d, **kw))
    for seed in range(4):
        got = aug.decode(data, np.random.default_rng(seed), 3)
        rng = np.random.default_rng(seed)
        window = aug.crop_window(h, w, rng)
        small = real(data, channels=3, target=aug.decode_target(h, w, window))
        assert np.array_equal(got, aug(small, rng, window=window, source_size=(h, w)))  # the same draws after
        full = aug(real(data, channels=3), np.random.default_rng(seed))
        assert got.shape == full.shape
        assert np.abs(got.astype(int) - full.astype(int)).mean() <= DCT_SCALED_MEAN_TOLERANCE
    assert all(t is not None for t in targets)


def test_decode_of_other_formats_and_of_no_resize_is_the_full_decode():
    img = Image.fromarray(_image(6, 8)).resize((64, 48), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    png = buf.getvalue()
    aug = make_augment("cifar", (32, 32))
    assert np.array_equal(aug.decode(png, np.random.default_rng(1), 3),
                          aug(decode_image(png, channels=3), np.random.default_rng(1)))
    jpeg = _jpeg(48, 64)
    assert np.array_equal(make_augment("none", None).decode(jpeg, np.random.default_rng(0)), decode_image(jpeg))


def test_presets_mirror_the_tf_registry():
    from tfrec.read.augment import PRESETS as TF_PRESETS
    from tfrec.read.augment import RandomCrop, RandomFlip, RandomResizedCrop

    assert tuple(TF_PRESETS) == PRESETS
    for name, aug in TF_PRESETS.items():
        kinds = [type(op) for op in aug.ops]
        assert (RandomFlip in kinds) == (name in FLIPS)
        for op in aug.ops:
            if isinstance(op, RandomCrop):
                assert (op.padding, op.pad_mode, op.height, op.width) == (PAD_CROP[name], "constant", None, None)
            elif isinstance(op, RandomResizedCrop):
                assert (op.scale, op.ratio, op.attempts) == (CROP_SCALE, CROP_RATIO, CROP_ATTEMPTS)
            elif isinstance(op, RandomFlip):
                assert (op.horizontal, op.vertical) == (True, False)
            else:
                raise AssertionError(f"preset {name} has an op access/augment.py does not mirror: {op}")
        if not any(isinstance(op, RandomCrop) for op in aug.ops):
            assert name not in PAD_CROP


@pytest.mark.parametrize("args, match", [
    (("flip", None), r"unknown augmentation preset 'flip'; presets: none, mnist, cifar, imagenet"),
    (("none", (32, 32), "squash"), r"unknown fit 'squash'; supported: stretch, crop, pad"),
    (("none", (0, 32)), r"image_size must be \(height, width\) of positive sizes"),
])
def test_bad_arguments(args, match):
    with pytest.raises(TfrecError, match=match):
        make_augment(*args)
