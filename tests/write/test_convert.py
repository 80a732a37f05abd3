"""`convert`: every record round-trips, TF parses every shard, output is deterministic and atomic."""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import time
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from tfrec.io import records
from tfrec.io.index import read_index
from tfrec.demo import synth
from tfrec.write import shards as shards_module
from tfrec.write.convert import ConvertOptions, convert
from tfrec.codec.example import decode_example
from tfrec.io.manifest import read_manifest
from tfrec.io.dataset import open_dataset
from tfrec.codec.schema import schema_from_json
from tfrec.sources.cifar import read_cifar10, read_cifar100
from tfrec.sources import SourceOptions
from tfrec.sources.mnist import read_idx


def _read_all(out, split):
    manifest = read_manifest(out)
    rows = []
    for path in open_dataset(out).shard_paths(split):
        rows += [decode_example(r.data) for r in records.iter_records(path)]
    return manifest, rows


def _multiset(images, labels):
    return Counter((bytes(img), int(lab)) for img, lab in zip(images, labels))


def test_mnist_round_trips_exactly(sources, datasets):
    src = sources["mnist"]
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"))
        manifest, rows = _read_all(datasets["mnist"], split)
        got = Counter((r["image"][1][0], r["label"][1][0]) for r in rows)
        assert got == _multiset([i.tobytes() for i in images], labels)
        assert manifest["splits"][split]["records"] == len(images)
        assert len(manifest["splits"][split]["shards"]) == 3


@pytest.mark.parametrize("fmt,reader", [("cifar10", read_cifar10), ("cifar100", read_cifar100)])
def test_cifar_round_trips_exactly(sources, datasets, fmt, reader):
    source = reader(sources[fmt], SourceOptions())
    for split, data in source.splits.items():
        _, rows = _read_all(datasets[fmt], split)
        keys = [k for k in ("label", "coarse_label") if k in data.arrays]
        want = Counter((img.tobytes(),) + tuple(int(data.arrays[k][i]) for k in keys) for i, img in enumerate(data.arrays["image"]))
        got = Counter((r["image"][1][0],) + tuple(r[k][1][0] for k in keys) for r in rows)
        assert got == want


def test_cifar_planes_become_hwc(tmp_path):
    out = synth.write_cifar10(tmp_path, n_train=3, n_test=1, seed=0, batches=1)
    path = glob.glob(str(tmp_path / "**" / "data_batch_1.bin"), recursive=True)[0]
    assert out["train"]["files"] == [path]
    # One record is 1 label byte and 3 planes of 32x32.
    assert [os.path.getsize(p) for p in out["train"]["files"] + out["test"]["files"]] == [3 * 3073, 1 * 3073]
    raw = np.frombuffer(open(path, "rb").read(), np.uint8).reshape(-1, 3073)
    images = read_cifar10(str(tmp_path), SourceOptions()).splits["train"].arrays["image"]
    assert (images[1][..., 0].reshape(-1) == raw[1, 1:1025]).all()  # R plane
    assert (images[1][..., 2].reshape(-1) == raw[1, 2049:]).all()  # B plane


def test_image_folder_keeps_original_bytes(sources, datasets):
    root = sources["imagefolder"]
    manifest, rows = _read_all(datasets["imagefolder"], "train")
    names = manifest["label_names"]
    files = sorted(glob.glob(os.path.join(root, "*", "*.jpg")))
    want = Counter((open(f, "rb").read(), names.index(os.path.basename(os.path.dirname(f)))) for f in files)
    got = Counter((r["image"][1][0], r["label"][1][0]) for r in rows)
    assert got == want
    first = rows[0]
    img = Image.open(os.path.join(root, first["filename"][1][0].decode()))
    assert (first["width"][1][0], first["height"][1][0]) == img.size and first["format"][1][0] == b"jpeg"


