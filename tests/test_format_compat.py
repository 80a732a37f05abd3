"""Datasets written by earlier tfrec releases keep verifying and reading (tests/data/format-v*, never regenerated)."""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfrec.check.verify import VerifyOptions, verify  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.io.manifest import FORMAT_VERSION, read_manifest  # noqa: E402

V1 = Path(__file__).parent / "data" / "format-v1"
EXPECTED = json.loads((V1 / "expected.json").read_text())


@pytest.mark.parametrize("name", ["mnist", "cifar100", "images"])
def test_v1_dataset_verifies_clean_at_the_deepest_level(name):
    report = verify([str(V1 / name)], VerifyOptions(level="decode", progress=False, workers=1))
    assert report.ok, report.summary()


@pytest.mark.parametrize("name", ["mnist", "cifar100", "images"])
def test_v1_dataset_reads_with_the_labels_it_was_written_with(name):
    from tfrec import make_dataset

    for split, want in EXPECTED[name].items():
        size = (12, 16) if name == "images" else None
        labels = Counter()
        for images, batch_labels in make_dataset(str(V1 / name), split, batch_size=5, shuffle=False, image_size=size):
            assert images.shape[0] == batch_labels.shape[0]
            labels.update(int(v) for v in batch_labels.numpy())
        assert sum(labels.values()) == want["records"]
        assert {str(k): v for k, v in sorted(labels.items())} == want["label_counts"]


def test_manifest_without_a_version_is_v1_and_a_newer_one_is_refused(tmp_path):
    copy = tmp_path / "mnist"
    shutil.copytree(V1 / "mnist", copy)
    manifest = json.loads((copy / "dataset.json").read_text())
    assert manifest["format_version"] == 1 == FORMAT_VERSION
    del manifest["format_version"]
    (copy / "dataset.json").write_text(json.dumps(manifest))
    assert read_manifest(str(copy))["name"] == "mnist"
    manifest["format_version"] = FORMAT_VERSION + 1
    (copy / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(TfrecError, match=r"format_version 2 was written by a newer tfrec.*upgrade tfrec"):
        read_manifest(str(copy))
