"""The one dataset handle (tfrec.open_dataset): what it holds, the problems it notes, the one missing-shard
message every command uses, URLs under the same rule, and the listers it replaces (still importable, warning)."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import uuid

import pytest

import tfrec
from tfrec.errors import TfrecError
from tfrec.io import fs
from tfrec.io.dataset import Dataset, ShardEntry, open_dataset
from tfrec.io.manifest import MANIFEST, MISSING_SHARD, read_manifest
from tfrec.io.scan import Problem

QUIET = dict(progress=False, workers=1)


def _copy(src: str, dst) -> str:
    shutil.copytree(src, dst)
    return str(dst)


def _rewrite(d: str, change) -> None:
    path = os.path.join(d, MANIFEST)
    manifest = json.loads(open(path).read())
    change(manifest)
    with open(path, "w") as f:
        json.dump(manifest, f)


def test_a_dataset_opened_once_holds_what_every_command_asks(datasets, manifest_reads):
    d = datasets["mnist"]
    ds = open_dataset(d)
    manifest = read_manifest(d)
    assert len(manifest_reads) == 2  # open_dataset's, and this test's own
    assert ds.root == d and ds.manifest == manifest and ds.manifest_path == os.path.join(d, MANIFEST)
    assert ds.name == manifest["name"] and ds.schema == manifest["schema"] and ds.compression == "none"
    assert ds.splits == tuple(manifest["splits"]) == ("train", "test")
    assert ds.problems == ()
    for split, info in manifest["splits"].items():
        shards = ds.split(split)
        assert [s.file for s in shards] == [e["file"] for e in info["shards"]]
        assert all(isinstance(s, ShardEntry) and s.present and s.split == split for s in shards)
        assert [s.records for s in shards] == [e["records"] for e in info["shards"]]
        assert ds.records(split) == info["records"] and ds.split_info(split) == info
        assert ds.shard_paths(split) == [os.path.join(d, e["file"]) for e in info["shards"]]
    assert ds.shard_paths() == ds.shard_paths("train") + ds.shard_paths("test")
    assert ds.present() == ds.shards and ds.missing() == ()
    assert open_dataset(ds) is ds  # a handle is taken as it is
    assert open_dataset(os.path.join(d, MANIFEST)).shards == ds.shards  # the dataset.json itself
    with pytest.raises(TfrecError, match=r": no split 'val'; splits: train, test$"):
        ds.split("val")


def test_tfrec_exports_the_handle():
    assert {"open_dataset", "Dataset", "ReadOptions"} <= set(tfrec.__all__)
    assert tfrec.open_dataset is open_dataset and tfrec.Dataset is Dataset


def test_a_missing_shard_is_noted_once_in_the_one_wording(datasets, tmp_path):
    d = _copy(datasets["mnist"], tmp_path / "ds")
    ds = open_dataset(d)
    gone = ds.split("train")[1]
    os.remove(gone.path)
    ds = open_dataset(d)
    assert [s.path for s in ds.missing()] == [gone.path] and ds.missing("test") == ()
    assert ds.problems == (Problem(gone.path, None, None, "dataset", MISSING_SHARD),)
    assert len(ds.present("train")) == len(ds.split("train")) - 1


def _missing_seen_by(command: str, d: str) -> str:
    """What a command says of a shard listed in dataset.json but missing."""
    if command == "verify":
        return "\n".join(str(p) for p in tfrec.verify([d], tfrec.VerifyOptions(**QUIET)).problems)
    if command == "inspect":
        return "\n".join(str(p) for p in tfrec.inspect([d], tfrec.InspectOptions(**QUIET)).problems)
    if command == "view":
        return "\n".join(tfrec.DatasetView([d]).problems)
    with pytest.raises(TfrecError) as e:
        tfrec.make_dataset(d, batch_size=4)
    return str(e.value)


@pytest.mark.parametrize("command", ["verify", "inspect", "view", "make_dataset"])
def test_every_command_names_a_missing_shard_the_same_way(datasets, tmp_path, command):
    d = _copy(datasets["mnist"], tmp_path / "ds")
    gone = open_dataset(d).split("train")[0].path
    os.remove(gone)
    assert f"{gone}: {MISSING_SHARD}" in _missing_seen_by(command, d)


@pytest.mark.parametrize("change, reason", [
    (lambda m: m.update(splits=[]), "malformed: 'splits' is not an object"),
    (lambda m: m["splits"]["train"]["shards"].append("plain-string.tfrecord"), "malformed: split 'train' has bad shard entries"),
    (lambda m: m["splits"]["train"]["shards"].append({"records": 3}), "malformed: split 'train' has bad shard entries"),
    (lambda m: m["splits"]["train"].pop("shards"), "malformed: split 'train' has bad shard entries"),
    (lambda m: m["splits"]["test"].update(records=1), "split 'test' lists 1 records; its shards list 10"),
])
def test_what_dataset_json_alone_shows_wrong_is_a_problem_not_an_error(datasets, tmp_path, change, reason):
    d = _copy(datasets["mnist"], tmp_path / "ds")
    _rewrite(d, change)
    ds = open_dataset(d)
    assert Problem(os.path.join(d, MANIFEST), None, None, "dataset", reason) in ds.problems
    report = tfrec.verify([ds], tfrec.VerifyOptions(**QUIET))  # verify reports the handle's problems
    assert reason in [p.reason for p in report.problems]


@pytest.mark.parametrize("content, match", [
    (None, "no dataset.json: not a tfrec dataset"),
    ("[1, 2]", "dataset.json: malformed: not a JSON object"),
    ("{", "dataset.json: not valid JSON"),
    ('{"format_version": 99}', "format_version 99 was written by a newer tfrec"),
    ('{"splits": {"train": {"shards": [{"file": "../x.tfrecord"}]}}}', "'../x.tfrecord' is not a file name inside"),
])
def test_what_makes_it_no_dataset_is_refused(tmp_path, content, match):
    d = tmp_path / "ds"
    d.mkdir()
    if content is not None:
        (d / MANIFEST).write_text(content)
    with pytest.raises(TfrecError, match=match):
        open_dataset(str(d))


def test_an_unknown_compression_names_dataset_json(datasets, tmp_path):
    d = _copy(datasets["mnist"], tmp_path / "ds")
    _rewrite(d, lambda m: m.update(compression="lz4"))
    with pytest.raises(TfrecError, match=rf"^{os.path.join(d, MANIFEST)}: unknown compression 'lz4'"):
        open_dataset(d).compression


def test_a_dataset_at_a_url_follows_the_same_rule(datasets):
    """memory:// through fsspec: shards under the URL, looked up with one listing, a missing one noted."""
    url = f"memory://handle-{uuid.uuid4().hex}/ds"
    src = open_dataset(datasets["mnist"])
    for name in os.listdir(src.root):
        fs.write_atomic(fs.join(url, name), fs.read_bytes(os.path.join(src.root, name)))
    ds = open_dataset(url)
    assert ds.root == url and ds.problems == () and ds.name == src.name
    assert ds.shard_paths("train") == [f"{url}/{s.file}" for s in src.split("train")]
    fs.remove(ds.shard_paths("train")[0])
    again = open_dataset(url + "/dataset.json")
    assert again.root == url and [s.path for s in again.missing()] == [ds.shard_paths("train")[0]]
    assert [str(p) for p in again.problems] == [f"{url}/{src.split('train')[0].file}: {MISSING_SHARD}"]