def test_image_formats_recorded_and_an_all_jpeg_folder_stored_as_jpeg(sources, datasets, tmp_path):
    manifest = read_manifest(datasets["imagefolder"])  # a folder of JPEGs only
    assert manifest["schema"]["features"]["image"]["encoding"] == "jpeg"
    shards = manifest["splits"]["train"]["shards"]
    assert all(set(s["formats"]) == {"jpeg"} for s in shards)
    assert sum(s["formats"]["jpeg"] for s in shards) == manifest["splits"]["train"]["records"]
    # one PNG among them: the schema stays `encoded` (any format), and the shards say what they hold
    mixed = tmp_path / "mixed"
    shutil.copytree(sources["imagefolder"], mixed)
    first = sorted(glob.glob(str(mixed / "*" / "*.jpg")))[0]
    Image.open(first).save(first[:-4] + ".png")
    os.remove(first)
    manifest = convert(str(mixed), str(tmp_path / "out"), ConvertOptions(shards=3, progress=False, workers=1))
    assert manifest["schema"]["features"]["image"]["encoding"] == "encoded"
    counts = Counter()
    for s in manifest["splits"]["train"]["shards"]:
        counts.update(s["formats"])
    assert counts == {"jpeg": manifest["splits"]["train"]["records"] - 1, "png": 1}
    # the reader takes both: JPEGs through their crop window, the PNG through decode_image
    tf = pytest.importorskip("tensorflow")
    from tfrec.read.pipeline import make_dataset

    n = sum(int(tf.shape(x)[0]) for x, _ in make_dataset(str(tmp_path / "out"), batch_size=8, image_size=(16, 16),
                                                         augment="imagenet", seed=1))
    assert n == manifest["splits"]["train"]["records"]


def test_every_shard_parses_with_the_schema_spec(datasets):
    tf = pytest.importorskip("tensorflow")
    for fmt, out in datasets.items():
        manifest = read_manifest(out)
        schema = schema_from_json(manifest["schema"])
        spec = schema.parse_spec()
        for split, info in manifest["splits"].items():
            paths = open_dataset(out).shard_paths(split)
            n = 0
            for batch in tf.data.TFRecordDataset(paths).batch(64).map(lambda x: tf.io.parse_example(x, spec)):
                n += int(tf.shape(batch["label"])[0])
                if schema.image.encoding == "raw":
                    tf.reshape(tf.io.decode_raw(batch["image"], tf.uint8), (-1,) + tuple(schema.image.shape))
                else:
                    assert tf.io.decode_image(batch["image"][0], channels=3).shape[-1] == 3
            assert n == info["records"], (fmt, split)


def test_index_files_point_at_every_record(datasets):
    for out in datasets.values():
        for path in open_dataset(out).shard_paths():
            index = read_index(path + ".idx")
            offsets = [(r.offset, len(r.data) + 16) for r in records.iter_records(path)]
            assert index.tolist() == [list(o) for o in offsets]
            assert index[-1].sum() == os.path.getsize(path)


def test_manifest_describes_the_shards(datasets):
    out = datasets["cifar10"]
    manifest = read_manifest(out)
    assert manifest["name"] == "cifar10" and manifest["compression"] == "none"
    assert manifest["label_names"] == synth.shape_class_names(10)
    assert manifest["schema"]["features"]["label"]["names"] == manifest["label_names"]
    for split, info in manifest["splits"].items():
        assert [s["file"] for s in info["shards"]] == [f"cifar10-{split}.tfrecord-{i:05d}-of-00003" for i in range(3)]
        for s in info["shards"]:
            path = os.path.join(out, s["file"])
            assert os.path.getsize(path) == s["bytes"]
            assert records.file_checksum(path) == s["checksum"]
            assert s["records"] == sum(1 for _ in records.iter_records(path))


def _shard_bytes(out):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(out, "*.tfrecord-*")))}


_ENCODE_CHUNK = shards_module.encode_chunk


def _encode_chunk_noting_the_process(make_record, items):
    """encode_chunk that notes which process ran it (in $TFREC_TEST_PIDS), taking a moment."""
    with open(os.environ["TFREC_TEST_PIDS"], "a") as f:
        f.write(f"{os.getpid()} {len(items)}\n")
    time.sleep(0.05)  # so that one worker cannot take every task before the other has started
    return _ENCODE_CHUNK(make_record, items)


