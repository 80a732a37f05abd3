"""io/fs.py: local paths stay on os; URLs go through fsspec (memory:// here, s3:// against a moto server)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tfrec.check.inspect import InspectOptions, inspect
from tfrec.check.verify import VerifyOptions, verify
from tfrec.errors import TfrecError
from tfrec.io import fs
from tfrec.io.records import ShardWriter
from tfrec.write.convert import ConvertOptions, convert


def test_is_url():
    assert fs.is_url("s3://b/k") and fs.is_url("gs://b") and fs.is_url("memory://x")
    assert not fs.is_url("/tmp/x") and not fs.is_url("rel/x") and not fs.is_url("file:///tmp/x")
    assert not fs.is_url("C://x")  # one letter: a Windows drive, not a scheme


def test_local_paths_never_reach_fsspec(tmp_path, monkeypatch):
    monkeypatch.setattr(fs, "filesystem", lambda url: pytest.fail(f"fsspec used for {url}"))
    fs.write_atomic(str(tmp_path / "a.txt"), b"hi")
    assert fs.read_bytes(str(tmp_path / "a.txt")) == b"hi" and fs.listdir(str(tmp_path)) == ["a.txt"]
    assert fs.read_bytes("file://" + str(tmp_path / "a.txt")) == b"hi"


def test_missing_filesystem_names_the_extra():
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
        pytest.skip("gcsfs is installed here")
    except ImportError:
        pass
    with pytest.raises(TfrecError, match=r"gs://b/x: .*pip install 'tfrec\[gcs\]'"):
        fs.exists("gs://b/x")


def test_shard_on_memory_is_invisible_until_complete():
    out = f"memory://shards-{uuid.uuid4().hex}"
    path = fs.join(out, "d-train.tfrecord-00000-of-00001")
    with ShardWriter(path) as w:
        w.write(b"record")
        assert fs.listdir(out) == [f".d-train.tfrecord-00000-of-00001.tmp-{os.getpid()}"]
    assert fs.listdir(out) == ["d-train.tfrecord-00000-of-00001", "d-train.tfrecord-00000-of-00001.idx"]
    assert fs.read_bytes(path + ".idx") == b"0 22\n"


def _round_trip(src: str, out: str, tmp_path) -> dict:
    """convert SRC -> OUT (URLs), then verify and inspect OUT; returns the convert result."""
    result = convert(src, out, ConvertOptions(shards=2, progress=False, workers=1))
    names = fs.listdir(out)
    assert "dataset.json" in names and not [n for n in names if ".tmp-" in n or n.startswith(".tfrec-journal")]
    local = str(tmp_path / "local")
    convert(_SOURCES[src], local, ConvertOptions(shards=2, progress=False, workers=1))
    assert names == sorted(n for n in os.listdir(local))
    for name in names:
        remote, here = fs.read_bytes(fs.join(out, name)), open(os.path.join(local, name), "rb").read()
        if name.endswith(".json"):  # the same, but the source description names the URL converted
            assert src in remote.decode() or name != "dataset.json"
            remote = remote.decode().replace(src, _SOURCES[src]).encode()
        assert remote == here, name
    report = verify([out], VerifyOptions(progress=False, workers=1, level="decode"))
    assert report.ok and report.records == result["splits"]["train"]["records"] + result["splits"]["test"]["records"]
    assert all(r.file.startswith(out) for r in report.shards)
    summary = inspect([out], InspectOptions(progress=False, workers=1))
    text = json.dumps(summary.to_json())
    assert out in text and str(tmp_path) not in text.replace(str(tmp_path / "local"), "")
    return result


_SOURCES: dict[str, str] = {}  # remote source URL -> the local folder it was uploaded from


def _upload(local_dir: str, url: str) -> None:
    for root, _, files in os.walk(local_dir):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), local_dir)
            with fs.open(fs.join(url, *rel.split(os.sep)), "wb") as f:
                f.write(open(os.path.join(root, name), "rb").read())


def test_memory_round_trip_convert_verify_inspect(sources, tmp_path):
    pytest.importorskip("fsspec")
    src = f"memory://src-{uuid.uuid4().hex}/mnist"
    _upload(sources["mnist"], src)
    _SOURCES[src] = sources["mnist"]
    _round_trip(src, f"memory://out-{uuid.uuid4().hex}/mnist", tmp_path)


def test_memory_verify_reports_remote_corruption(datasets, tmp_path):
    pytest.importorskip("fsspec")
    url = f"memory://bad-{uuid.uuid4().hex}/cifar10"
    _upload(datasets["cifar10"], url)
    shard = sorted(n for n in fs.listdir(url) if n.endswith("-of-00003"))[0]
    raw = bytearray(fs.read_bytes(fs.join(url, shard)))
    raw[30] ^= 0xFF
    with fs.open(fs.join(url, shard), "wb") as f:
        f.write(bytes(raw))
    report = verify([url], VerifyOptions(progress=False, workers=1))
    assert not report.ok and any(str(p).startswith(fs.join(url, shard)) for p in report.problems)


def test_convert_to_existing_remote_output_needs_overwrite(sources):
    pytest.importorskip("fsspec")
    out = f"memory://busy-{uuid.uuid4().hex}/x"
    fs.write_atomic(fs.join(out, "other.txt"), b"x")
    with pytest.raises(TfrecError, match="not empty"):
        convert(sources["mnist"], out, ConvertOptions(progress=False))


# ---------------------------------------------------------------- S3 (moto's standalone server on loopback)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint, "TFREC_CACHE": str(tmp_path_factory.mktemp("cache"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("moto server did not start")
                time.sleep(0.1)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem().mkdir("tfrec-test")
        yield "s3://tfrec-test"
    finally:
        proc.terminate()
        proc.wait(10)
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.slow
def test_s3_convert_verify_inspect_and_read_back(sources, tmp_path, s3_server):
    pytest.importorskip("tensorflow")
    from tfrec.read.pipeline import make_dataset

    src = f"{s3_server}/src/images"  # the same folder name as the local source: the same dataset name
    _upload(sources["imagefolder"], src)
    _SOURCES[src] = sources["imagefolder"]
    out = f"{s3_server}/out/images"
    result = convert(src, out, ConvertOptions(shards=2, progress=False, workers=1, split=(("train", 0.75), ("test", 0.25))))
    local = str(tmp_path / "local")
    convert(sources["imagefolder"], local, ConvertOptions(shards=2, progress=False, workers=1,
                                                          split=(("train", 0.75), ("test", 0.25))))
    names = fs.listdir(out)
    assert names == sorted(os.listdir(local))
    for name in names:  # the JSON files' source description names the URL converted
        remote = fs.read_bytes(fs.join(out, name)).replace(src.encode(), sources["imagefolder"].encode())
        assert remote == open(os.path.join(local, name), "rb").read(), name
    assert "dataset.json" in names and not [n for n in names if n.startswith(".")]
    assert verify([out], VerifyOptions(progress=False, workers=1, level="decode")).ok
    assert out in json.dumps(inspect([out], InspectOptions(progress=False, workers=1)).to_json())
    ds = make_dataset(out, "train", batch_size=4, shuffle=False, image_size=20)  # through the local cache
    labels = [int(x) for _, y in ds for x in y.numpy()]
    assert len(labels) == result["splits"]["train"]["records"]
    assert os.listdir(os.environ["TFREC_CACHE"])  # read from the cache, as documented
