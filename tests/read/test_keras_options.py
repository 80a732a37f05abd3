"""make_dataset's Keras options against keras.utils.image_dataset_from_directory on the same folder
(issue 24): class_names, label_mode, color_mode, validation_split + subset, and a known length."""
from __future__ import annotations

import hashlib
import math
import warnings
from collections import Counter

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
from PIL import Image  # noqa: E402

from tfrec.errors import TfrecError  # noqa: E402
from tfrec.read.pipeline import make_dataset  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

H, W = 10, 12  # every image's size, so that neither loader's resize changes a pixel


def _write_tree(root, counts: dict[str, int], seed: int) -> None:
    """Class folders of PNGs (noise: each image unique); a few RGBA and greyscale ones among the RGB."""
    rng = np.random.default_rng(seed)
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            mode = {1: "RGBA", 2: "L"}.get(i, "RGB") if c else "RGB"
            channels = {"RGBA": 4, "L": 1, "RGB": 3}[mode]
            pixels = rng.integers(0, 256, (H, W, channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(root / name / f"{i:02d}.png")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """name -> (source folder, tfrec dataset): 'three' classes (15 images), 'two' classes (9)."""
    out = {}
    for name, counts in {"three": {"cat": 6, "dog": 5, "eel": 4}, "two": {"no": 5, "yes": 4}}.items():
        root = tmp_path_factory.mktemp(name)
        _write_tree(root / "src", counts, seed=len(counts))
        convert(str(root / "src"), str(root / "ds"), ConvertOptions(shards=3, progress=False, workers=1))
        out[name] = (str(root / "src"), str(root / "ds"))
    return out


def _keras(src: str, **kw):
    kw = {"image_size": (H, W), "batch_size": 4, "shuffle": False, "verbose": False, **kw}
    return keras.utils.image_dataset_from_directory(src, **kw)


def _tfrec(ds_dir: str, **kw):
    return make_dataset(ds_dir, "train", kw.pop("batch_size", 4), image_size=(H, W), shuffle=kw.pop("shuffle", False),
                        dtype="uint8", **kw)


def _pairs(ds) -> Counter:
    """(image digest, label as a tuple) of every element; images compared as rounded uint8."""
    out = Counter()
    for images, labels in ds:
        images = np.asarray(images.numpy() + (0.5 if images.dtype.is_floating else 0), dtype=np.float64)
        for img, lab in zip(np.clip(images, 0, 255).astype(np.uint8), labels.numpy()):
            out[(hashlib.sha1(img.tobytes()).hexdigest()[:12], tuple(np.atleast_1d(lab).tolist()))] += 1
    return out


def _images(ds) -> Counter:
    out = Counter()
    for batch in ds:
        images = batch[0] if isinstance(batch, tuple) else batch
        for img in images.numpy():
            out[hashlib.sha1(np.asarray(img, np.uint8).tobytes()).hexdigest()[:12]] += 1
    return out


# --------------------------------------------------------------------------- class names and labels


@pytest.mark.parametrize("name", ["three", "two"])
def test_class_names_are_keras_class_names(folders, name):
    src, ds_dir = folders[name]
    assert _tfrec(ds_dir).class_names == _keras(src).class_names


@pytest.mark.parametrize("label_mode", ["int", "categorical"])
def test_label_modes_encode_labels_as_keras_does(folders, label_mode):
    src, ds_dir = folders["three"]
    ours, theirs = _tfrec(ds_dir, label_mode=label_mode), _keras(src, label_mode=label_mode)
    assert _pairs(ours) == _pairs(theirs)
    labels = next(iter(ours))[1]
    if label_mode == "categorical":
        assert labels.dtype == tf.float32 and labels.shape[1:] == (3,)
    else:
        assert labels.dtype.is_integer and labels.shape.rank == 1


def test_binary_label_mode_is_keras_float32_column(folders):
    src, ds_dir = folders["two"]
    ours = _tfrec(ds_dir, label_mode="binary")
    assert _pairs(ours) == _pairs(_keras(src, label_mode="binary"))
    assert ours.element_spec[1].dtype == tf.float32 and ours.element_spec[1].shape.as_list() == [None, 1]


def test_binary_label_mode_needs_two_classes(folders):
    with pytest.raises(TfrecError, match=r"label_mode='binary' needs exactly 2 classes.*3 classes: cat, dog, eel"):
        _tfrec(folders["three"][1], label_mode="binary")


def test_label_mode_none_yields_images_only_as_keras(folders):
    src, ds_dir = folders["three"]
    ours = _tfrec(ds_dir, label_mode=None)
    assert isinstance(ours.element_spec, tf.TensorSpec)
    assert _images(ours) == _images(_keras(src, label_mode=None).map(lambda x: tf.cast(x + 0.5, tf.uint8)))


def test_categorical_keeps_mixup_soft_labels(datasets):
    ds = make_dataset(datasets["cifar10"], "train", 8, augment="cifar", label_mode="categorical", seed=0)
    labels = next(iter(ds))[1]
    assert labels.dtype == tf.float32 and labels.shape[1:] == (10,)
    assert np.allclose(labels.numpy().sum(axis=1), 1.0)


@pytest.mark.parametrize("bad, match", [
    ({"label_mode": "sparse"}, r"label_mode: expected None or one of int, categorical, binary, found 'sparse'"),
    ({"color_mode": "cmyk"}, r"color_mode: expected None or one of grayscale, rgb, rgba, found 'cmyk'"),
    ({"validation_split": 1.0, "subset": "training", "seed": 1}, r"validation_split: expected a fraction"),
    ({"validation_split": 0.2, "seed": 1}, r"validation_split and subset: give both or neither"),
    ({"subset": "training", "seed": 1}, r"validation_split and subset: give both or neither"),
    ({"validation_split": 0.2, "subset": "train", "seed": 1}, r"subset: expected one of training, validation, both"),
    ({"validation_split": 0.2, "subset": "training"}, r"validation_split with shuffle needs a seed"),
])
def test_bad_keras_options_are_refused(folders, bad, match):
    with pytest.raises(TfrecError, match=match):
        make_dataset(folders["three"][1], "train", 4, image_size=(H, W), **bad)


# --------------------------------------------------------------------------- color_mode


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_color_mode_decodes_as_keras(folders, color_mode, channels):
    src, ds_dir = folders["three"]
    ours = _tfrec(ds_dir, color_mode=color_mode)
    assert ours.element_spec[0].shape.as_list() == [None, H, W, channels]
    assert _pairs(ours) == _pairs(_keras(src, color_mode=color_mode))


@pytest.mark.parametrize("fmt, stored", [("mnist", 1), ("cifar10", 3)])
@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_color_mode_converts_raw_pixels(datasets, fmt, stored, color_mode, channels):
    plain = next(iter(make_dataset(datasets[fmt], "test", 10, shuffle=False, dtype="uint8")))[0].numpy()
    ds = make_dataset(datasets[fmt], "test", 10, shuffle=False, dtype="uint8", color_mode=color_mode)
    images = next(iter(ds))[0].numpy()
    assert images.shape[-1] == channels and ds.element_spec[0].shape[-1] == channels
    if channels == stored:
        assert np.array_equal(images, plain)
    if stored == 1 and channels >= 3:
        assert all(np.array_equal(images[..., c], plain[..., 0]) for c in range(3))
    if channels == 4:
        assert (images[..., 3] == 255).all()
    if stored == 3 and channels == 1:  # tf.image.rgb_to_grayscale's weights
        grey = np.round(plain.astype(np.float64) @ [0.2989, 0.587, 0.114])
        assert np.abs(images[..., 0].astype(int) - grey).max() <= 1


# --------------------------------------------------------------------------- validation_split and subset


def test_validation_split_counts_match_keras(folders):
    src, ds_dir = folders["three"]
    for subset in ("training", "validation"):
        ours = _tfrec(ds_dir, validation_split=0.3, subset=subset, seed=5, shuffle=True)
        theirs = _keras(src, validation_split=0.3, subset=subset, seed=5, shuffle=True)
        assert sum(_pairs(ours).values()) == sum(_pairs(theirs).values()) == {"training": 11, "validation": 4}[subset]
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("split", [0.2, 0.5, 0.75])
def test_validation_split_subsets_are_disjoint_complete_and_deterministic(folders, split, shuffle):
    ds_dir = folders["three"][1]
    whole = _pairs(_tfrec(ds_dir))
    train = _pairs(_tfrec(ds_dir, validation_split=split, subset="training", seed=3, shuffle=shuffle))
    val = _pairs(_tfrec(ds_dir, validation_split=split, subset="validation", seed=3, shuffle=shuffle))
    assert not set(train) & set(val) and train + val == whole
    assert sum(val.values()) == int(split * 15)
    again = _pairs(_tfrec(ds_dir, validation_split=split, subset="validation", seed=3, shuffle=shuffle))
    assert again == val


def test_the_seed_picks_the_validation_subset(folders):
    ds_dir = folders["three"][1]
    picks = {frozenset(_pairs(_tfrec(ds_dir, validation_split=0.4, subset="validation", seed=s, shuffle=True)))
             for s in range(4)}
    assert len(picks) > 1


def test_subset_both_gives_training_and_validation(folders):
    ds_dir = folders["three"][1]
    train, val = _tfrec(ds_dir, validation_split=0.3, subset="both", seed=8, shuffle=True)
    assert _pairs(train) == _pairs(_tfrec(ds_dir, validation_split=0.3, subset="training", seed=8, shuffle=True))
    assert _pairs(val) == _pairs(_tfrec(ds_dir, validation_split=0.3, subset="validation", seed=8, shuffle=True))
    assert train.class_names == val.class_names == ["cat", "dog", "eel"]
    assert len(train) == 3 and len(val) == 1


def test_validation_split_across_workers_is_still_disjoint_and_complete(folders):
    ds_dir = folders["three"][1]
    parts = {s: Counter() for s in ("training", "validation")}
    for subset in parts:
        for k in range(3):
            ds = _tfrec(ds_dir, validation_split=0.4, subset=subset, seed=2, num_shards=3, shard_index=k)
            got = _pairs(ds)
            assert len(ds) == math.ceil(sum(got.values()) / 4)
            parts[subset] += got
    assert not set(parts["training"]) & set(parts["validation"])
    assert parts["training"] + parts["validation"] == _pairs(_tfrec(ds_dir))
    assert sum(parts["validation"].values()) == 6


def test_a_split_that_leaves_a_subset_empty_is_refused(folders):
    with pytest.raises(TfrecError, match=r"validation_split 0.05 of 15 records leaves the validation subset empty"):
        _tfrec(folders["three"][1], validation_split=0.05, subset="validation", seed=1)


# --------------------------------------------------------------------------- a known length


@pytest.mark.parametrize("batch", [1, 4, 5, 16])
@pytest.mark.parametrize("drop", [False, True])
def test_len_is_the_number_of_batches(folders, batch, drop):
    ds = _tfrec(folders["three"][1], batch_size=batch, drop_remainder=drop)
    want = 15 // batch if drop else math.ceil(15 / batch)
    assert len(ds) == want == sum(1 for _ in ds)


@pytest.mark.parametrize("epochs", [2, 3])
def test_len_counts_repeated_epochs(folders, epochs):
    ds = _tfrec(folders["three"][1], batch_size=4, repeat=epochs, shuffle=True)
    assert len(ds) == math.ceil(15 * epochs / 4) == sum(1 for _ in ds)


def test_repeat_forever_is_infinite(folders):
    ds = _tfrec(folders["three"][1], repeat=True)
    assert ds.cardinality().numpy() == tf.data.INFINITE_CARDINALITY


@pytest.mark.parametrize("fmt, split, records", [("mnist", "train", 60), ("cifar10", "train", 50)])
def test_len_of_raw_datasets_and_workers(datasets, fmt, split, records):
    assert len(make_dataset(datasets[fmt], split, 7)) == math.ceil(records / 7)
    shares = [make_dataset(datasets[fmt], split, 7, num_shards=3, shard_index=k) for k in range(3)]
    assert [len(s) for s in shares] == [sum(1 for _ in s) for s in shares]


def test_a_wrong_count_in_dataset_json_fails_the_pass(folders, tmp_path):
    import json
    import shutil

    ds_dir = shutil.copytree(folders["three"][1], tmp_path / "ds")
    manifest = json.loads((ds_dir / "dataset.json").read_text())
    manifest["splits"]["train"]["shards"][0]["records"] += 1
    manifest["splits"]["train"]["records"] += 1
    (ds_dir / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(tf.errors.FailedPreconditionError, match=r"expected to contain \d+ elements but contained only"):
        sum(1 for _ in _tfrec(str(ds_dir)))


def test_skip_corrupt_has_a_length_only_once_every_shard_was_found_intact(folders, tmp_path):
    import shutil

    ds_dir = str(shutil.copytree(folders["three"][1], tmp_path / "ds"))
    first = _tfrec(ds_dir, skip_corrupt=True)
    assert first.cardinality().numpy() == tf.data.UNKNOWN_CARDINALITY  # records may yet be skipped
    sum(1 for _ in first)
    assert len(_tfrec(ds_dir, skip_corrupt=True)) == 4


def test_foreign_files_have_no_length(folders):
    import glob

    files = sorted(glob.glob(folders["three"][1] + "/*.tfrecord-*[0-9]"))
    ds = make_dataset(files, batch_size=4, schema="imagefolder", image_size=(H, W))
    assert ds.cardinality().numpy() == tf.data.UNKNOWN_CARDINALITY


def test_fit_over_two_epochs_does_not_run_out_of_data(folders):
    ds = make_dataset(folders["three"][1], "train", 4, image_size=(H, W), seed=0)
    model = keras.Sequential([keras.Input((H, W, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(ds, epochs=2, verbose=0)
    assert [str(w.message) for w in caught if "ran out of data" in str(w.message)] == []
    assert len(history.history["loss"]) == 2


# --------------------------------------------------------------------------- damaged shards, decoders


def test_validation_split_with_skip_corrupt_reads_intact_shards_and_refuses_damaged_ones(folders, tmp_path):
    import shutil

    from tests.damage import flip, offsets
    from tfrec.io.dataset import open_dataset

    ds_dir = str(shutil.copytree(folders["three"][1], tmp_path / "ds"))
    kw = dict(validation_split=0.4, subset="validation", seed=1)
    assert _pairs(_tfrec(ds_dir, skip_corrupt=True, **kw)) == _pairs(_tfrec(ds_dir, **kw))
    shard = open_dataset(ds_dir).shard_paths("train")[1]
    flip(shard, offsets(shard)[1] + 20)  # inside record 1's data: its data CRC fails
    with pytest.raises(TfrecError, match=r"-00001-of-00003: damaged from record 1 \(byte \d+\); validation_split "
                                         r"numbers the records"):
        _tfrec(ds_dir, skip_corrupt=True, **kw)


def test_label_mode_none_with_features_is_refused(folders):
    with pytest.raises(TfrecError, match=r"label_mode=None yields images only, features= the features named"):
        _tfrec(folders["three"][1], label_mode=None, features=["image", "label"])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_decode_any_gives_every_format_the_channels_asked_for(fmt, channels):
    import io

    from tfrec.read.decode import decode_any

    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt)
    img = decode_any(tf.constant(buf.getvalue()), channels).numpy()
    assert img.shape == (5, 6, channels) and img.dtype == np.uint8
    if channels == 4:
        assert (img[..., 3] == 255).all()
