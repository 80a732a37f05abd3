"""Tests for tfrec.demo.synth: formats, determinism and learnability of the synthetic data."""

from __future__ import annotations

import gzip
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfrec.demo import synth
from tfrec.demo import synth_render
from tfrec.errors import TfrecError


def _read_idx(path: Path) -> tuple[int, tuple[int, ...], bytes]:
    """Parse an (optionally gzipped) IDX file into (magic, dims, payload)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return magic, dims, raw[4 + 4 * ndim:]


def _tree_bytes(root: Path) -> dict[str, bytes]:
    """Map of relative path -> content for every file under root."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _nearest_class_mean_accuracy(x: np.ndarray, y: np.ndarray, n_train: int) -> float:
    """Fit class means on the first n_train samples; return accuracy on the rest."""
    feats = x.reshape(len(x), -1).astype(np.float32)
    classes = np.unique(y[:n_train])
    means = np.stack([feats[:n_train][y[:n_train] == c].mean(0) for c in classes])
    dist = ((feats[n_train:, None, :] - means[None]) ** 2).sum(-1)
    return float((classes[dist.argmin(1)] == y[n_train:]).mean())


def _centre_by_mass(x: np.ndarray) -> np.ndarray:
    """Roll each greyscale image so its ink centre of mass is at the centre (as MNIST did)."""
    x = x.astype(np.float32)
    n, h, w = x.shape
    ink = np.maximum(x - x.reshape(n, -1).mean(1)[:, None, None], 0)
    total = ink.sum((1, 2)) + 1e-6
    cy = (ink.sum(2) * np.arange(h)).sum(1) / total
    cx = (ink.sum(1) * np.arange(w)).sum(1) / total
    dy = np.rint((h - 1) / 2 - cy).astype(int)
    dx = np.rint((w - 1) / 2 - cx).astype(int)
    return np.stack([np.roll(img, (a, b), axis=(0, 1)) for img, a, b in zip(x, dy, dx)])


# --------------------------------------------------------------------------- arrays


# 5x chance for 10 classes: far above guessing, far below what the generators give (0.886-0.89 here).
LEARNABLE = 0.5


