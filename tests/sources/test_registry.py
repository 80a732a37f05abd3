"""sources/: the data model and the reader registry in their own modules, re-exported by the package."""
from __future__ import annotations

import subprocess
import sys

import pytest

import tfrec.sources as sources
from tfrec.errors import SourceError
from tfrec.sources import model, registry


def test_formats_come_from_the_registry():
    assert registry.FORMATS == tuple(registry.READERS)
    assert registry.FORMATS == ("mnist", "cifar10", "cifar100", "imagefolder", "parquet", "npz", "coco", "voc", "yolo",
                                "csv")


@pytest.mark.parametrize("fmt", registry.FORMATS)
def test_every_registered_reader_resolves(fmt):
    reader = registry.reader(fmt)
    assert callable(reader) and reader.__module__.startswith("tfrec.sources.")


def test_unknown_format_lists_the_supported_ones(tmp_path):
    with pytest.raises(SourceError, match=r"unknown format 'tiff'; supported: auto, mnist, cifar10, cifar100, "
                                          r"imagefolder, parquet, npz, coco, voc, yolo, csv"):
        registry.reader("tiff")
    with pytest.raises(SourceError, match=r"unknown format 'tiff'; supported: auto, mnist"):
        sources.read_source(str(tmp_path), "tiff")


@pytest.mark.parametrize("name", ["SplitData", "SourceData", "SourceOptions", "FITS", "LABEL_MODES",
                                  "MAX_LISTED_IGNORED", "content_id"])
def test_the_package_re_exports_the_model(name):
    assert getattr(sources, name) is getattr(model, name)
    assert name in sources.__all__


@pytest.mark.parametrize("name", ["FORMATS", "read_source", "detect_format"])
def test_the_package_re_exports_the_registry(name):
    assert getattr(sources, name) is getattr(registry, name)
    assert name in sources.__all__


def test_the_registry_imports_no_reader_until_asked():
    # FORMATS feeds the CLI's choices: naming the formats must not load the readers (Pillow, pyarrow).
    code = ("import sys; from tfrec.sources import FORMATS; "
            "print(sorted(m for m in sys.modules if m.startswith('tfrec.sources.') and m.rsplit('.', 1)[1] in "
            "('mnist', 'cifar', 'imagefolder', 'parquet', 'npz')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_labels_option_is_checked_with_the_supported_names():
    with pytest.raises(SourceError, match=r"unknown labels 'maybe'; supported: inferred, none"):
        model.SourceOptions(labels="maybe")
