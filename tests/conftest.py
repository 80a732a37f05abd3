"""Shared fixtures: tiny sources in every format and their converted datasets, built per session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfrec.demo import synth  # noqa: E402
from tfrec.io import fs  # noqa: E402
from tfrec.io.manifest import MANIFEST  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    """Small sources: MNIST IDX (gzipped), CIFAR-10 and CIFAR-100 binaries, a JPEG class folder."""
    root = tmp_path_factory.mktemp("sources")
    paths = {
        "mnist": root / "mnist",
        "cifar10": root / "cifar10",
        "cifar100": root / "cifar100",
        "imagefolder": root / "images",
    }
    synth.write_mnist(paths["mnist"], n_train=60, n_test=10, seed=1, gzip=True)
    synth.write_cifar10(paths["cifar10"], n_train=50, n_test=10, seed=2, batches=2)
    synth.write_cifar100(paths["cifar100"], n_train=40, n_test=10, seed=3)
    synth.write_image_folder(paths["imagefolder"], n_per_class=8, seed=4, num_classes=3, size=(24, 20), fmt="jpeg")
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="session")
def datasets(sources, tmp_path_factory):
    """Each source converted with 3 shards per split: format -> output directory."""
    root = tmp_path_factory.mktemp("datasets")
    out = {}
    for fmt, src in sources.items():
        out[fmt] = str(root / fmt)
        convert(src, out[fmt], ConvertOptions(shards=3, progress=False, workers=1))
    return out


@pytest.fixture
def manifest_reads(monkeypatch):
    """Counts the dataset.json files opened (every reader opens it through fs.open: read_manifest)."""
    opened: list[str] = []
    real = fs.open

    def spy(path, *args, **kwargs):
        if os.path.basename(str(path)) == MANIFEST:
            opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(fs, "open", spy)
    return opened
