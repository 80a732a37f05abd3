"""Hostile datasets (issue 23, items 14-17): a dataset directory never leads outside itself, a lying
.idx never makes the viewer allocate what it claims, a lying length field is resynchronised past,
and records that are not Examples are counted and named by inspect."""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from tfrec.check.inspect import InspectOptions, inspect
from tfrec.check.verify import VerifyOptions, verify
from tfrec.cli.main import cli
from tfrec.codec.example import ExampleDecodeError, decode_example, encode_example
from tfrec.errors import TfrecError
from tfrec.io.index import check_index, read_index
from tfrec.io.dataset import Dataset, open_dataset
from tfrec.io.manifest import read_manifest, shard_paths
from tfrec.io.records import frame_record, masked_crc32c, write_records
from tfrec.view.source import DatasetView

QUIET = dict(progress=False, workers=1)

# ---------------------------------------------------------------- 14: shard paths stay inside the dataset

OUTSIDE = "@OUTSIDE@"  # replaced by the absolute path of a real shard copied outside the dataset
HOSTILE_NAMES = [
    "../outside/x.tfrecord",
    "a/../../outside/x.tfrecord",
    OUTSIDE,
    "..\\outside\\x.tfrecord",
    "sub/x.tfrecord",  # tfrec writes plain names only (write/plan.py shard_name)
    "",
    ".",
    "..",
    "x\x00.tfrecord",
    "gs://elsewhere/x.tfrecord",
    "file:///etc/passwd",
    "C:x.tfrecord",
    42,
    None,
]


@pytest.fixture
def hostile(datasets, tmp_path, request):
    """A copy of the MNIST dataset whose train shard 1 is listed under a hostile name (a real
    shard sits at ../outside/x.tfrecord, so a command that follows the name would find records)."""
    d = tmp_path / "ds"
    shutil.copytree(datasets["mnist"], d)
    outside = tmp_path / "outside"
    outside.mkdir()
    manifest = json.loads((d / "dataset.json").read_text())
    entry = manifest["splits"]["train"]["shards"][1]
    shutil.copy(d / entry["file"], outside / "x.tfrecord")
    shutil.copy(d / (entry["file"] + ".idx"), outside / "x.tfrecord.idx")
    name = str(outside / "x.tfrecord") if request.param == OUTSIDE else request.param
    entry["file"] = name
    (d / "dataset.json").write_text(json.dumps(manifest))
    return str(d), name


def _refusal(d: str, name) -> str:
    return (f"{os.path.join(d, 'dataset.json')}: split 'train' shard 1: {name!r} is not a file name "
            "inside the dataset")


@pytest.mark.parametrize("hostile", HOSTILE_NAMES, indirect=True)
def test_read_manifest_refuses_names_that_leave_the_dataset(hostile):
    d, name = hostile
    with pytest.raises(TfrecError, match=re.escape(_refusal(d, name))):
        read_manifest(d)


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n != OUTSIDE])
def test_the_dataset_handle_refuses_them_in_a_manifest_from_anywhere(name):
    manifest = {"splits": {"train": {"records": 1, "shards": [{"file": "ok.tfrecord"}, {"file": name}]}}}
    with pytest.raises(TfrecError, match="split 'train' shard 1: .* is not a file name inside the dataset"):
        Dataset.of("/data/ds", manifest)
    with pytest.warns(DeprecationWarning, match="shard_paths"), \
            pytest.raises(TfrecError, match="split 'train' shard 1: .* is not a file name inside the dataset"):
        shard_paths("/data/ds", manifest, "train")  # the lister it replaces, for one release


@pytest.mark.parametrize("hostile", HOSTILE_NAMES, indirect=True)
def test_verify_refuses(hostile):
    d, name = hostile
    report = verify([d], VerifyOptions(**QUIET))
    assert not report.ok
    assert [str(p) for p in report.problems] == [_refusal(d, name)]
    result = CliRunner().invoke(cli, ["verify", "-q", d])
    assert result.exit_code == 1 and "is not a file name inside the dataset" in result.output