def test_make_digits_shapes_and_labels():
    images, labels = synth.make_digits(200, seed=1)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (200,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [20] * 10
    assert synth.make_digits(5, size=16)[0].shape == (5, 16, 16)
    assert synth.make_digits(0)[0].shape == (0, 28, 28)


def test_make_shapes_shapes_and_labels():
    images, labels = synth.make_shapes(300, seed=1, size=24, num_classes=100)
    assert images.shape == (300, 24, 24, 3) and images.dtype == np.uint8
    assert labels.dtype == np.uint8 and labels.max() < 100


@pytest.mark.parametrize("make", [synth.make_digits, synth.make_shapes])
def test_generators_are_deterministic(make):
    a_img, a_lab = make(64, seed=7)
    b_img, b_lab = make(64, seed=7)
    c_img, _ = make(64, seed=8)
    assert a_img.tobytes() == b_img.tobytes() and a_lab.tobytes() == b_lab.tobytes()
    assert a_img.tobytes() != c_img.tobytes()


def test_shape_class_names():
    ten = synth.shape_class_names(10)
    assert ten[0] == "red_circle" and len(set(ten)) == 10
    hundred = synth.shape_class_names(100)
    assert len(set(hundred)) == 100
    assert synth.shape_class_names(3) == ["red_circle", "green_square", "blue_triangle"]
    with pytest.raises(TfrecError, match=r"num_classes must be in 1\.\.100, got 101"):
        synth.shape_class_names(101)


@pytest.mark.parametrize("call, message", [
    (lambda: synth.make_digits(-1), r"n must be a non-negative integer, got -1"),
    (lambda: synth.make_digits(3, size=4), r"size must be an integer >= 8, got 4"),
    (lambda: synth.make_shapes(3, num_classes=0), r"num_classes must be in 1\.\.100, got 0"),
    (lambda: synth.make_shapes(3, seed=-1), r"seed must be a non-negative integer, got -1"),
    (lambda: synth.write_cifar10("unused", batches=0), r"batches must be a positive integer, got 0"),
])
def test_invalid_arguments_raise_tfrec_error(call, message):
    with pytest.raises(TfrecError, match=message):
        call()


def test_digits_are_learnable():
    images, labels = synth.make_digits(2000, seed=11)
    # Uniform +-3 px shifts defeat a raw-pixel template match, so centre by mass first.
    acc = _nearest_class_mean_accuracy(_centre_by_mass(images), labels, 1500)
    # Learnable means far above chance (0.1 for 10 classes): 5x chance. A class-mean template reached 0.886
    # here; the glyphs come from the machine's font, so the bar leaves room for another machine's.
    assert acc >= LEARNABLE, acc


def test_digits_fall_back_to_seven_segments_without_freetype(monkeypatch):
    monkeypatch.setattr(synth_render, "_default_font", lambda px: None)
    synth_render._digit_templates.cache_clear()
    try:
        images, labels = synth.make_digits(400, seed=0)
        glyphs = synth_render._digit_templates(28)[:, 0]
    finally:
        synth_render._digit_templates.cache_clear()
    assert images.shape == (400, 28, 28) and glyphs.max() > 0.9
    assert len({g.tobytes() for g in glyphs}) == 10
    assert _nearest_class_mean_accuracy(_centre_by_mass(images), labels, 300) >= LEARNABLE  # 0.89 here


def test_shapes_are_learnable():
    images, labels = synth.make_shapes(2000, seed=11)
    acc = _nearest_class_mean_accuracy(images, labels, 1500)
    assert acc >= LEARNABLE, acc  # 0.886 here


# --------------------------------------------------------------------------- IDX / MNIST


def test_write_mnist_idx_headers(tmp_path):
    info = synth.write_mnist(tmp_path, n_train=30, n_test=10, seed=3)
    assert info["train"]["count"] == 30 and info["test"]["count"] == 10
    magic, dims, data = _read_idx(Path(info["train"]["images"]))
    assert (magic, dims, len(data)) == (0x803, (30, 28, 28), 30 * 28 * 28)
    magic, dims, data = _read_idx(Path(info["test"]["labels"]))
    assert (magic, dims, len(data)) == (0x801, (10,), 10)
    assert Path(info["test"]["images"]).name == "t10k-images-idx3-ubyte"
    images, labels = synth.make_digits(40, seed=3)
    assert _read_idx(Path(info["train"]["images"]))[2] == images[:30].tobytes()
    assert data == labels[30:].tobytes()


def test_write_mnist_gzip_matches_raw_and_is_reproducible(tmp_path):
    raw = synth.write_mnist(tmp_path / "raw", n_train=20, n_test=5, seed=2)
    gz = synth.write_mnist(tmp_path / "gz", n_train=20, n_test=5, seed=2, gzip=True)
    gz2 = synth.write_mnist(tmp_path / "gz2", n_train=20, n_test=5, seed=2, gzip=True)
    other = synth.write_mnist(tmp_path / "other", n_train=20, n_test=5, seed=9)
    for split in ("train", "test"):
        for kind in ("images", "labels"):
            gz_path = Path(gz[split][kind])
            assert gz_path.suffix == ".gz"
            assert gzip.decompress(gz_path.read_bytes()) == Path(raw[split][kind]).read_bytes()
            assert gz_path.read_bytes() == Path(gz2[split][kind]).read_bytes()
    assert Path(raw["train"]["images"]).read_bytes() != \
        Path(other["train"]["images"]).read_bytes()


def test_write_idx_other_dtypes_and_rejects_unknown(tmp_path):
    path = synth.write_idx(tmp_path / "x.idx", np.arange(6, dtype=np.int32).reshape(2, 3))
    magic, dims, data = _read_idx(Path(path))
    assert (magic, dims) == (0x0C02, (2, 3))
    assert np.frombuffer(data, ">i4").tolist() == list(range(6))
    with pytest.raises(TfrecError, match="IDX cannot store dtype uint64"):
        synth.write_idx(tmp_path / "y.idx", np.zeros(3, dtype=np.uint64))


# --------------------------------------------------------------------------- CIFAR


def test_write_cifar10_layout_and_records(tmp_path):
    info = synth.write_cifar10(tmp_path, n_train=23, n_test=7, seed=4, batches=3)
    root = tmp_path / "cifar-10-batches-bin"
    assert info["root"] == str(root) and info["archive"] is None
    names = [f"data_batch_{i}.bin" for i in (1, 2, 3)] + ["test_batch.bin"]
    assert sorted(p.name for p in root.iterdir()) == sorted(names + ["batches.meta.txt"])
    sizes = [(root / n).stat().st_size for n in names]
    assert all(s % 3073 == 0 for s in sizes)
    assert sum(sizes[:3]) // 3073 == 23 and sizes[3] // 3073 == 7
    assert (root / "batches.meta.txt").read_text().splitlines() == synth.shape_class_names(10)
    images, labels = synth.make_shapes(30, seed=4)
    record = np.frombuffer((root / "data_batch_1.bin").read_bytes()[:3073], np.uint8)
    assert record[0] == labels[0]
    planes = record[1:].reshape(3, 32, 32)
    assert np.array_equal(planes[0], images[0, ..., 0])
    assert np.array_equal(planes.transpose(1, 2, 0), images[0])
    test_first = np.frombuffer((root / "test_batch.bin").read_bytes()[:3073], np.uint8)
    assert test_first[0] == labels[23]
    assert np.array_equal(test_first[1:].reshape(3, 32, 32).transpose(1, 2, 0), images[23])


def test_write_cifar100_layout_and_records(tmp_path):
    info = synth.write_cifar100(tmp_path, n_train=12, n_test=4, seed=5)
    root = tmp_path / "cifar-100-binary"
    assert (root / "train.bin").stat().st_size == 12 * 3074
    assert (root / "test.bin").stat().st_size == 4 * 3074
    assert len((root / "fine_label_names.txt").read_text().splitlines()) == 100
    assert len((root / "coarse_label_names.txt").read_text().splitlines()) == 20
    assert info["train"]["count"] == 12 and len(info["classes"]) == 100
    images, fine = synth.make_shapes(16, seed=5, num_classes=100)
    records = np.frombuffer((root / "train.bin").read_bytes(), np.uint8).reshape(12, 3074)
    assert records[:, 1].tolist() == fine[:12].tolist()
    assert records[:, 0].tolist() == (fine[:12] // 5).tolist()
    assert np.array_equal(records[2, 2:].reshape(3, 32, 32)[0], images[2, ..., 0])


@pytest.mark.parametrize("writer, top, archive_name", [
    (synth.write_cifar10, "cifar-10-batches-bin", "cifar-10-binary.tar.gz"),
    (synth.write_cifar100, "cifar-100-binary", "cifar-100-binary.tar.gz"),
])
def test_cifar_archives(tmp_path, writer, top, archive_name):
    plain = writer(tmp_path / "plain", n_train=10, n_test=3, seed=6)
    arc = writer(tmp_path / "arc", n_train=10, n_test=3, seed=6, archive=True)
    arc2 = writer(tmp_path / "arc2", n_train=10, n_test=3, seed=6, archive=True)
    assert arc["root"] is None
    assert [p.name for p in (tmp_path / "arc").iterdir()] == [archive_name]
    assert Path(arc["archive"]).read_bytes() == Path(arc2["archive"]).read_bytes()
    expected = _tree_bytes(Path(plain["root"]))
    with tarfile.open(arc["archive"], "r:gz") as tar:
        assert tar.getmember(top).isdir()
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert files == {f"{top}/{name}": data for name, data in expected.items()}
    assert set(arc["train"]["files"]) <= set(files)


def test_cifar_determinism(tmp_path):
    a = synth.write_cifar10(tmp_path / "a", n_train=8, n_test=2, seed=1)
    b = synth.write_cifar10(tmp_path / "b", n_train=8, n_test=2, seed=1)
    c = synth.write_cifar10(tmp_path / "c", n_train=8, n_test=2, seed=2)
    assert _tree_bytes(Path(a["root"])) == _tree_bytes(Path(b["root"]))
    assert _tree_bytes(Path(a["root"])) != _tree_bytes(Path(c["root"]))


# --------------------------------------------------------------------------- image folders


@pytest.mark.parametrize("fmt, suffix, pil_format", [
    ("jpeg", ".jpg", "JPEG"),
    ("png", ".png", "PNG"),
    ("bmp", ".bmp", "BMP"),
    ("gif", ".gif", "GIF"),
    ("webp", ".webp", "WEBP"),
])
def test_image_folder_formats(tmp_path, fmt, suffix, pil_format):
    info = synth.write_image_folder(tmp_path, n_per_class=4, num_classes=3,
                                    size=(40, 24), fmt=fmt)
    assert info["count"] == 12 and info["classes"] == synth.shape_class_names(3)
    for name in info["classes"]:
        files = sorted((tmp_path / name).iterdir())
        assert [f.name for f in files] == [f"{name}_{i:05d}{suffix}" for i in range(4)]
        with Image.open(files[0]) as img:
            assert img.format == pil_format and img.size == (40, 24)


def test_image_folder_splits_and_determinism(tmp_path):
    info = synth.write_image_folder(tmp_path / "a", n_per_class=3, num_classes=2,
                                    size=(32, 32), splits=("train", "val"), seed=5)
    assert info["count"] == 12
    for split in ("train", "val"):
        for name in info["classes"]:
            assert len(list((tmp_path / "a" / split / name).glob("*.jpg"))) == 3
    again = synth.write_image_folder(tmp_path / "b", n_per_class=3, num_classes=2,
                                     size=(32, 32), splits=("train", "val"), seed=5)
    other = synth.write_image_folder(tmp_path / "c", n_per_class=3, num_classes=2,
                                     size=(32, 32), splits=("train", "val"), seed=6)
    tree = _tree_bytes(Path(info["root"]))
    assert tree == _tree_bytes(Path(again["root"]))
    assert tree != _tree_bytes(Path(other["root"]))
    assert tree["train/red_circle/red_circle_00000.jpg"] != \
        tree["val/red_circle/red_circle_00000.jpg"]


def test_image_folder_vary_size(tmp_path):
    info = synth.write_image_folder(tmp_path, n_per_class=8, num_classes=2, size=(64, 48),
                                    fmt="png", vary_size=True)
    sizes = []
    for path in sorted(tmp_path.rglob("*.png")):
        with Image.open(path) as img:
            sizes.append(img.size)
    assert len(sizes) == info["count"] == 16
    assert len(set(sizes)) > 1
    assert all(48 <= w <= 80 and 36 <= h <= 60 for w, h in sizes)


@pytest.mark.parametrize("kwargs, message", [
    ({"fmt": "tiff"}, r"unsupported image format 'tiff'"),
    ({"splits": ("train", "train")}, r"splits must be distinct, non-empty directory names"),
    ({"splits": "train"}, r"splits must be a sequence of names, not a single string"),
    ({"size": (64,)}, r"size must be an int or a \(width, height\) pair, got \(64,\)"),
    ({"quality": 0}, r"quality must be in 1\.\.100, got 0"),
    ({"n_per_class": -1}, r"n_per_class must be a non-negative integer, got -1"),
])
def test_image_folder_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(TfrecError, match=message):
        synth.write_image_folder(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_digits_without_noise_have_a_clean_background():
    noisy, _ = synth.make_digits(200, seed=3)
    clean, labels = synth.make_digits(200, seed=3, noise=False)
    assert (clean == 0).mean() > 0.5 > (noisy == 0).mean()
    assert clean.shape == noisy.shape and labels.shape == (200,)
