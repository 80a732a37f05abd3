"""The tf.data reader: every record once, seeds, augmentation, skip_corrupt, sharding, GZIP, foreign files, bench."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from click.testing import CliRunner  # noqa: E402

from tfrec.read import augment as A  # noqa: E402
from tfrec.bench import read as bench  # noqa: E402
from tfrec.read import decode as D  # noqa: E402
from tfrec.read import pipeline as P  # noqa: E402
from tfrec.cli.main import cli  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.codec.example import decode_example  # noqa: E402
from tfrec.io.dataset import open_dataset  # noqa: E402
from tfrec.io.manifest import read_manifest  # noqa: E402
from tfrec.io.index import read_index  # noqa: E402
from tfrec.io.records import iter_records  # noqa: E402
from tfrec.io.salvage import iter_intact_records  # noqa: E402


def _digest(image) -> str:
    return hashlib.sha1(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()[:16]


def _stored(dataset: str, split: str = "train") -> Counter:
    """(label, image digest) of every record, read with the pure-Python record layer."""
    out = Counter()
    for path in open_dataset(dataset).shard_paths(split):
        for rec in iter_records(path):
            ex = decode_example(rec.data)
            out[(ex["label"][1][0], hashlib.sha1(ex["image"][1][0]).hexdigest()[:16])] += 1
    return out


def _read(ds) -> Counter:
    out = Counter()
    for images, labels in ds:
        for img, lab in zip(images.numpy(), labels.numpy()):
            out[(int(lab), _digest(img))] += 1
    return out


def _batches(ds) -> list:
    return [tuple(t.numpy() for t in tf.nest.flatten(b)) for b in ds]


# --------------------------------------------------------------------------- one epoch, seeds, shapes


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("fmt", ["mnist", "cifar10"])
def test_one_epoch_yields_every_record_exactly_once(datasets, fmt, shuffle):
    ds = P.make_dataset(datasets[fmt], "train", 16, shuffle=shuffle, dtype="uint8")
    assert _read(ds) == _stored(datasets[fmt])


@pytest.mark.parametrize("parallel", [1, 3, 16])
def test_any_num_parallel_calls_reads_every_record(datasets, parallel):
    # The file interleave's cycle is min(files, cores): asking for more parallel calls than that must
    # not be an error (TensorFlow refuses num_parallel_calls above a fixed cycle_length).
    ds = P.make_dataset(datasets["mnist"], "train", 16, num_parallel_calls=parallel, dtype="uint8")
    assert _read(ds) == _stored(datasets["mnist"])


def test_float32_output_is_the_stored_pixels_over_255(datasets):
    u8 = next(iter(P.make_dataset(datasets["cifar10"], "test", 10, shuffle=False, dtype="uint8")))[0].numpy()
    f32 = next(iter(P.make_dataset(datasets["cifar10"], "test", 10, shuffle=False)))[0].numpy()
    assert f32.dtype == np.float32 and np.allclose(f32, u8 / 255.0, atol=1e-6)


@pytest.mark.parametrize("fmt,kwargs", [
    ("cifar10", {"augment": "cifar"}),
    pytest.param("imagefolder", {"augment": "imagenet", "image_size": 16}, marks=pytest.mark.slow),
])
def test_same_seed_same_batches_other_seed_differs(datasets, fmt, kwargs):
    first = _batches(P.make_dataset(datasets[fmt], "train", 8, seed=5, **kwargs))
    again = _batches(P.make_dataset(datasets[fmt], "train", 8, seed=5, **kwargs))
    other = _batches(P.make_dataset(datasets[fmt], "train", 8, seed=6, **kwargs))
    assert len(first) == len(again) and all(np.array_equal(a, b) for x, y in zip(first, again) for a, b in zip(x, y))
    assert any(not np.array_equal(a, b) for x, y in zip(first, other) for a, b in zip(x, y))


def test_epochs_reshuffle_and_augment_differently_with_one_seed(datasets):
    ds = P.make_dataset(datasets["cifar10"], "train", 50, seed=1, augment="cifar", repeat=2)
    one, two = [b[0].numpy() for b in ds]
    assert one.shape == two.shape and not np.array_equal(one, two)


def test_augmentation_keeps_shapes_dtypes_and_label_alignment(datasets):
    # A flip keeps each image's multiset of pixels: a label still paired with its own image proves alignment.
    ds = P.make_dataset(datasets["cifar10"], "train", 16, seed=2, dtype="uint8", augment=[A.RandomFlip(True, True)])
    seen = Counter()
    for images, labels in ds:
        assert images.dtype == tf.uint8 and images.shape[1:] == (32, 32, 3) and labels.dtype == tf.int64
        seen.update((int(lab), _digest(np.sort(img, axis=None))) for img, lab in zip(images.numpy(), labels.numpy()))
    stored = Counter()
    for path in open_dataset(datasets["cifar10"]).shard_paths("train"):
        for rec in iter_records(path):
            ex = decode_example(rec.data)
            stored[(ex["label"][1][0], _digest(np.sort(np.frombuffer(ex["image"][1][0], np.uint8))))] += 1
    assert seen == stored


def test_per_image_path_keeps_labels_with_their_records(datasets):
    names = read_manifest(datasets["imagefolder"])["label_names"]
    ds = P.make_dataset(datasets["imagefolder"], "train", 5, seed=3, image_size=(12, 16), augment="imagenet",
                        features=["image", "label", "filename"])
    count = 0
    for batch in ds:
        assert batch["image"].shape[1:] == (12, 16, 3) and batch["image"].dtype == tf.float32
        for label, name in zip(batch["label"].numpy(), batch["filename"].numpy()):
            assert name.decode().split("/")[0] == names[label]
            count += 1
    assert count == read_manifest(datasets["imagefolder"])["splits"]["train"]["records"]


@pytest.mark.parametrize("preset", ["none", "mnist", "cifar"])
def test_presets_on_raw_batches_keep_shape(datasets, preset):
    fmt = "mnist" if preset == "mnist" else "cifar10"
    images, labels = next(iter(P.make_dataset(datasets[fmt], "train", 8, augment=preset, seed=0)))
    size = (28, 28, 1) if fmt == "mnist" else (32, 32, 3)
    assert images.shape == (8, *size) and images.dtype == tf.float32 and labels.shape == (8,)
    assert 0.0 <= images.numpy().min() and images.numpy().max() <= 1.0


def test_mixup_gives_soft_labels(datasets):
    aug = A.compose(A.RandomFlip(), A.Mixup(alpha=0.4))
    images, labels = next(iter(P.make_dataset(datasets["cifar10"], "train", 8, augment=aug, seed=0)))
    assert labels.shape == (8, 10) and np.allclose(labels.numpy().sum(1), 1.0)


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_image_size_and_fit(datasets, fit):
    images, _ = next(iter(P.make_dataset(datasets["imagefolder"], "train", 4, image_size=(10, 14), fit=fit)))
    assert images.shape == (4, 10, 14, 3)
    images, _ = next(iter(P.make_dataset(datasets["cifar10"], "train", 4, image_size=16, fit=fit, dtype="uint8")))
    assert images.shape == (4, 16, 16, 3) and images.dtype == tf.uint8


def test_standardize_and_features_dict(datasets):
    images, _ = next(iter(P.make_dataset(datasets["cifar10"], "train", 4, normalize="standardize")))
    assert np.allclose(images.numpy().mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    batch = next(iter(P.make_dataset(datasets["cifar100"], "train", 4, features=["image", "label", "coarse_label"])))
    assert set(batch) == {"image", "label", "coarse_label"} and batch["coarse_label"].shape == (4,)
    labels_only = next(iter(P.make_dataset(datasets["cifar100"], "train", 4, features=["coarse_label"])))
    assert set(labels_only) == {"coarse_label"}


def test_repeat_drop_remainder_and_cache(datasets, tmp_path):
    n = read_manifest(datasets["mnist"])["splits"]["train"]["records"]
    ds = P.make_dataset(datasets["mnist"], "train", 7, repeat=2, drop_remainder=True, dtype="uint8")
    assert ds.element_spec[0].shape == (7, 28, 28, 1)
    assert sum(b[0].shape[0] for b in ds) == (2 * n) // 7 * 7
    for cache in (True, str(tmp_path / "cache")):
        ds = P.make_dataset(datasets["mnist"], "train", 16, cache=cache, repeat=2, dtype="uint8")
        assert sum(_read(ds).values()) == 2 * n


def test_variable_size_images_need_image_size(datasets):
    with pytest.raises(TfrecError, match=r"vary in size.*pass image_size"):
        P.make_dataset(datasets["imagefolder"], "train", 4)


@pytest.mark.slow
def test_augmented_samples_for_the_contact_sheet(datasets):
    images, labels = P.augmented_samples(datasets["cifar10"], "cifar", n=6, seed=1)
    assert len(images) == len(labels) == 6 and all(i.shape == (32, 32, 3) and i.dtype == np.uint8 for i in images)
    assert all(isinstance(v, int) for v in labels)
    again, _ = P.augmented_samples(datasets["cifar10"], "cifar", n=6, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    photos, _ = P.augmented_samples(datasets["imagefolder"], "imagenet", n=3, seed=0)
    assert photos[0].shape == (224, 224, 3)


# --------------------------------------------------------------------------- skip_corrupt


def _corrupt_copy(src: str, dst) -> tuple[str, int, int]:
    """A copy of the dataset with one data byte of record 2 of the first train shard flipped."""
    shutil.copytree(src, dst)
    shard = open_dataset(str(dst)).shard_paths("train")[0]
    offset, length = read_index(shard + ".idx")[2]
    with open(shard, "r+b") as f:
        f.seek(int(offset) + 12 + int(length - 16) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    return shard, 2, int(offset)


def test_corrupt_record_fails_without_skip_corrupt(datasets, tmp_path):
    _corrupt_copy(datasets["cifar10"], tmp_path / "bad")
    with pytest.raises(tf.errors.DataLossError):
        _read(P.make_dataset(str(tmp_path / "bad"), "train", 8, shuffle=False))


@pytest.mark.parametrize("with_index", [True, False])
def test_skip_corrupt_skips_the_record_and_counts_it(datasets, tmp_path, with_index):
    shard, index, offset = _corrupt_copy(datasets["cifar10"], tmp_path / "bad")
    if not with_index:
        os.remove(shard + ".idx")
    ds = P.make_dataset(str(tmp_path / "bad"), "train", 8, skip_corrupt=True, dtype="uint8")
    got, stored = _read(ds), _stored(datasets["cifar10"])
    assert sum(got.values()) == sum(stored.values()) - 1 and not got - stored
    stats = ds.read_stats
    assert stats.records_skipped == 1
    assert stats.to_json()["damaged"] == [{"path": shard, "index": index, "offset": offset, "records": 1,
                                           "reason": "data CRC mismatch"}]


def test_skip_corrupt_counts_the_records_a_truncated_file_lost(datasets, tmp_path):
    shutil.copytree(datasets["cifar10"], tmp_path / "cut")
    shard = open_dataset(str(tmp_path / "cut")).shard_paths("train")[1]
    index = read_index(shard + ".idx")
    with open(shard, "r+b") as f:
        f.truncate(int(index[3, 0]) + 100)  # in the middle of record 3
    stats = P.ReadStats()
    ds = P.make_dataset(str(tmp_path / "cut"), "train", 8, skip_corrupt=True, stats=stats)
    assert sum(_read(ds).values()) == sum(_stored(datasets["cifar10"]).values()) - (len(index) - 3)
    assert stats.records_skipped == len(index) - 3 and "truncated" in stats.to_json()["damaged"][0]["reason"]


def test_iter_intact_records_matches_iter_records_on_good_gzip(sources, tmp_path):
    out = tmp_path / "gz"
    convert(sources["mnist"], str(out), ConvertOptions(shards=2, compression="gzip", progress=False, workers=1))
    shard = open_dataset(str(out)).shard_paths("train")[0]
    stats = P.ReadStats()
    assert list(iter_intact_records(shard, "gzip", stats)) == [r.data for r in iter_records(shard)]
    assert stats.records_skipped == 0


# --------------------------------------------------------------------------- workers, GZIP, foreign files


def test_worker_shards_are_disjoint_and_complete(datasets):
    parts = [_read(P.make_dataset(datasets["mnist"], "train", 8, num_shards=3, shard_index=i, dtype="uint8"))
             for i in range(3)]
    assert all(parts) and sum(parts, Counter()) == _stored(datasets["mnist"])
    keys = [set(p) for p in parts]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


def test_input_context_sets_worker_and_per_replica_batch(datasets):
    ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1, num_replicas_in_sync=3)
    ds = P.make_dataset(datasets["mnist"], "train", 12, input_context=ctx, dtype="uint8", shuffle=False)
    direct = P.make_dataset(datasets["mnist"], "train", 4, num_shards=3, shard_index=1, dtype="uint8", shuffle=False)
    assert max(b[0].shape[0] for b in ds) == 4 and _read(ds) == _read(direct)
    with pytest.raises(TfrecError, match="not both"):
        P.make_dataset(datasets["mnist"], input_context=ctx, num_shards=3)


def test_more_workers_than_files_is_refused(datasets):
    with pytest.raises(TfrecError, match="4 workers but 3 shard files"):
        P.make_dataset(datasets["mnist"], "train", 8, num_shards=4, shard_index=0)


@pytest.mark.parametrize("skip_corrupt", [False, True])
def test_gzip_shards_read_the_same_as_plain(sources, datasets, tmp_path, skip_corrupt):
    out = tmp_path / "gz"
    convert(sources["cifar10"], str(out), ConvertOptions(shards=3, compression="gzip", progress=False, workers=1))
    ds = P.make_dataset(str(out), "train", 8, dtype="uint8", skip_corrupt=skip_corrupt)
    assert _read(ds) == _stored(datasets["cifar10"])


@pytest.fixture
def foreign(tmp_path):
    """Two TFRecord files written by TensorFlow (PNG under 'img', class under 'cls') and a schema file."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (10, 8, 6, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 10)
    for part in range(2):
        with tf.io.TFRecordWriter(str(tmp_path / f"foreign-{part}.tfrecord")) as w:
            for i in range(part * 5, part * 5 + 5):
                png = tf.io.encode_png(images[i]).numpy()
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "img": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                    "cls": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(labels[i])])),
                }))
                w.write(ex.SerializeToString())
    schema = {"name": "foreign", "features": {
        "img": {"kind": "image", "encoding": "png", "shape": [8, 6, 3]},
        "cls": {"kind": "class_label", "shape": [], "num_classes": 4},
    }}
    (tmp_path / "foreign.json").write_text(json.dumps(schema))
    expected = Counter((int(lab), _digest(img)) for img, lab in zip(images, labels))
    return tmp_path, expected


