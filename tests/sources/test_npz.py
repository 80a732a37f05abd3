"""Keras-layout .npz archives: round trip, and refusals that never unpickle."""
from __future__ import annotations

import numpy as np
import pytest

from tfrec.codec.example import decode_example
from tfrec.errors import SourceError
from tfrec.io import records
from tfrec.io.dataset import open_dataset
from tfrec.sources import detect_format
from tfrec.write.convert import ConvertOptions, convert


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (12, 6, 5), np.uint8), "y_train": rng.integers(0, 4, 12),
        "x_test": rng.integers(0, 256, (4, 6, 5), np.uint8), "y_test": rng.integers(0, 4, 4),
    }


def test_npz_round_trips(tmp_path):
    arrays = _arrays()
    path = str(tmp_path / "mnist.npz")
    np.savez_compressed(path, **arrays)
    assert detect_format(path) == "npz"
    out = str(tmp_path / "o")
    result = convert(path, out, ConvertOptions(progress=False, shuffle=False))
    assert result["schema"]["features"]["image"]["shape"] == [6, 5, 1]
    for split in ("train", "test"):
        rows = [decode_example(r.data) for p in open_dataset(out).shard_paths(split) for r in records.iter_records(p)]
        assert [r["image"][1][0] for r in rows] == [x.tobytes() for x in arrays[f"x_{split}"]]
        assert [r["label"][1][0] for r in rows] == arrays[f"y_{split}"].tolist()


def test_npz_keras_cifar_layout_with_n_by_1_labels(tmp_path):
    path = str(tmp_path / "c.npz")
    np.savez(path, x_train=np.zeros((3, 4, 4, 3), np.uint8), y_train=np.array([[0], [2], [1]]))
    result = convert(path, str(tmp_path / "o"), ConvertOptions(progress=False))
    assert result["schema"]["features"]["image"]["shape"] == [4, 4, 3]
    assert result["schema"]["features"]["label"]["num_classes"] == 3


def test_object_arrays_are_refused_without_loading_them(tmp_path, monkeypatch):
    path = str(tmp_path / "evil.npz")
    np.savez(path, x_train=np.array([{"a": 1}, None], dtype=object), y_train=np.zeros(2, np.int64))

    def no_load(*args, **kwargs):
        raise AssertionError("np.load called on an archive with object arrays")

    monkeypatch.setattr(np, "load", no_load)
    with pytest.raises(SourceError, match=r"evil.npz: array 'x_train' holds Python objects \(dtype object\)"):
        convert(path, str(tmp_path / "o"), ConvertOptions(progress=False))


@pytest.mark.parametrize("arrays,match", [
    ({"x_train": np.zeros((2, 3, 3), np.float32), "y_train": np.zeros(2, np.int64)}, r"'x_train' is float32"),
    ({"x_train": np.zeros((2, 3, 3), np.uint8)}, r"'x_train' has no partner y_train"),
    ({"images": np.zeros((2, 3, 3), np.uint8)}, r"no x_SPLIT/y_SPLIT arrays .*arrays: images"),
    ({"x_train": np.zeros((2, 3, 3), np.uint8), "y_train": np.zeros(3, np.int64)}, r"holds 2 images but 'y_train' 3 labels"),
])
def test_bad_npz(tmp_path, arrays, match):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **arrays)
    with pytest.raises(SourceError, match=match):
        convert(path, str(tmp_path / "o"), ConvertOptions(progress=False))
