"""TFDS metadata: tfds.builder_from_directory reads tfrec's outputs and yields what make_dataset yields."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.codec.example import decode_example
from tfrec.errors import TfrecError
from tfrec.io import records
from tfrec.io.manifest import read_manifest
from tfrec.io.dataset import open_dataset
from tfrec.write.convert import ConvertOptions, convert
from tfrec.write.tfds import DATASET_INFO, FEATURES, write_tfds_metadata


def _tfds_pairs(path, split, key="label"):
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(path)
    if key == "label":
        ds = builder.as_dataset(split=split, as_supervised=True)
    else:
        ds = builder.as_dataset(split=split).map(lambda d: (d["image"], d[key]))
    return builder, Counter((x.tobytes(), int(y)) for x, y in ds.as_numpy_iterator())


def _tfrec_pairs(path, split, image_size=None):
    from tfrec import make_dataset

    # image_size only lets encoded images of one size be batched (the fixture's are all the same size)
    ds = make_dataset(path, split, batch_size=7, shuffle=False, dtype="uint8", image_size=image_size)
    return Counter((x.tobytes(), int(y)) for xs, ys in ds.as_numpy_iterator() for x, y in zip(xs, ys))


@pytest.mark.parametrize("fmt", ["mnist", "cifar100", "imagefolder"])
def test_tfds_reads_the_same_images_and_labels_as_make_dataset(datasets, fmt):
    path = datasets[fmt]
    manifest = read_manifest(path)
    for split, entry in manifest["splits"].items():
        builder, from_tfds = _tfds_pairs(path, split)
        assert sum(from_tfds.values()) == entry["records"] > 0
        shape = np.frombuffer(next(iter(from_tfds))[0], np.uint8).size
        size = (20, 24) if fmt == "imagefolder" else None
        assert size is None or shape == 20 * 24 * 3
        assert from_tfds == _tfrec_pairs(path, split, size)
        assert builder.info.splits[split].shard_lengths == [s["records"] for s in entry["shards"]]
    assert builder.info.supervised_keys == ("image", "label")
    if manifest["label_names"]:
        assert builder.info.features["label"].names == manifest["label_names"]


def test_tfds_reads_cifar100_coarse_labels(datasets):
    path = datasets["cifar100"]
    _, from_tfds = _tfds_pairs(path, "test", key="coarse_label")
    rows = [decode_example(r.data) for p in open_dataset(path).shard_paths("test") for r in records.iter_records(p)]
    assert from_tfds == Counter((r["image"][1][0], r["coarse_label"][1][0]) for r in rows)


def test_export_tfds_for_an_older_output(datasets, tmp_path):
    import shutil

    out = str(tmp_path / "old")
    shutil.copytree(datasets["mnist"], out)
    for name in (DATASET_INFO, FEATURES, "label.labels.txt"):
        os.remove(os.path.join(out, name))
    result = CliRunner().invoke(cli, ["export-tfds", out, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"] == ["dataset_info.json", "features.json", "label.labels.txt"]
    _, from_tfds = _tfds_pairs(out, "train")
    assert from_tfds == _tfrec_pairs(out, "train")


def test_compressed_dataset_gets_no_tfds_metadata(sources, tmp_path):
    out = str(tmp_path / "gz")
    result = convert(sources["mnist"], out, ConvertOptions(compression="gzip", progress=False))
    assert "uncompressed TFRecords only" in result["tfds"]["skipped"]
    assert not os.path.exists(os.path.join(out, DATASET_INFO))
    with pytest.raises(TfrecError, match="gzip-compressed"):
        write_tfds_metadata(out)
    cli_result = CliRunner().invoke(cli, ["export-tfds", out])
    assert cli_result.exit_code == 1 and "uncompressed TFRecords only" in cli_result.output


def test_writing_metadata_imports_neither_tfds_nor_tensorflow(datasets):
    code = (
        "import sys; from tfrec.write.tfds import write_tfds_metadata; write_tfds_metadata(sys.argv[1]); "
        "bad = [m for m in ('tensorflow', 'tensorflow_datasets') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code, datasets["cifar100"]], check=True)


def test_overwrite_removes_stale_label_files(sources, tmp_path):
    out = str(tmp_path / "o")
    convert(sources["cifar100"], out, ConvertOptions(progress=False))
    open(os.path.join(out, "stale.labels.txt"), "w").close()
    convert(sources["mnist"], out, ConvertOptions(progress=False, overwrite=True))
    assert not os.path.exists(os.path.join(out, "stale.labels.txt"))
    info = json.load(open(os.path.join(out, DATASET_INFO)))
    assert info["name"] == "mnist" and [s["name"] for s in info["splits"]] == ["train", "test"]
    assert np.sum([int(n) for s in info["splits"] for n in s["shardLengths"]]) == 70