def test_foreign_tfrecords_read_through_a_schema_file(foreign):
    root, expected = foreign
    listed = [str(root / "foreign-0.tfrecord"), str(root / "foreign-1.tfrecord")]
    for path in (str(root / "foreign-*.tfrecord"), listed):
        ds = P.make_dataset(path, batch_size=3, schema=str(root / "foreign.json"), dtype="uint8")
        assert _read(ds) == expected
    ds = P.make_dataset(str(root / "foreign-*.tfrecord"), batch_size=4, schema=str(root / "foreign.json"),
                        skip_corrupt=True, dtype="uint8")
    assert _read(ds) == expected


def test_foreign_tfrecords_without_a_schema_are_refused(foreign):
    root, _ = foreign
    with pytest.raises(TfrecError, match="no dataset.json; foreign TFRecords need a schema"):
        P.make_dataset(str(root / "foreign-0.tfrecord"))
    with pytest.raises(TfrecError, match="no TFRecord files found .*nothing.tfrecord does not exist"):
        P.make_dataset(str(root / "nothing.tfrecord"), schema=str(root / "foreign.json"))


# --------------------------------------------------------------------------- stages alone


def _ten_records(datasets):
    shard = open_dataset(datasets["cifar10"]).shard_paths("train")[0]
    return [r.data for _, r in zip(range(10), iter_records(shard))]


