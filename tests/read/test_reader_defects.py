"""Defects found reading real files (issue 10): a missing shard, and a schema without a class label."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest

import tfrec
from tfrec.errors import TfrecError


def _copy(datasets, tmp_path) -> tuple[str, dict]:
    out = str(tmp_path / "cifar10")
    shutil.copytree(datasets["cifar10"], out)
    return out, json.load(open(os.path.join(out, "dataset.json")))


def test_a_missing_shard_fails_up_front_in_one_line(datasets, tmp_path):
    out, manifest = _copy(datasets, tmp_path)
    gone = os.path.join(out, manifest["splits"]["train"]["shards"][1]["file"])
    os.remove(gone)
    with pytest.raises(TfrecError, match=f"^{gone}: listed in dataset.json but missing \\(pass skip_corrupt=True"):
        tfrec.make_dataset(out, batch_size=8)


def test_a_missing_shard_is_skipped_and_counted_with_skip_corrupt(datasets, tmp_path):
    out, manifest = _copy(datasets, tmp_path)
    shards = manifest["splits"]["train"]["shards"]
    gone = os.path.join(out, shards[1]["file"])
    os.remove(gone)
    ds = tfrec.make_dataset(out, batch_size=8, skip_corrupt=True, shuffle=False)
    labels = np.concatenate([lab.numpy() for _, lab in ds])
    assert len(labels) == manifest["splits"]["train"]["records"] - shards[1]["records"]
    stats = ds.read_stats.to_json()
    assert stats["records_skipped"] == shards[1]["records"]
    assert stats["damaged"] == [{"path": gone, "index": 0, "offset": 0, "records": shards[1]["records"],
                                 "reason": "listed in dataset.json but missing"}]


def test_a_schema_without_a_class_label_says_so_in_one_line(datasets):
    schema = json.load(open(os.path.join(datasets["cifar10"], "dataset.json")))["schema"]
    del schema["features"]["label"]
    with pytest.warns(UserWarning, match=r"^schema 'cifar10' has no class_label feature: make_dataset yields images "
                                         r"only, not \(images, labels\)"):
        ds = tfrec.make_dataset(datasets["cifar10"], batch_size=4, schema=schema)
    assert isinstance(next(iter(ds)), tf_tensor())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tfrec.make_dataset(datasets["cifar10"], batch_size=4, schema=schema, features=["image"])


def tf_tensor():
    import tensorflow as tf

    return tf.Tensor
