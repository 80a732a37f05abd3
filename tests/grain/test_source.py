"""tfrec.grain.source: Grain's RandomAccessDataSource protocol, read by Grain's own MapDataset, DataLoader and sampler."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

grain = pytest.importorskip("grain")

import tfrec.grain  # noqa: E402
from tfrec.access import open_source  # noqa: E402


def test_elements_are_hwc_uint8_images_and_int_labels(datasets):
    src = tfrec.grain.source(datasets["cifar10"], split="train")
    ref = open_source(datasets["cifar10"], "train")
    assert len(src) == 50
    element = src[7]
    assert set(element) == {"image", "label"} and element["image"].shape == (32, 32, 3)
    assert element["image"].dtype == np.uint8 and isinstance(element["label"], int)
    assert np.array_equal(element["image"], ref[7]["image"]) and element["label"] == ref[7]["label"]
    assert tfrec.grain.source(datasets["imagefolder"])[0]["image"].shape == (20, 24, 3)
    copy = pickle.loads(pickle.dumps(src))
    assert np.array_equal(copy[7]["image"], element["image"])


def test_grain_map_dataset_reads_it(datasets):
    ds = grain.MapDataset.source(tfrec.grain.source(datasets["mnist"], split="test")).shuffle(seed=1)
    labels = sorted(ds[i]["label"] for i in range(len(ds)))
    ref = open_source(datasets["mnist"], "test")
    assert labels == sorted(ref[i]["label"] for i in range(len(ref)))


@pytest.mark.parametrize("worker_count", [0, 2])
@pytest.mark.parametrize("shard_count", [1, 2])
def test_grain_data_loader_reads_every_record_once_per_epoch(datasets, worker_count, shard_count):
    src = tfrec.grain.source(datasets["cifar10"], split="train")
    seen = []
    for shard in range(shard_count):
        options = grain.sharding.ShardOptions(shard_index=shard, shard_count=shard_count, drop_remainder=False)
        sampler = grain.samplers.IndexSampler(len(src), shard_options=options, shuffle=True, num_epochs=1, seed=4)
        loader = grain.DataLoader(data_source=src, sampler=sampler, worker_count=worker_count)
        seen += [e["image"].tobytes() for e in loader]
    assert sorted(seen) == sorted(src[i]["image"].tobytes() for i in range(len(src)))