def test_parse_and_decode_stages_alone(datasets):
    options = P.ReadOptions(batch_size=4, shuffle=False, seed=0)
    schema = P.resolve_source(datasets["cifar10"]).schema
    parsed = P.parse_batches(tf.data.Dataset.from_tensor_slices(_ten_records(datasets)), schema.parse_spec(), options)
    assert [b["label"].shape[0] for b in parsed] == [4, 4, 2]
    decoded = D.decode_raw_batches(parsed, schema["image"], options)
    images = [b["image"] for b in decoded]
    assert images[0].shape == (4, 32, 32, 3) and images[0].dtype == tf.uint8


def test_cache_shuffle_repeat_stage_alone():
    options = P.ReadOptions(shuffle=True, seed=1, repeat=2)
    out = [int(v) for v in P.cache_shuffle_repeat(tf.data.Dataset.range(10), 4, options)]
    assert sorted(out) == sorted(list(range(10)) * 2) and out[:10] != list(range(10))


def test_shuffle_buffer_is_bounded_by_bytes():
    options = P.ReadOptions()
    assert P.shuffle_buffer_size(3_088, options) == P.MAX_SHUFFLE_RECORDS
    big = P.shuffle_buffer_size(224 * 224 * 3 + 40, options)
    assert big * (224 * 224 * 3) <= P.SHUFFLE_BUFFER_BYTES and big > 1000
    assert P.shuffle_buffer_size(50 << 20, options) == 5
    assert P.shuffle_buffer_size(3_088, P.ReadOptions(shuffle_buffer=77)) == 77