@pytest.mark.parametrize("hostile", HOSTILE_NAMES, indirect=True)
def test_inspect_refuses(hostile):
    d, name = hostile
    with pytest.raises(TfrecError, match=re.escape(_refusal(d, name))):
        inspect([d], InspectOptions(**QUIET))
    result = CliRunner().invoke(cli, ["inspect", "-q", d])
    assert result.exit_code == 1 and "is not a file name inside the dataset" in result.output


@pytest.mark.parametrize("hostile", HOSTILE_NAMES, indirect=True)
def test_view_refuses(hostile):
    d, name = hostile
    with pytest.raises(TfrecError, match=re.escape(_refusal(d, name))):
        DatasetView([d])


@pytest.mark.parametrize("hostile", HOSTILE_NAMES, indirect=True)
def test_make_dataset_and_the_trainer_refuse(hostile):
    from tfrec.read.pipeline import make_dataset
    from tfrec.training.data import plan_data
    from tfrec.training.options import TrainOptions

    d, name = hostile
    with pytest.raises(TfrecError, match=re.escape(_refusal(d, name))):
        make_dataset(d, split="train", batch_size=4)
    with pytest.raises(TfrecError, match=re.escape(_refusal(d, name))):
        plan_data(d, TrainOptions())


@pytest.mark.parametrize("name", ["../x.tfrecord", "/etc/passwd", "gs://elsewhere/x.tfrecord", "sub/x.tfrecord"])
def test_a_dataset_at_a_url_refuses_them_too(name):
    """A dataset read through fsspec (memory:// here): shard names resolve under its URL, or not at all."""
    import uuid

    from tfrec.io import fs

    url = f"memory://hostile-{uuid.uuid4().hex}"
    fs.makedirs(url)
    shards = [{"file": "ds-train.tfrecord-00000-of-00002"}, {"file": name}]
    fs.write_atomic(fs.join(url, "dataset.json"), json.dumps({"splits": {"train": {"shards": shards}}}).encode())
    with pytest.raises(TfrecError, match=re.escape(f"{url}/dataset.json: split 'train' shard 1: {name!r} is not a file name")):
        read_manifest(url)
    shards.pop()
    fs.write_atomic(fs.join(url, "dataset.json"), json.dumps({"splits": {"train": {"shards": shards}}}).encode())
    assert open_dataset(url).shard_paths() == [f"{url}/ds-train.tfrecord-00000-of-00002"]


def test_plain_names_still_open(datasets):
    d = os.path.join(os.path.dirname(__file__), "..", "data", "format-v1", "mnist")
    files = open_dataset(d).shard_paths()
    assert files and all(os.path.dirname(f) == d for f in files)
    assert verify([datasets["mnist"]], VerifyOptions(**QUIET)).ok


# ---------------------------------------------------------------- 15: a lying .idx


def _shard(d: str, split: str = "train", i: int = 0) -> str:
    manifest = json.loads(open(os.path.join(d, "dataset.json")).read())
    return os.path.join(d, manifest["splits"][split]["shards"][i]["file"])


LYING_LINES = {
    "a terabyte": lambda rows, size: [(0, 1 << 40)] + rows[1:],
    "past the end": lambda rows, size: rows[:-1] + [(rows[-1][0], size - rows[-1][0] + 1)],
    "int64 overflow": lambda rows, size: rows[:-1] + [((1 << 63) - 16, 16)],
    "negative offset": lambda rows, size: [(-16, rows[0][1])] + rows[1:],
    "under 16 bytes": lambda rows, size: [(rows[0][0], 3)] + rows[1:],
    "overlapping": lambda rows, size: [rows[0], (rows[1][0] - 1, rows[1][1])] + rows[2:],
}


