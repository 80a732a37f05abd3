"""tf.train.Example encoding: wire-compatible with TensorFlow's protobuf, bulk == one by one."""
from __future__ import annotations

import numpy as np
import pytest

from tfrec.codec.example import ExampleDecodeError, decode_example, encode_example, encode_examples_bulk

GOLDEN = "0a210a0f0a05696d61676512060a040a0201020a0e0a056c6162656c12051a030a0103"


def test_golden_bytes():
    # Byte-for-byte what TensorFlow's deterministic serialization gives for these features.
    assert encode_example({"image": b"\x01\x02", "label": 3}).hex() == GOLDEN


def test_matches_tensorflow_protobuf():
    tf = pytest.importorskip("tensorflow")
    feats = {
        "b": [b"x", b"", "text"],
        "i": np.array([0, 1, -1, 2**40, -(2**63)], np.int64),
        "f": np.array([0.5, -1.25, 3e30], np.float32),
        "empty_i": ("int64", []),
        "one": 7,
    }
    ours = encode_example(feats)
    ex = tf.train.Example()
    ex.ParseFromString(ours)
    assert ex.SerializeToString(deterministic=True) == ours
    assert list(ex.features.feature["i"].int64_list.value) == [0, 1, -1, 2**40, -(2**63)]
    decoded = decode_example(ours)
    assert decoded["i"] == ("int64", [0, 1, -1, 2**40, -(2**63)])
    assert decoded["b"] == ("bytes", [b"x", b"", b"text"])
    assert decoded["f"][0] == "float" and np.allclose(decoded["f"][1], [0.5, -1.25, 3e30])
    assert decoded["empty_i"] == ("int64", [])


def test_decodes_unpacked_values_written_by_tensorflow():
    tf = pytest.importorskip("tensorflow")
    ex = tf.train.Example()
    ex.features.feature["x"].int64_list.value.extend([5, 6])
    ex.features.feature["y"].float_list.value.extend([1.5])
    data = ex.SerializeToString()
    assert decode_example(data)["x"] == ("int64", [5, 6])
    assert decode_example(data)["y"] == ("float", [1.5])


@pytest.mark.parametrize("labels", [[1, 2, 3, 4], [1, 200, 5, 70000], [-3, 0, 127, 128]])
def test_bulk_matches_one_by_one(labels):
    rng = np.random.default_rng(0)
    n = len(labels)
    images = rng.integers(0, 256, (n, 12), dtype=np.uint8)
    floats = rng.random((n, 2)).astype(np.float32)
    labels = np.array(labels, np.int64)
    out = [None] * n
    for rows, mat in encode_examples_bulk({"image": ("bytes", images), "label": ("int64", labels), "f": ("float", floats)}):
        for r, row in zip(rows, mat):
            out[r] = row.tobytes()
    for i in range(n):
        assert out[i] == encode_example({"image": images[i].tobytes(), "label": int(labels[i]), "f": floats[i]})


@pytest.mark.parametrize("data", [b"\x0a\x05abc", b"\x0a", b"\x0f\x00", b"\x0a\x02\x0a\x7f", b"\xff" * 11])
def test_malformed_bytes_give_a_clean_error(data):
    with pytest.raises(ExampleDecodeError):
        decode_example(data)


@pytest.mark.parametrize("layout", ["rows", "planar"])
@pytest.mark.parametrize("labels", [[1, 2, 3, 4, 5, 6], [1, 200, 5, 70000, 3, 128]])
def test_bulk_take_matches_one_by_one(layout, labels, monkeypatch):
    # take= gathers rows straight into the output (contiguous images, or planar CIFAR-style views a
    # block of rows at a time: 3 here, so two blocks); a single varint width takes the no-sort path,
    # mixed widths the grouped one.
    from tfrec.codec import example

    monkeypatch.setattr(example, "PLANAR_BLOCK_ROWS", 3)
    rng = np.random.default_rng(1)
    n = len(labels)
    planes = rng.integers(0, 256, (n, 3, 2, 2), dtype=np.uint8)
    images = planes.transpose(0, 2, 3, 1) if layout == "planar" else np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    labels = np.array(labels, np.int64)
    take = np.array([4, 0, 5, 2])
    out = {}
    for rows, mat in encode_examples_bulk({"image": ("bytes", images), "label": ("int64", labels)}, (12, 4), take):
        for r, row in zip(rows.tolist(), mat):
            out[r] = row[12:-4].tobytes()
    assert sorted(out) == list(range(len(take)))
    for r, i in enumerate(take):
        assert out[r] == encode_example({"image": images[i].tobytes(), "label": int(labels[i])})