def test_shard_files_and_center_window():
    files = [f"f{i}" for i in range(5)]
    assert P.shard_files(files, 2, 0) == ["f0", "f2", "f4"] and P.shard_files(files, 2, 1) == ["f1", "f3"]
    assert D.center_window(tf.constant([100, 200, 3]), (50, 50)).numpy().tolist() == [0, 50, 100, 100]
    assert D.center_window(tf.constant([90, 60, 3]), (10, 20)).numpy().tolist() == [30, 0, 30, 60]


def test_jpeg_window_decodes_only_the_window_at_a_reduced_scale():
    img = np.random.default_rng(3).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    jpeg = tf.io.encode_jpeg(img, quality=95)
    full = tf.io.decode_jpeg(jpeg).numpy().astype(int)
    window = tf.constant([8, 4, 40, 32])
    same = D.decode_jpeg_window(jpeg, window, (40, 32), 3).numpy().astype(int)
    assert same.shape == (40, 32, 3) and np.abs(same - full[8:48, 4:36]).mean() < 3
    half = D.decode_jpeg_window(jpeg, window, (10, 10), 3)  # 40x32 >= 2x but not 4x of 10x10: 1/2 scale
    assert half.shape == (20, 16, 3)
    whole = D.decode_jpeg_window(jpeg, tf.constant([0, 0, 64, 48]), (30, 20), 3, whole=True)
    assert np.array_equal(whole, tf.io.decode_jpeg(jpeg, channels=3, ratio=2))