@pytest.mark.parametrize("lie", list(LYING_LINES))
def test_check_index_refuses_lines_that_cannot_be_records(tmp_path, lie):
    path = str(tmp_path / "x.tfrecord")
    write_records(path, [b"r" * n for n in (5, 50, 500)])
    size = os.path.getsize(path)
    rows = [tuple(r) for r in read_index(path + ".idx").tolist()]
    check_index(read_index(path + ".idx"), path + ".idx", size)  # the honest index passes
    with open(path + ".idx", "w") as f:
        f.write("".join(f"{o} {n}\n" for o, n in LYING_LINES[lie](rows, size)))
    with pytest.raises(TfrecError, match=r"x\.tfrecord\.idx: line \d says '-?\d+ \d+': "):
        check_index(read_index(path + ".idx"), path + ".idx", size)


@pytest.mark.parametrize("lie", list(LYING_LINES))
def test_inspect_counts_by_scanning_past_a_lying_index(tmp_path, lie):
    path = str(tmp_path / "x.tfrecord")
    write_records(path, [encode_example({"i": [i]}) for i in range(5)])
    rows = [tuple(r) for r in read_index(path + ".idx").tolist()]
    with open(path + ".idx", "w") as f:
        f.write("".join(f"{o} {n}\n" for o, n in LYING_LINES[lie](rows, os.path.getsize(path))))
    files = inspect([path], InspectOptions(**QUIET)).sections[0]["files"]
    assert [(f["records"], f["counted_by"]) for f in files] == [(5, "scan")]


@pytest.mark.parametrize("lie", list(LYING_LINES))
def test_viewer_reads_past_a_lying_index(datasets, tmp_path, lie):
    from ..view.conftest import get, serving

    d = str(tmp_path / "ds")
    shutil.copytree(datasets["mnist"], d)
    path = _shard(d)
    rows = [tuple(r) for r in read_index(path + ".idx").tolist()]
    with open(path + ".idx", "w") as f:
        f.write("".join(f"{o} {n}\n" for o, n in LYING_LINES[lie](rows, os.path.getsize(path))))
    with serving(d) as server:
        for i in (0, 1, len(rows) - 1):
            status, _, body = get(server, f"/record?s=0&i={i}")
            assert status == 200, body[:300]
            assert b"damaged record" not in body  # found by scanning the shard instead
        status, _, body = get(server, "/dataset")  # the dataset page lists the problems met
        assert status == 200 and b".idx: line" in body and b"found by scanning" in body


def test_viewer_bounds_reads_of_a_compressed_shard(datasets, tmp_path):
    """A gzip shard's .idx cannot be checked against the file size: the read is bounded by the stream instead."""
    from ..damage import gzip_copy
    from ..view.conftest import get, serving

    d = gzip_copy(datasets["mnist"], str(tmp_path / "gz"))  # then a lie in an .idx
    path = _shard(d)
    rows = [tuple(r) for r in read_index(path + ".idx").tolist()]
    with open(path + ".idx", "w") as f:
        f.write("".join(f"{o} {n}\n" for o, n in rows[:-1] + [(rows[-1][0], 1 << 40)]))  # the last record: 1 TiB
    with serving(d) as server:
        status, _, body = get(server, f"/record?s=0&i={len(rows) - 1}")
        assert status == 200 and b"damaged record: truncated: " in body
        status, _, body = get(server, "/record?s=0&i=0")
        assert status == 200 and b"damaged record" not in body


# ---------------------------------------------------------------- 16: a lying length field, through verify


def _lying(length: int, body: bytes = b"L" * 10) -> bytes:
    head = struct.pack("<Q", length)
    return head + struct.pack("<I", masked_crc32c(head)) + body + struct.pack("<I", masked_crc32c(body))


@pytest.mark.parametrize("length", [(1 << 64) - 1, 1 << 63, 1000])
def test_verify_resynchronises_after_a_lying_length(tmp_path, length):
    path = str(tmp_path / "x.tfrecord")
    good = [encode_example({"i": [i]}) for i in range(3)]
    first = frame_record(good[0])
    with open(path, "wb") as f:
        f.write(first + _lying(length) + b"".join(frame_record(g) for g in good[1:]))
    report = verify([path], VerifyOptions(level="parse", **QUIET))
    assert [(p.record, p.offset) for p in report.problems] == [(1, len(first))]
    assert report.problems[0].reason.startswith(f"length field says {length} bytes")
    assert f"valid record starts at byte {len(first) + 26}" in report.problems[0].reason
    assert report.shards[0].records == 4
    result = CliRunner().invoke(cli, ["verify", "-q", path])
    assert result.exit_code == 1 and "truncated" not in result.output


