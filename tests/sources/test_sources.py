"""Sources: format detection, the IDX/CIFAR/image-folder readers, and a clear error for each bad input."""
from __future__ import annotations

import glob
import gzip
import os
import shutil
import tarfile

import numpy as np
import pytest

from tfrec.demo import synth
from tfrec.write.convert import ConvertOptions, convert
from tfrec.errors import SourceError
from tfrec.sources import detect_format


def test_detect_format(sources, tmp_path):
    for fmt, path in sources.items():
        assert detect_format(path) == fmt
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="cannot tell the format"):
        detect_format(str(tmp_path / "empty"))


def _convert_fails(src, out, match, **kw):
    with pytest.raises(SourceError, match=match):
        convert(str(src), str(out), ConvertOptions(progress=False, **kw))
    assert not os.path.exists(os.path.join(out, "dataset.json"))


# ------------------------------------------------------------------ MNIST IDX


def _mnist(tmp_path, **kw):
    src = tmp_path / "mnist"
    synth.write_mnist(src, n_train=20, n_test=5, seed=0, **kw)
    return src


def test_mnist_alternative_spelling_and_plain_files(tmp_path):
    src = _mnist(tmp_path)
    for name in glob.glob(str(src / "*-idx?-ubyte")):
        os.rename(name, name.replace("-idx", ".idx"))
    result = convert(str(src), str(tmp_path / "o"), ConvertOptions(progress=False))
    assert result["splits"]["train"]["records"] == 20 and result["splits"]["test"]["records"] == 5


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: b"\x01\x02" + d[2:], r"not an IDX file: magic number 0102"),
        (lambda d: d[:2] + b"\x0d" + d[3:], r"IDX data is float32"),
        (lambda d: d[:-5], r"holds \d+ bytes \(truncated\)"),
        (lambda d: d + b"xx", r"\(trailing bytes\)"),
    ],
)
def test_mnist_malformed_images_file(tmp_path, mutate, match):
    src = _mnist(tmp_path)
    path = src / "train-images-idx3-ubyte"
    path.write_bytes(mutate(path.read_bytes()))
    _convert_fails(src, tmp_path / "o", f"train-images-idx3-ubyte: .*{match}")


def test_mnist_counts_differ(tmp_path):
    src = _mnist(tmp_path, gzip=True)
    synth.write_idx(src / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8), gzip=True)
    _convert_fails(src, tmp_path / "o", r"holds 20 images but .*train-labels-idx1-ubyte.gz holds 19 labels")


def test_mnist_missing_partner_and_bad_gzip(tmp_path):
    src = _mnist(tmp_path)
    os.remove(src / "t10k-labels-idx1-ubyte")
    _convert_fails(src, tmp_path / "o", r"t10k-images-idx3-ubyte: found, but no matching t10k-labels")
    src2 = _mnist(tmp_path / "b", gzip=True)
    path = src2 / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:50])
    _convert_fails(src2, tmp_path / "o2", r"train-images-idx3-ubyte.gz: cannot read")