def test_resize_spreads_the_images_over_the_workers(sources, tmp_path, monkeypatch):
    # benchmarks/convert.py once saw 2 workers keep only 1.03 cores busy (other load on the machine):
    # the re-encoding must run in the pool, spread over both workers, with none of it in the parent.
    log = tmp_path / "pids.txt"
    monkeypatch.setenv("TFREC_TEST_PIDS", str(log))
    monkeypatch.setattr(shards_module, "encode_chunk", _encode_chunk_noting_the_process)
    monkeypatch.setattr(shards_module, "ITEM_CHUNK_RECORDS", 4)
    result = convert(sources["imagefolder"], str(tmp_path / "o"), ConvertOptions(resize=(16, 16), workers=2, progress=False))
    rows = [line.split() for line in log.read_text().splitlines()]
    per_process = Counter()
    for pid, count in rows:
        per_process[int(pid)] += int(count)
    assert os.getpid() not in per_process and len(per_process) == 2, per_process
    assert sum(per_process.values()) == sum(s["records"] for s in result["splits"].values()) == 24


@pytest.mark.slow
def test_same_seed_same_bytes_whatever_the_workers(sources, tmp_path):
    src = sources["imagefolder"]
    a = convert(src, str(tmp_path / "a"), ConvertOptions(workers=1, shards=2, progress=False, split=(("train", 0.75), ("val", 0.25))))
    b = convert(src, str(tmp_path / "b"), ConvertOptions(workers=2, shards=2, progress=False, split=(("train", 0.75), ("val", 0.25))))
    c = convert(src, str(tmp_path / "c"), ConvertOptions(workers=2, shards=2, progress=False, seed=9, split=(("train", 0.75), ("val", 0.25))))
    assert _shard_bytes(a["out"]) == _shard_bytes(b["out"])
    assert _shard_bytes(a["out"]) != _shard_bytes(c["out"])
    for fmt in ("mnist", "cifar10"):
        x = convert(sources[fmt], str(tmp_path / f"{fmt}1"), ConvertOptions(workers=1, progress=False))
        y = convert(sources[fmt], str(tmp_path / f"{fmt}2"), ConvertOptions(workers=2, progress=False))
        assert _shard_bytes(x["out"]) == _shard_bytes(y["out"])


def test_split_is_stratified_disjoint_and_complete(sources, tmp_path):
    result = convert(sources["imagefolder"], str(tmp_path / "o"), ConvertOptions(split=(("train", 0.75), ("val", 0.25)), progress=False))
    seen = {}
    for split in ("train", "val"):
        _, rows = _read_all(result["out"], split)
        seen[split] = Counter(r["label"][1][0] for r in rows)
        names = [r["filename"][1][0] for r in rows]
        assert len(set(names)) == len(names)
    assert seen["train"] == {0: 6, 1: 6, 2: 6} and seen["val"] == {0: 2, 1: 2, 2: 2}
    mnist = convert(sources["mnist"], str(tmp_path / "m"), ConvertOptions(split=(("train", 0.5), ("val", 0.5)), progress=False))
    assert set(mnist["splits"]) == {"test", "train", "val"}
    assert mnist["splits"]["train"]["records"] + mnist["splits"]["val"]["records"] == 60


def test_no_shuffle_keeps_source_order(sources, tmp_path):
    result = convert(sources["mnist"], str(tmp_path / "o"), ConvertOptions(shuffle=False, shards=1, progress=False))
    _, rows = _read_all(result["out"], "test")
    labels = read_idx(os.path.join(sources["mnist"], "t10k-labels-idx1-ubyte.gz"))
    assert [r["label"][1][0] for r in rows] == labels.tolist()


@pytest.mark.parametrize("compression", ["gzip", "zlib"])
def test_compressed_output(sources, tmp_path, compression):
    tf = pytest.importorskip("tensorflow")
    result = convert(sources["cifar10"], str(tmp_path / "o"), ConvertOptions(compression=compression, progress=False))
    paths = open_dataset(result["out"]).shard_paths("train")
    n = sum(1 for _ in tf.data.TFRecordDataset(paths, compression_type=compression.upper()))
    assert n == 50 and result["compression"] == compression
    assert sum(1 for p in paths for _ in records.iter_records(p)) == 50