# ---------------------------------------------------------------- 17: inspect names the records that are not Examples


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry(key: bytes, feature: bytes) -> bytes:
    return _ld(1, _ld(1, _ld(1, key) + _ld(2, feature)))


def _nested(depth: int) -> bytes:
    inner = b"\xff"  # not UTF-8: the feature name it ends up in is refused
    for _ in range(depth):
        inner = _ld(1, inner)
    return inner


# Records that are not tf.train.Examples, each built to cost: a claim of a huge packed list,
# group wire types, deep nesting, a varint that never ends.
NOT_EXAMPLES = {
    "packed int64 list claiming 100M elements": _entry(b"a", _ld(3, _varint(1 << 3 | 2) + _varint(100_000_000) + b"\x01")),
    "packed float list claiming 400 MB": _entry(b"f", _ld(2, _varint(1 << 3 | 2) + _varint(400_000_000) + b"\0" * 8)),
    "start-group wire type": _varint(1 << 3 | 3) * 1000,
    "group inside a feature": _entry(b"g", _varint(3 << 3 | 3) + _varint(3 << 3 | 4)),
    "nested 20000 deep": _nested(20_000),
    "endless varint": _entry(b"v", _ld(3, _varint(1 << 3 | 0) + b"\xff" * 64)),
}


@pytest.mark.parametrize("record", list(NOT_EXAMPLES))
def test_hostile_records_fail_cleanly_under_a_memory_cap(record):
    """Decoding each hostile record under a 256 MiB address-space margin: a clean ExampleDecodeError,
    no MemoryError, no RecursionError (the decoder's depth is fixed by the Example's structure)."""
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))!r})
        from tests.check.test_hostile_datasets import NOT_EXAMPLES
        from tfrec.codec.example import ExampleDecodeError, decode_example
        data = NOT_EXAMPLES[{record!r}]
        vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), vm + (256 << 20)))
        try:
            decode_example(data)
        except ExampleDecodeError as e:
            print('clean:', e)
        else:
            print('decoded')
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("clean:"), out.stdout + out.stderr


def test_inspect_counts_and_names_records_that_are_not_examples(tmp_path):
    path = str(tmp_path / "mixed.tfrecord")
    payloads = [encode_example({"label": [1], "text": [b"hello"]})] + list(NOT_EXAMPLES.values())
    write_records(path, payloads)
    offsets = read_index(path + ".idx")[:, 0].tolist()
    for p in payloads[1:]:
        with pytest.raises(ExampleDecodeError):
            decode_example(p)
    report = inspect([path], InspectOptions(**QUIET))
    section = report.sections[0]
    bad = len(payloads) - 1
    assert section["inferred"]["sampled_records"] == 1
    assert section["inferred"]["unparsed_records"] == bad
    listed = section["inferred"]["unparsed"]
    assert [(u["record"], u["offset"]) for u in listed] == [(i, offsets[i]) for i in range(1, len(payloads))]
    assert all(u["file"] == path and u["reason"].startswith("not a tf.train.Example: ") for u in listed)
    assert [(p.record, p.offset, p.check) for p in report.problems] == [(i, offsets[i], "parse") for i in range(1, len(payloads))]
    text = report.summary()
    assert f"inferred from 1 of {len(payloads)} sampled records; {bad} did not parse as tf.train.Example" in text
    assert f"record 1 of mixed.tfrecord (byte {offsets[1]})" in text
    result = CliRunner().invoke(cli, ["inspect", "--json", path])
    assert result.exit_code == 1
    got = json.loads(result.output)
    assert got["inputs"][0]["inferred"]["unparsed_records"] == bad
    assert [p["record"] for p in got["problems"]] == list(range(1, len(payloads)))