def test_fashion_mnist_style_labels_extend_classes(tmp_path):
    src = _mnist(tmp_path)
    synth.write_idx(src / "train-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 12)
    result = convert(str(src), str(tmp_path / "o"), ConvertOptions(progress=False))
    assert result["schema"]["features"]["label"]["num_classes"] == 12


# ------------------------------------------------------------------ CIFAR


def test_cifar_archive_as_downloaded(tmp_path):
    synth.write_cifar10(tmp_path / "c10", n_train=10, n_test=4, seed=0, archive=True)
    archive = glob.glob(str(tmp_path / "c10" / "*.tar.gz"))[0]
    result = convert(archive, str(tmp_path / "o"), ConvertOptions(progress=False))
    assert result["splits"]["train"]["records"] == 10 and result["source"]["format"] == "cifar10"
    synth.write_cifar100(tmp_path / "c100", n_train=10, n_test=4, seed=0, archive=True)
    result = convert(str(tmp_path / "c100"), str(tmp_path / "o2"), ConvertOptions(progress=False))
    assert result["splits"]["test"]["records"] == 4 and result["source"]["format"] == "cifar100"
    assert len(result["schema"]["features"]["coarse_label"]["names"]) == 20


def test_cifar_cut_mid_record(tmp_path):
    synth.write_cifar10(tmp_path / "c", n_train=10, n_test=4, seed=0, batches=1)
    path = glob.glob(str(tmp_path / "c" / "**" / "test_batch.bin"), recursive=True)[0]
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    _convert_fails(tmp_path / "c", tmp_path / "o", r"test_batch.bin: 12392 bytes is not a whole number of 3073-byte records \(4 records and 100 bytes over")


def test_cifar100_given_as_cifar10(tmp_path):
    synth.write_cifar100(tmp_path / "c", n_train=3073, n_test=2, seed=0)
    _convert_fails(tmp_path / "c", tmp_path / "o", r"looks like CIFAR-100 .*--format cifar100", format="cifar10")
    for p in glob.glob(str(tmp_path / "c" / "**" / "*.bin"), recursive=True):
        os.rename(p, os.path.join(os.path.dirname(p), "data_batch_1.bin" if "train" in p else "test_batch.bin"))
    _convert_fails(tmp_path / "c", tmp_path / "o2", r"data_batch_1.bin: record 1 \(byte offset 3073\) has label \d+, but there are only 10 classes; is this CIFAR-100", format="cifar10")
    os.remove(glob.glob(str(tmp_path / "c" / "**" / "data_batch_1.bin"), recursive=True)[0])
    _convert_fails(tmp_path / "c", tmp_path / "o3", r"test_batch.bin: 6148 bytes .*is it CIFAR-100\?", format="cifar10")


def test_cifar_python_version_is_refused(tmp_path):
    src = tmp_path / "cifar-10-batches-py"
    src.mkdir()
    (src / "data_batch_1").write_bytes(b"\x80\x04pickle")
    _convert_fails(tmp_path, tmp_path / "o", r"data_batch_1 is CIFAR's 'python version'.*never unpickles", format="cifar10")
    archive = tmp_path / "x" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "data_batch_1", "cifar-10-batches-py/data_batch_1")
    _convert_fails(archive, tmp_path / "o2", r"never unpickles", format="cifar10")


# ------------------------------------------------------------------ image folders


def _folder(tmp_path, n=4):
    root = tmp_path / "imgs"
    synth.write_image_folder(root, n_per_class=n, seed=0, num_classes=2, size=(16, 16))
    return root


def test_bad_images_are_skipped_and_listed(tmp_path):
    root = _folder(tmp_path)
    cls = sorted(os.listdir(root))[0]
    (root / cls / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / cls / "empty.png").write_bytes(b"")
    (root / cls / "notes.txt").write_text("ignored")
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(progress=False))
    reasons = {s["path"]: s["reason"] for s in result["skipped"]}
    assert reasons[os.path.join(cls, "empty.png")] == "empty file (0 bytes)"
    assert reasons[os.path.join(cls, "broken.jpg")].startswith("not a valid image")
    assert result["ignored_files"] == 1 and result["splits"]["train"]["records"] == 8
    assert os.path.exists(tmp_path / "o" / "dataset.json")


def test_on_error_fail_stops_with_no_manifest(tmp_path):
    root = _folder(tmp_path)
    cls = sorted(os.listdir(root))[1]
    (root / cls / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    _convert_fails(root, tmp_path / "o", rf"{cls}/broken.jpg: not a valid image.*--on-error fail", on_error="fail")
    # The bad file is found while the folder is scanned, before any shard (or hidden temporary file) is started.
    assert os.listdir(tmp_path / "o") == []


def test_split_folders_keep_their_splits(tmp_path):
    root = tmp_path / "imgs"
    synth.write_image_folder(root, n_per_class=3, seed=0, num_classes=2, size=(16, 16), splits=("train", "val"))
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(progress=False))
    assert {k: v["records"] for k, v in result["splits"].items()} == {"train": 6, "val": 6}


def test_symlink_out_of_tree_is_not_followed(tmp_path):
    root = _folder(tmp_path)
    outside = tmp_path / "outside.jpg"
    shutil.copy(glob.glob(str(root / "*" / "*.jpg"))[0], outside)
    cls = sorted(os.listdir(root))[0]
    os.symlink(outside, root / cls / "link.jpg")
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(progress=False))
    assert any("symlink to outside" in s["reason"] for s in result["skipped"])
    result = convert(str(root), str(tmp_path / "o2"), ConvertOptions(progress=False, follow_symlinks=True))
    assert result["splits"]["train"]["records"] == 9


def test_no_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "sub").mkdir()
    (tmp_path / "flat" / "sub" / "a.txt").write_text("x")
    _convert_fails(tmp_path / "flat", tmp_path / "o", "hold no image files", format="imagefolder")


def test_gzip_helper_files_are_real_gzip(tmp_path):
    src = _mnist(tmp_path, gzip=True)
    data = gzip.decompress((src / "train-images-idx3-ubyte.gz").read_bytes())
    assert data[:4] == b"\x00\x00\x08\x03"