@pytest.mark.parametrize("change", [{"map_fusion": False}, {"apply_default_optimizations": False}])
def test_jpeg_pipeline_runs_under_the_users_tf_data_options(datasets, change):
    """A user's tf.data options (here: optimizations off) must not break the per-image decode, whose
    DCT-scale branch some executors cannot run once lowered (a single-threaded map could not)."""
    opts = tf.data.Options()
    for name, value in change.items():
        setattr(opts.experimental_optimization, name, value)
    ds = P.make_dataset(datasets["imagefolder"], "train", 4, seed=9, image_size=(12, 16), augment="imagenet")
    images, labels = next(iter(ds.with_options(opts)))
    assert images.shape == (4, 12, 16, 3) and labels.shape == (4,)


def test_jpeg_window_of_fixed_size_images_chooses_the_scale_without_a_branch():
    img = np.random.default_rng(5).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    jpeg = tf.io.encode_jpeg(img, quality=95)
    cases = [(tf.constant([8, 4, 40, 32]), (40, 32), False), (tf.constant([0, 0, 64, 48]), (30, 20), True),
             (tf.constant([0, 0, 64, 48]), (8, 6), True)]  # full scale; 1/2 (>= 2x, < 4x); 1/8
    for window, target, whole in cases:
        dynamic = D.decode_jpeg_window(jpeg, window, target, 3, whole)
        static = tf.function(lambda j, w: D.decode_jpeg_window(j, w, target, 3, whole, (64, 48, 3)))
        graph = static.get_concrete_function(tf.TensorSpec([], tf.string), tf.TensorSpec([4], tf.int32)).graph
        branches = ("If", "StatelessIf", "Case", "StatelessCase")
        assert not [op.type for op in graph.get_operations() if op.type in branches]
        assert np.array_equal(static(jpeg, window), dynamic)
    # windows of images >= 2x the target may be DCT-scaled: the choice stays per image
    branchy = tf.function(lambda j, w: D.decode_jpeg_window(j, w, (10, 10), 3, False, (64, 48, 3)))
    window = tf.constant([8, 4, 40, 32])
    assert np.array_equal(branchy(jpeg, window), D.decode_jpeg_window(jpeg, window, (10, 10), 3))


