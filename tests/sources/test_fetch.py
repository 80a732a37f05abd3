"""`tfrec fetch`: served from a loopback HTTP server started here (generated files, checksums overridden)."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import threading

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.demo import synth
from tfrec.errors import FetchError, TfrecError, UsageError
from tfrec.sources import fetch as fetch_mod
from tfrec.sources.fetch import RemoteDataset, RemoteFile, fetch, get_dataset


class _Server(http.server.ThreadingHTTPServer):
    """Serves `files` (path -> bytes) as a real file server does: Range, If-Range, ETag and Last-Modified.

    `drop_once` paths close mid-body on their next request; `corrupt` flips the last byte; `extra` appends
    bytes to the body (a mirror sending more than the file); `no_length` omits Content-Length (the body
    ends when the connection closes); `validators` picks what is sent: "etag", "last-modified", both or
    neither; `no_ranges` ignores Range. Each set_file() of new bytes is a new version: a new ETag and a
    later Last-Modified.
    """

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.modified: dict[str, int] = {}  # path -> version, which dates Last-Modified
        self.drop_once: set[str] = set()
        self.corrupt: set[str] = set()
        self.extra: dict[str, bytes] = {}
        self.no_length: set[str] = set()
        self.no_ranges: set[str] = set()
        self.validators: set[str] = {"etag", "last-modified"}
        self.requests: list[tuple[str, str | None]] = []
        self.if_ranges: list[str | None] = []
        self.statuses: list[int] = []

    def set_file(self, path: str, data: bytes) -> None:
        self.files[path] = data
        self.modified[path] = self.modified.get(path, 0) + 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _validators(self, data: bytes) -> dict[str, str]:
        srv = self.server
        out = {}
        if "etag" in srv.validators:
            out["ETag"] = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if "last-modified" in srv.validators:
            day = 1 + srv.modified.get(self.path, 1)
            out["Last-Modified"] = f"Mon, {day:02d} Jan 2024 00:00:00 GMT"
        return out

    def _start(self, data: bytes) -> int:
        """The first byte to send: the Range asked for, unless If-Range names another version (RFC 9110 13.1.5)."""
        rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        if not rng or self.path in self.server.no_ranges:
            return 0
        if if_range is not None:
            current = self._validators(data)
            if if_range.startswith(('"', "W/")):  # an ETag: strong comparison, so a weak one never matches
                ok = if_range == current.get("ETag") and not if_range.startswith("W/")
            else:
                ok = if_range == current.get("Last-Modified")
            if not ok:
                return 0
        return int(rng.split("=")[1].split("-")[0])

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        srv.if_ranges.append(self.headers.get("If-Range"))
        data = srv.files.get(self.path)
        if data is None:
            srv.statuses.append(404)
            self.send_error(404)
            return
        validators = self._validators(data)
        if self.path in srv.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        data = data + srv.extra.get(self.path, b"")
        start = self._start(data)
        if start >= len(data) and start:
            srv.statuses.append(416)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = 206 if start else 200
        srv.statuses.append(status)
        self.send_response(status)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        for k, v in validators.items():
            self.send_header(k, v)
        if self.path not in srv.no_length:
            self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if self.path in srv.drop_once:
            srv.drop_once.discard(self.path)
            self.wfile.write(data[start : start + (len(data) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the connection drops midway
            return
        try:
            self.wfile.write(data[start:])
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (at the pinned size)
            self.close_connection = True


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
        server.set_file(f"/tiny/{name}", data)
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


def _biggest(tiny) -> RemoteFile:
    return max(tiny.files, key=lambda f: f.size)


def _only(tiny, f: RemoteFile, monkeypatch) -> None:
    """Narrows the 'tiny' dataset to the one file `f`, so a test's requests are that file's."""
    monkeypatch.setitem(fetch_mod.DATASETS, "tiny", RemoteDataset("tiny", "mnist", (f,), label_names=tiny.label_names))


def _checked_sizes(monkeypatch) -> list[int]:
    """Records the size of every file whose SHA-256 fetch computes (the .part when it is checked)."""
    sizes: list[int] = []
    real = fetch_mod.sha256_of

    def spy(path):
        sizes.append(os.path.getsize(path))
        return real(path)

    monkeypatch.setattr(fetch_mod, "sha256_of", spy)
    return sizes


# A mirror announcing (Content-Length, Content-Range's total, or a 416's) a size other than the pinned one:
# a quarter of it (shorter than the .part a resume has), 1 byte less, 1 byte more, a page more, 64 times it.
@pytest.mark.parametrize("delta", ["quarter", -1, 1, 4096, "x64"])
@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resumed"])
def test_a_size_other_than_the_pinned_one_is_refused_before_writing(tiny, server, tmp_path, monkeypatch, delta, resume):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    path, data = f"/tiny/{f.name}", server.files[f"/tiny/{f.name}"]
    if delta in (-1, "quarter"):
        server.set_file(path, data[: f.size // 4 if delta == "quarter" else -1])
    else:
        server.extra[path] = os.urandom(63 * f.size if delta == "x64" else delta)
    announced = len(server.files[path]) + len(server.extra.get(path, b""))
    dest = tmp_path / "d"
    dest.mkdir()
    if resume:  # half the file from an earlier run: the 206's Content-Range total announces the size
        (dest / f"{f.name}.part").write_bytes(data[: f.size // 2])
    with pytest.raises(FetchError, match=rf"{f.name}: download failed after 1 attempt \({server.url}{path}: "
                                         rf"announces {announced} bytes, the pinned size is {f.size}\)"):
        fetch("tiny", str(dest), progress=False, backoff=0)
    assert len(server.requests) == 1  # a wrong size is not retried
    assert server.statuses == [(416 if delta == "quarter" else 206) if resume else 200]
    assert not (dest / f.name).exists()
    left = (dest / f"{f.name}.part")
    assert (left.read_bytes() == data[: f.size // 2]) if resume else not left.exists()  # nothing written


@pytest.mark.parametrize("extra", [1, 4096, "x64"])
def test_a_body_longer_than_the_pinned_size_is_read_only_to_that_size(tiny, server, tmp_path, monkeypatch, extra):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    path = f"/tiny/{f.name}"
    server.no_length.add(path)  # nothing announced up front: the body ends when the connection closes
    server.extra[path] = os.urandom(63 * f.size if extra == "x64" else extra)
    sizes = _checked_sizes(monkeypatch)
    result = fetch("tiny", str(tmp_path / "d"), progress=False, backoff=0)
    assert result["files"][0]["status"] == "downloaded" and sizes == [f.size]
    assert (tmp_path / "d" / f.name).read_bytes() == server.files[path]
    # a longer body that is another file altogether: still never written past the pinned size, then refused
    server.set_file(path, os.urandom(f.size))
    with pytest.raises(FetchError, match="deleted it"):
        fetch("tiny", str(tmp_path / "e"), progress=False, backoff=0)
    assert sizes[1:] == [f.size] and os.listdir(tmp_path / "e") == []


def test_a_wrong_size_on_one_url_falls_back_to_the_next(tiny, server, tmp_path, monkeypatch):
    f = _biggest(tiny)
    server.files["/big/" + f.name] = server.files[f"/tiny/{f.name}"] + b"\0" * f.size
    g = RemoteFile(f.name, f.size, f.sha256, (f"{server.url}/big/{f.name}", f"{server.url}/tiny/{f.name}"))
    _only(tiny, g, monkeypatch)
    result = fetch("tiny", str(tmp_path / "d"), progress=False, backoff=0)
    assert result["files"][0]["url"] == f"{server.url}/tiny/{f.name}"
    assert [p for p, _ in server.requests] == [f"/big/{f.name}", f"/tiny/{f.name}"]


@pytest.mark.parametrize("mirror", ["/srv/mirror/{name}", "host/path", "mirror.example.org/datasets/{name}",
                                    "localhost:8000/{name}", "ftp://mirror.example.org/{name}", "no/such/dir", ""])
def test_a_mirror_that_is_no_url_nor_a_local_folder_is_a_usage_error(tiny, tmp_path, monkeypatch, mirror):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=rf"mirror {re.escape(repr(mirror))} is neither a URL \(http://, https:// or "
                                         r"file://\) nor an existing local folder"):
        fetch("tiny", str(tmp_path / "d"), mirrors=[mirror], progress=False)
    out = CliRunner().invoke(cli, ["fetch", "tiny", str(tmp_path / "d"), "--mirror", mirror])
    assert out.exit_code == 2, out.output
    assert repr(mirror) in out.output and "http://, https:// or file://" in out.output and "Traceback" not in out.output
    monkeypatch.setenv("TFREC_MIRROR", mirror or " ")
    if mirror:
        out = CliRunner().invoke(cli, ["fetch", "tiny", str(tmp_path / "d")])
        assert out.exit_code == 2 and f"$TFREC_MIRROR: mirror {mirror!r} is neither" in out.output
    assert not (tmp_path / "d").exists()  # refused before anything was made


@pytest.mark.parametrize("form", ["absolute/{name}", "absolute", "relative/{name}", "file-url"])
def test_a_local_folder_is_a_mirror(tiny, server, tmp_path, monkeypatch, form):
    folder = tmp_path / "mirror" / "tiny"
    folder.mkdir(parents=True)
    for path, data in server.files.items():
        (folder / path.rsplit("/", 1)[1]).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    mirror = {"absolute/{name}": str(tmp_path / "mirror" / "{name}"), "absolute": str(folder),
              "relative/{name}": "mirror/{name}", "file-url": folder.as_uri()}[form]
    out = CliRunner().invoke(cli, ["fetch", "tiny", "d", "--mirror", mirror, "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert [f["url"] for f in result["files"]] == [(folder / f.name).as_uri() for f in tiny.files]
    assert not server.requests
    assert sorted(os.listdir(tmp_path / "d")) == sorted([f.name for f in tiny.files] + ["labels.txt"])


@pytest.mark.parametrize("stale", ["zeros", "first-byte", "last-byte", "other-file"])
@pytest.mark.parametrize("with_meta", [False, True], ids=["bare", "with-json"])
def test_a_stale_part_of_the_pinned_size_is_downloaded_again_in_the_same_run(tiny, server, tmp_path, monkeypatch,
                                                                             stale, with_meta):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    data = server.files[f"/tiny/{f.name}"]
    bad = {"zeros": bytes(f.size), "first-byte": bytes([data[0] ^ 1]) + data[1:],
           "last-byte": data[:-1] + bytes([data[-1] ^ 1]), "other-file": os.urandom(f.size)}[stale]
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / f"{f.name}.part").write_bytes(bad)
    if with_meta:
        (dest / f"{f.name}.part.json").write_text(json.dumps({"url": f.urls[0], "size": f.size, "sha256": f.sha256}))
    result = fetch("tiny", str(dest), progress=False, backoff=0)
    got = result["files"][0]
    assert got["status"] == "downloaded" and (dest / f.name).read_bytes() == data
    assert server.requests == [(f"/tiny/{f.name}", None)]  # one full download, from byte 0
    assert any(re.search(rf"{f.name}: the \.part left by an earlier run has SHA-256 [0-9a-f]{{64}}, not the pinned "
                         r"one; discarded it, downloading again from byte 0", n) for n in got["notes"]), got["notes"]
    assert sorted(os.listdir(dest)) == sorted([f.name, "labels.txt"])


def test_a_complete_part_with_the_right_bytes_is_kept(tiny, server, tmp_path, monkeypatch):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    (tmp_path / f"{f.name}.part").write_bytes(server.files[f"/tiny/{f.name}"])
    result = fetch("tiny", str(tmp_path), progress=False)
    assert result["files"][0]["status"] == "downloaded" and not server.requests
    assert (tmp_path / f.name).read_bytes() == server.files[f"/tiny/{f.name}"]


def test_the_stale_part_note_is_shown_by_the_cli(tiny, server, tmp_path, monkeypatch):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    (tmp_path / f"{f.name}.part").write_bytes(bytes(f.size))
    out = CliRunner().invoke(cli, ["fetch", "tiny", str(tmp_path)])
    assert out.exit_code == 0 and "discarded it, downloading again from byte 0" in out.output


def _interrupted_part(server, tmp_path, f: RemoteFile, old: bytes) -> None:
    """Leaves `f.name`.part (and its .json) as a run that was cut off while the server had `old` does."""
    path = f"/tiny/{f.name}"
    server.set_file(path, old)
    server.drop_once.add(path)
    with pytest.raises(FetchError, match="kept in"):
        fetch("tiny", str(tmp_path), progress=False, retries=1, backoff=0)
    assert (tmp_path / f"{f.name}.part").read_bytes() == old[: len(old) // 2]
    del server.requests[:], server.if_ranges[:], server.statuses[:]


@pytest.mark.parametrize("validators", ["etag", "last-modified", "both"])
def test_a_part_of_an_older_version_is_not_resumed(tiny, server, tmp_path, monkeypatch, validators):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    server.validators = {"etag", "last-modified"} if validators == "both" else {validators}
    new = server.files[f"/tiny/{f.name}"]
    old = os.urandom(f.size)  # another version of the pinned size (one of another size is refused up front)
    _interrupted_part(server, tmp_path, f, old)
    server.set_file(f"/tiny/{f.name}", new)  # the host replaced the file since
    result = fetch("tiny", str(tmp_path), progress=False, backoff=0)
    got = result["files"][0]
    assert (tmp_path / f.name).read_bytes() == new and got["status"] == "downloaded"
    assert server.requests == [(f"/tiny/{f.name}", f"bytes={len(old) // 2}-")]
    assert server.if_ranges[0] is not None and server.statuses == [200]  # If-Range: the full new file came
    assert any("changed since the .part was started" in n and "starting again from byte 0" in n for n in got["notes"])
    assert sorted(os.listdir(tmp_path)) == sorted([f.name, "labels.txt"])  # the .part and its .json are gone


def test_a_part_started_for_another_pinned_checksum_is_discarded(tiny, server, tmp_path, monkeypatch):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    data = server.files[f"/tiny/{f.name}"]
    (tmp_path / f"{f.name}.part").write_bytes(data[: f.size // 2])
    (tmp_path / f"{f.name}.part.json").write_text(json.dumps({"url": f.urls[0], "size": f.size, "sha256": "0" * 64}))
    result = fetch("tiny", str(tmp_path), progress=False, backoff=0)
    assert (tmp_path / f.name).read_bytes() == data and server.requests == [(f"/tiny/{f.name}", None)]
    assert any(f"{f.name}: the .part was started for another file (SHA-256 {'0' * 64}); discarded it" in n
               for n in result["files"][0]["notes"])


@pytest.mark.parametrize("case", ["no-validators", "part-without-json", "url-moved"])
def test_a_resume_that_fails_its_checksum_restarts_once_from_byte_0(tiny, server, tmp_path, monkeypatch, case):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    if case == "no-validators":
        server.validators = set()
    new = server.files[f"/tiny/{f.name}"]
    _interrupted_part(server, tmp_path, f, os.urandom(f.size))
    if case == "part-without-json":  # left by a tfrec that kept no validators
        os.remove(tmp_path / f"{f.name}.part.json")
    server.set_file(f"/tiny/{f.name}", new)
    if case == "url-moved":  # resumed from another URL, whose validators were never seen
        server.files[f"/moved/{f.name}"] = new
        _only(tiny, RemoteFile(f.name, f.size, f.sha256, (f"{server.url}/moved/{f.name}",)), monkeypatch)
    result = fetch("tiny", str(tmp_path), progress=False, backoff=0)
    got = result["files"][0]
    assert (tmp_path / f.name).read_bytes() == new and got["status"] == "downloaded"
    assert [r for _, r in server.requests] == [f"bytes={f.size // 2}-", None] and server.statuses == [206, 200]
    assert any(re.search(rf"{f.name}: the download resumed at byte {f.size // 2} has SHA-256 [0-9a-f]{{64}}, not the "
                         r"pinned one; discarded it, downloading again from byte 0", n) for n in got["notes"])


def test_a_server_that_always_sends_wrong_bytes_is_tried_from_byte_0_once(tiny, server, tmp_path, monkeypatch):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    (tmp_path / f"{f.name}.part").write_bytes(server.files[f"/tiny/{f.name}"][: f.size // 2])
    server.corrupt.add(f"/tiny/{f.name}")
    with pytest.raises(FetchError, match=rf"{f.name}: the download from .* has SHA-256 [0-9a-f]{{64}}, "
                                         rf"expected {f.sha256}; deleted it"):
        fetch("tiny", str(tmp_path), progress=False, backoff=0)
    assert [r for _, r in server.requests] == [f"bytes={f.size // 2}-", None]  # the resume, then one full download
    assert os.listdir(tmp_path) == []


def test_a_resumed_download_sends_if_range(tiny, server, tmp_path, monkeypatch):
    f = _biggest(tiny)
    _only(tiny, f, monkeypatch)
    server.drop_once.add(f"/tiny/{f.name}")
    result = fetch("tiny", str(tmp_path), progress=False, backoff=0)
    assert result["files"][0]["attempts"] == 2 and server.statuses == [200, 206]
    assert server.if_ranges == [None, '"' + hashlib.sha256(server.files[f"/tiny/{f.name}"]).hexdigest()[:16] + '"']
    assert (tmp_path / f.name).read_bytes() == server.files[f"/tiny/{f.name}"]