def test_resize_and_encode(sources, tmp_path):
    result = convert(sources["imagefolder"], str(tmp_path / "o"), ConvertOptions(resize=(16, 12), encode="png", progress=False))
    _, rows = _read_all(result["out"], "train")
    img = Image.open(__import__("io").BytesIO(rows[0]["image"][1][0]))
    assert img.format == "PNG" and img.size == (16, 12) and img.mode == "RGB"
    assert result["schema"]["features"]["image"]["shape"] == [12, 16, 3]
    assert result["schema"]["features"]["image"]["encoding"] == "png"


def test_refuses_non_empty_output_without_overwrite(sources, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    from tfrec.errors import TfrecError

    with pytest.raises(TfrecError, match="not empty; pass --overwrite"):
        convert(sources["mnist"], str(out), ConvertOptions(progress=False))
    convert(sources["mnist"], str(out), ConvertOptions(progress=False, overwrite=True, shards=2))
    convert(sources["mnist"], str(out), ConvertOptions(progress=False, overwrite=True, shards=1))
    assert (out / "precious.txt").read_text() == "keep"
    assert len(glob.glob(str(out / "*.tfrecord-*[0-9]"))) == 2  # the old 2-shard files are gone
    assert json.loads((out / "dataset.json").read_text())["splits"]["train"]["shards"][0]["records"] == 60


def _interrupted_states(clean: str) -> dict[str, dict[str, bytes]]:
    """What a conversion killed around its first shard's close leaves in OUT (no dataset.json): file name -> bytes.
    ShardWriter renames the .idx first, then the shard; the journal line comes after both renames."""
    first = sorted(n for n in os.listdir(clean) if n.endswith("-of-00002") and "-train." in n)[0]
    shard, index = (open(os.path.join(clean, n), "rb").read() for n in (first, first + ".idx"))
    tmp = f".{first}.tmp-4242"
    return {
        "temporaries only": {tmp: shard[:100], tmp + ".idx": b""},
        "index renamed, shard not yet": {first + ".idx": index, tmp: shard},
        "both renamed, journal not yet written": {first: shard, first + ".idx": index},
        "journal line torn by the kill": {first: shard, first + ".idx": index,
                                          ".tfrec-journal.jsonl": b'{"fingerprint": "0123'},
    }


@pytest.mark.parametrize("state", ["temporaries only", "index renamed, shard not yet",
                                   "both renamed, journal not yet written", "journal line torn by the kill"])
def test_a_rerun_without_resume_recognises_an_interrupted_conversion(sources, tmp_path, state):
    # Issue 23 item 19: each state a kill can leave is tfrec's own unfinished conversion, so the rerun
    # suggests --resume (which finishes it) rather than --overwrite (which throws the shards away).
    from tfrec.errors import TfrecError

    clean = str(tmp_path / "clean")
    convert(sources["mnist"], clean, ConvertOptions(progress=False, shards=2, workers=1))
    out = tmp_path / "o"
    out.mkdir()
    for name, data in _interrupted_states(clean)[state].items():
        (out / name).write_bytes(data)
    with pytest.raises(TfrecError, match=rf"{re.escape(str(out))}: holds an interrupted conversion \(.*no dataset.json\); "
                                         r"pass --resume to finish it or --overwrite to start again"):
        convert(sources["mnist"], str(out), ConvertOptions(progress=False, shards=2, workers=1))
    convert(sources["mnist"], str(out), ConvertOptions(progress=False, shards=2, workers=1, resume=True))
    assert sorted(os.listdir(out)) == sorted(os.listdir(clean))
    for name in os.listdir(clean):
        assert (out / name).read_bytes() == open(os.path.join(clean, name), "rb").read(), name


@pytest.mark.parametrize("files", [{"notes.txt": b"x"}, {"data.tfrecord": b"x"}, {"dataset.json": b"{}"}])
def test_a_directory_of_other_files_is_not_called_a_conversion(sources, tmp_path, files):
    from tfrec.errors import TfrecError

    out = tmp_path / "o"
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    with pytest.raises(TfrecError, match="output directory is not empty; pass --overwrite to replace it"):
        convert(sources["mnist"], str(out), ConvertOptions(progress=False))