@pytest.mark.parametrize("shape", [(9, 7, 3), (64, 48, 3), (1, 64, 48, 3)])  # 64x48: > 8x the pixels, resized as uint8
@pytest.mark.parametrize("pad", [False, True])
def test_resize_casts_to_float_first_without_changing_a_pixel(shape, pad):
    img = tf.constant(np.random.default_rng(4).integers(0, 256, shape, dtype=np.uint8))
    want = tf.image.resize_with_pad(img, 12, 10) if pad else tf.image.resize(img, (12, 10))
    got = D._resize(img, (12, 10), pad)
    assert got.dtype == tf.float32 and np.array_equal(got, want)


def test_read_options_check_themselves():
    cases = [
        (dict(dtype="float16"), "dtype: expected one of float32, uint8, found 'float16'"),
        (dict(dtype="uint8", normalize="standardize"), "normalize: expected None with dtype uint8"),
        (dict(image_size=0), "image_size"),
        (dict(fit="zoom"), "fit: expected one of stretch, crop, pad"),
        (dict(num_shards=2, shard_index=2), "shard_index"),
        (dict(batch_size=0), "batch_size: expected at least 1"),
        (dict(repeat=-1), "repeat"),
        (dict(augment="autoaugment"), "presets: none, mnist, cifar, imagenet"),
    ]
    for kwargs, match in cases:
        with pytest.raises(TfrecError, match=match):
            P.ReadOptions(**kwargs)


def test_unknown_features_and_splits_are_named(datasets):
    with pytest.raises(TfrecError, match="no feature 'colour'; features: image, label"):
        P.make_dataset(datasets["cifar10"], features=["image", "colour"])
    with pytest.raises(TfrecError, match="no split 'val'"):
        P.make_dataset(datasets["cifar10"], "val")


# --------------------------------------------------------------------------- bench read


def test_benchmark_read_reports_throughput_memory_and_stages(datasets):
    r = bench.benchmark_read(datasets["cifar10"], batch_size=8, batches=3, progress=False, augment="cifar")
    assert r["batches"] == 3 and r["images"] == 24 and r["images_per_s"] > 0 and r["mb_per_s"] > 0
    assert r["peak_rss_mb"] > 0 and r["records_skipped"] == 0
    assert [s["stage"] for s in r["stages"]] == ["read", "parse", "decode", "augment", "output"]
    epoch = bench.benchmark_read(datasets["mnist"], batch_size=16, stages=False, progress=False)
    assert epoch["images"] + 16 == read_manifest(datasets["mnist"])["splits"]["train"]["records"]