def test_the_listers_it_replaces_still_import_with_a_warning(datasets, tmp_path):
    d = datasets["mnist"]
    ds, manifest = open_dataset(d), read_manifest(d)
    from tfrec.io.manifest import shard_paths

    with pytest.warns(DeprecationWarning, match="tfrec.io.manifest.shard_paths moved to tfrec.io.dataset"):
        assert shard_paths(d, manifest, "train") == ds.shard_paths("train")
    verify_module = importlib.import_module("tfrec.check.verify")
    with pytest.warns(DeprecationWarning, match="tfrec.check.verify.manifest_shards moved"):
        pairs, problems = verify_module.manifest_shards(manifest, os.path.join(d, MANIFEST))
    assert pairs == [(s.split, s.entry) for s in ds.shards] and problems == []
    inputs = importlib.import_module("tfrec.read.inputs")
    with pytest.warns(DeprecationWarning, match="tfrec.read.inputs.present_shards moved"):
        assert inputs.present_shards(d, manifest, "test", None) == ds.shard_paths("test")
    with pytest.raises(AttributeError):
        inputs.nothing_here


def test_commands_take_the_handle_and_read_nothing_again(datasets, manifest_reads):
    ds = open_dataset(datasets["mnist"])
    assert tfrec.verify([ds], tfrec.VerifyOptions(**QUIET)).ok
    assert tfrec.inspect([ds], tfrec.InspectOptions(**QUIET)).sections[0]["records"] == 70
    assert tfrec.DatasetView([ds]).dataset is ds
    assert len(manifest_reads) == 1
