"""`tfrec fetch`: served from a loopback HTTP server started here (generated files, checksums overridden)."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.demo import synth
from tfrec.errors import FetchError, TfrecError
from tfrec.sources import fetch as fetch_mod
from tfrec.sources.fetch import RemoteDataset, RemoteFile, fetch, get_dataset


class _Server(http.server.ThreadingHTTPServer):
    """Serves `files` (path -> bytes) with Range support; `drop_once` paths close mid-body on first request."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.drop_once: set[str] = set()
        self.corrupt: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        if self.path in srv.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if self.path in srv.drop_once:
            srv.drop_once.discard(self.path)
            self.wfile.write(data[start : start + (len(data) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the connection drops midway
            return
        self.wfile.write(data[start:])


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tiny(server, tmp_path_factory, monkeypatch):
    """A fetchable 'tiny' dataset: generated MNIST IDX files, served by `server`, checksums pinned here."""
    src = tmp_path_factory.mktemp("served")
    synth.write_mnist(src, n_train=30, n_test=10, seed=5, gzip=True)
    files = []
    for name in sorted(os.listdir(src)):
        data = (src / name).read_bytes()
        server.files[f"/tiny/{name}"] = data
        files.append(RemoteFile(name, len(data), hashlib.sha256(data).hexdigest(), (f"{server.url}/tiny/{name}",)))
    ds = RemoteDataset("tiny", "mnist", tuple(files), label_names=tuple("abcdefghij"))
    monkeypatch.setitem(fetch_mod.DATASETS, "tiny", ds)
    return ds


def test_clean_download_then_cached(tiny, tmp_path):
    result = fetch("tiny", str(tmp_path / "d"), progress=False, backoff=0)
    assert [f["status"] for f in result["files"]] == ["downloaded"] * 4
    for f, spec in zip(result["files"], tiny.files):
        assert hashlib.sha256(open(f["file"], "rb").read()).hexdigest() == spec.sha256
    assert open(tmp_path / "d" / "labels.txt").read().split() == list("abcdefghij")
    again = fetch("tiny", str(tmp_path / "d"), progress=False)
    assert [f["status"] for f in again["files"]] == ["cached"] * 4


def test_dropped_connection_resumes_with_range(tiny, server, tmp_path):
    big = max(tiny.files, key=lambda f: f.size)
    server.drop_once.add(f"/tiny/{big.name}")
    result = fetch("tiny", str(tmp_path / "d"), progress=False, backoff=0)
    got = next(f for f in result["files"] if f["file"].endswith(big.name))
    assert got["status"] == "downloaded" and got["attempts"] == 2
    ranges = [r for p, r in server.requests if p == f"/tiny/{big.name}"]
    assert ranges == [None, f"bytes={big.size // 2}-"]  # the second request asked only for the rest
    assert open(got["file"], "rb").read() == server.files[f"/tiny/{big.name}"]


def test_corrupted_download_is_refused_and_deleted(tiny, server, tmp_path):
    name = tiny.files[0].name
    server.corrupt.add(f"/tiny/{name}")
    with pytest.raises(FetchError, match=rf"{name}: the download from .* has SHA-256 [0-9a-f]{{64}}, expected {tiny.files[0].sha256}; deleted it"):
        fetch("tiny", str(tmp_path / "d"), progress=False, backoff=0)
    assert not [n for n in os.listdir(tmp_path / "d") if n.startswith(name)]
    out = CliRunner().invoke(cli, ["fetch", "tiny", str(tmp_path / "d2")])
    assert out.exit_code == 1 and "deleted it" in out.output


def test_mirror_and_unreachable_urls(tiny, server, tmp_path, monkeypatch):
    for path, data in list(server.files.items()):
        server.files[path.replace("/tiny/", "/m/tiny/")] = data
    result = fetch("tiny", str(tmp_path / "d"), mirrors=[f"{server.url}/m/{{name}}"], progress=False)
    assert {f["url"].split("/m/")[0] for f in result["files"]} == {server.url}
    monkeypatch.setenv("TFREC_MIRROR", f"{server.url}/nowhere")
    with pytest.raises(FetchError, match=r"download failed after 2 attempts .*/nowhere/.*404"):
        fetch("tiny", str(tmp_path / "e"), progress=False, retries=2, backoff=0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(TfrecError, match="unknown dataset 'imagenet'; tfrec can fetch: mnist, fashion_mnist, kmnist, cifar10, cifar100"):
        get_dataset("imagenet")
    out = CliRunner().invoke(cli, ["fetch", "imagenet", "x"])
    assert out.exit_code == 2 and "known: mnist, fashion_mnist, kmnist, cifar10, cifar100" in out.output


def test_pinned_checksums_look_like_sha256():
    for ds in fetch_mod.DATASETS.values():
        for f in ds.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0 and f.urls


def test_convert_a_name_fetches_into_the_cache_and_says_so(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("TFREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["convert", "tiny", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert f"no such path here, so fetching the tiny dataset into {tmp_path / 'cache' / 'tiny'}" in out.output
    manifest = json.load(open(tmp_path / "o" / "dataset.json"))
    assert manifest["name"] == "tiny" and manifest["label_names"] == list("abcdefghij")
    assert manifest["splits"]["train"]["records"] == 30
    (tmp_path / "tiny").mkdir()  # a folder of that name here wins: it is a path, never fetched
    out = CliRunner().invoke(cli, ["convert", "tiny", str(tmp_path / "o2")])
    assert out.exit_code == 1 and "fetching" not in out.output
    out = CliRunner().invoke(cli, ["convert", "nonesuch", str(tmp_path / "o3")])
    assert out.exit_code == 2 and "nor a dataset tfrec can fetch: mnist" in out.output