def test_bench_read_cli_json_and_human(datasets):
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "read", datasets["cifar10"], "--batches", "2", "--batch-size", "8", "--json",
                                 "--augment", "cifar", "--no-stages"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["batches"] == 2 and data["augment"] == "cifar" and "stages" not in data
    result = runner.invoke(cli, ["bench", "read", datasets["imagefolder"], "--image-size", "20x10", "--batches", "1"])
    assert result.exit_code == 0 and "images/s" in result.stdout  # the result on stdout, progress on stderr
    assert "20x10" in result.stdout and "10x20" not in result.stdout
    result = runner.invoke(cli, ["bench", "read", datasets["imagefolder"], "--batches", "1"])
    assert result.exit_code == 1 and "pass image_size" in result.stderr
    result = runner.invoke(cli, ["bench", "read", datasets["cifar10"], "--augment", "autoaugment"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["bench", "read", "--help"])
    assert result.exit_code == 0 and "--skip-corrupt" in result.output and "--augment" in result.output


def test_augment_module_and_bench_help_do_not_import_tensorflow():
    code = ("import sys; import tfrec.read.augment; from tfrec.cli.main import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['bench', 'read', '--help']); assert r.exit_code == 0; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- parallelism


def _parallel_maps(ds) -> list[tuple[int, bool]]:
    """(num_parallel_calls, whether it decodes images) of each parallel map in the dataset's graph."""
    graph = tf.compat.v1.GraphDef.FromString(ds._as_serialized_graph().numpy())
    nodes = {n.name: n for n in graph.node}
    funcs = {f.signature.name: f for f in graph.library.function}

    def ops(name, seen):  # the ops of a function and of those it calls (cond branches)
        seen.add(name)
        out = set()
        for n in funcs[name].node_def:
            out.add(n.op)
            for attr in n.attr.values():
                for f in [attr.func] + list(attr.list.func):
                    if f.name in funcs and f.name not in seen:
                        out |= ops(f.name, seen)
        return out

    found = []
    for n in graph.node:
        if n.op.startswith("ParallelMapDataset"):
            calls = int(tf.make_ndarray(nodes[n.input[-1].split(":")[0]].attr["value"].tensor))
            found.append((calls, any("Jpeg" in op or op == "DecodeImage" for op in ops(n.attr["f"].func.name, set()))))
    return found


@pytest.mark.parametrize("augment", [None, "imagenet"])
def test_default_parallelism_decodes_images_at_twice_the_cores_and_autotunes_the_rest(datasets, augment):
    # By default the per-image decode map runs at DECODE_CALLS_PER_CORE x the cores (why: see
    # tfrec/read/options.py), every other stage is autotuned.
    from tfrec.read.options import DECODE_CALLS_PER_CORE, usable_cores

    ds = P.make_dataset(datasets["imagefolder"], "train", 4, image_size=16, augment=augment)
    maps = _parallel_maps(ds)
    assert [calls for calls, decodes in maps if decodes] == [DECODE_CALLS_PER_CORE * usable_cores()]
    assert {calls for calls, decodes in maps if not decodes} == {-1}
    for asked in (-1, 3):  # AUTOTUNE, or a number, asked for: every stage takes it
        maps = _parallel_maps(P.make_dataset(datasets["imagefolder"], "train", 4, image_size=16, augment=augment,
                                             num_parallel_calls=asked))
        assert {calls for calls, _ in maps} == {asked} and any(decodes for _, decodes in maps)


def test_iterators_start_reading_while_they_are_made(datasets):
    # Making an iterator optimises every map function (tens of ms); with warm start the records
    # are read and the shuffle buffer fills meanwhile, instead of after it (benchmarks/read.py, start-up).
    ds = P.make_dataset(datasets["imagefolder"], "train", 4, image_size=16, augment="imagenet")
    assert ds.options().experimental_warm_start is True
    assert _read(P.make_dataset(datasets["mnist"], "train", 16, dtype="uint8")) == _stored(datasets["mnist"])


def test_default_decode_calls_keep_large_images_in_flight_within_a_budget(datasets, monkeypatch):
    # 2 x the cores' decoded images in flight is small at 224x224; for large images on a many-core
    # host the calls are capped by DECODE_INFLIGHT_BYTES, but never below the cores (AUTOTUNE's most).
    from tfrec.read import options as O

    monkeypatch.setattr(O, "usable_cores", lambda: 64)
    small = _parallel_maps(P.make_dataset(datasets["imagefolder"], "train", 4, image_size=16))
    large = _parallel_maps(P.make_dataset(datasets["imagefolder"], "train", 4, image_size=1024))
    medium = _parallel_maps(P.make_dataset(datasets["imagefolder"], "train", 4, image_size=(640, 480)))
    decode = lambda maps: [calls for calls, decodes in maps if decodes]  # noqa: E731
    assert decode(small) == [128] and decode(large) == [64]
    budgeted = O.DECODE_INFLIGHT_BYTES // (640 * 480 * 3 * 4)  # float32 while resized
    assert 64 < budgeted < 128 and decode(medium) == [budgeted]


def test_a_glob_over_foreign_shards_skips_their_index_files(foreign):
    """`foreign-*` also matches each shard's .idx (and a label map): only the record files are read."""
    root, expected = foreign
    for shard in ("foreign-0.tfrecord", "foreign-1.tfrecord"):
        data, pos, lines = (root / shard).read_bytes(), 0, []
        while pos < len(data):
            framed = 16 + int.from_bytes(data[pos:pos + 8], "little")
            lines.append(f"{pos} {framed}\n")
            pos += framed
        (root / f"{shard}.idx").write_text("".join(lines))
    (root / "foreign-label_map.pbtxt").write_text("item {\n  id: 1\n  name: 'a'\n}\n")
    ds = P.make_dataset(str(root / "foreign-*"), batch_size=3, schema=str(root / "foreign.json"), dtype="uint8")
    assert _read(ds) == expected
