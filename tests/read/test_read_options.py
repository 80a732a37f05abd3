"""One reader entry: make_dataset(dataset_or_path, options: ReadOptions | None, **overrides), its options written
once (on ReadOptions, documented there), the calls from before ReadOptions still working, and its stages."""
from __future__ import annotations

import dataclasses
import inspect
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfrec  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.io import fs  # noqa: E402
from tfrec.io.dataset import open_dataset  # noqa: E402
from tfrec.io.manifest import MANIFEST  # noqa: E402
from tfrec.read.options import ReadOptions  # noqa: E402
from tfrec.read.pipeline import make_dataset, read_options  # noqa: E402

FIELDS = [f.name for f in dataclasses.fields(ReadOptions)]
# tfrec.__all__ before the dataset handle and ReadOptions: it only grows.
EXPORTED_BEFORE = {
    "__version__", "ConvertOptions", "DatasetView", "InspectOptions", "VerifyOptions", "CorruptRecordError",
    "FetchError", "Record", "Schema", "SchemaError", "ServiceError", "ShardWriter", "SourceError", "TfrecError",
    "TrainBenchOptions", "TrainOptions", "TrainResult", "benchmark_train", "builtin_schemas", "convert",
    "decode_example", "encode_example", "fetch", "evaluate", "frame_record", "inspect", "iter_records", "load_model",
    "load_schema", "make_dataset", "make_view_server", "masked_crc32c", "predict", "read_index", "read_manifest",
    "train", "verify", "write_html_report", "write_records", "write_tfds_metadata",
}


def _batches(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, u) and np.array_equal(y, v) for (x, y), (u, v) in zip(a, b))


def test_tfrec_exports_read_options_and_all_only_grows():
    assert tfrec.ReadOptions is ReadOptions
    assert EXPORTED_BEFORE | {"ReadOptions", "open_dataset", "Dataset"} <= set(tfrec.__all__)
    for name in tfrec.__all__:
        assert getattr(tfrec, name) is not None


def test_a_read_options_reads_as_its_keywords_do(datasets):
    d = datasets["cifar10"]
    opts = ReadOptions(split="test", batch_size=4, shuffle=False, dtype="uint8")
    by_options = _batches(make_dataset(d, opts))
    assert _same(by_options, _batches(make_dataset(d, split="test", batch_size=4, shuffle=False, dtype="uint8")))
    assert _same(by_options, _batches(make_dataset(d, "test", 4, shuffle=False, dtype="uint8")))  # as before
    assert _same(by_options, _batches(make_dataset(open_dataset(d), opts)))
    # keywords replace the options' fields
    assert _same(_batches(make_dataset(d, opts, batch_size=10)), _batches(make_dataset(d, "test", 10, shuffle=False,
                                                                                       dtype="uint8")))
    assert opts.batch_size == 4  # unchanged: frozen


@pytest.mark.parametrize("call, match", [
    (lambda d: make_dataset(d, "train", 4, 5), "takes the split and batch_size positionally"),
    (lambda d: make_dataset(d, ReadOptions(), 4), "give a ReadOptions, or the split and batch_size"),
    (lambda d: make_dataset(d, "train", split="test"), "multiple values for argument 'split'"),
    (lambda d: make_dataset(d, "train", 4, batch_size=8), "multiple values for argument 'batch_size'"),
    (lambda d: make_dataset(d, batch_sise=4), "unexpected keyword argument 'batch_sise'"),
    (lambda d: make_dataset(d, 4), "expected a ReadOptions or a split name, found 4"),
])
def test_what_is_not_an_option_is_a_type_error(datasets, call, match):
    with pytest.raises(TypeError, match=match):
        call(datasets["mnist"])


def test_every_option_is_written_once_on_read_options_and_documented_there():
    params = inspect.signature(make_dataset).parameters
    assert not set(FIELDS) & set(params), "an option is listed in make_dataset's signature again"
    assert list(params) == ["dataset", "options", "legacy", "input_context", "stats", "overrides"]
    doc = ReadOptions.__doc__
    for name in FIELDS:
        assert f"\n        {name}: " in doc, f"ReadOptions' docstring does not document {name}"
    assert "ReadOptions" in make_dataset.__doc__ and "shuffle_buffer:" not in make_dataset.__doc__


@pytest.mark.parametrize("name", FIELDS)
def test_make_dataset_takes_every_field_as_a_keyword(name):
    default = getattr(ReadOptions(), name)
    assert getattr(read_options(None, (), {name: default}), name) == default


def test_options_check_themselves_before_anything_is_read():
    with pytest.raises(TfrecError, match="skip_corrupt cannot run on tf.data service workers"):
        ReadOptions(data_service="grpc://127.0.0.1:1", skip_corrupt=True)
    with pytest.raises(TfrecError, match="processing_mode: expected one of distributed_epoch, parallel_epochs"):
        ReadOptions(processing_mode="sideways")


def test_the_dataset_carries_its_stages(datasets):
    ds = make_dataset(datasets["cifar10"], "train", 8, augment="cifar", seed=0)
    assert [name for name, _ in ds.stages] == ["read", "parse", "decode", "augment", "output"]
    assert ds.stages[-1][1] is ds
    assert next(iter(ds.stages[0][1])).dtype == tf.string  # the read stage yields serialized records


def test_make_dataset_on_a_handle_reads_no_dataset_json(datasets, monkeypatch):
    dataset = open_dataset(datasets["mnist"])
    opened: list[str] = []
    real = fs.open
    monkeypatch.setattr(fs, "open", lambda p, *a, **k: (opened.append(p) if os.path.basename(str(p)) == MANIFEST
                                                        else None) or real(p, *a, **k))
    for split in ("train", "test"):
        next(iter(make_dataset(dataset, split=split, batch_size=4)))
    tfrec.read.pipeline.augmented_samples(dataset, "mnist", n=2)
    assert opened == []
