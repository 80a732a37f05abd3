"""The viewer's parts: the bounded cache, the seeded shuffle, escaping, the command line."""
from __future__ import annotations

import json
import socket
import threading

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.view import pages, server as server_mod
from tfrec.view.cache import LruCache
from tfrec.view.source import DatasetView, permuted


def test_lru_cache_bounds_bytes_and_makes_each_value_once():
    cache = LruCache(10)
    calls = []
    for key in "abcd":
        cache.get(key, lambda key=key: calls.append(key) or key * 4)
    assert cache.bytes <= 10 and cache.peek("a") is None and cache.peek("d") == "dddd"
    assert cache.get("d", lambda: "other") == "dddd" and calls == list("abcd")

    slow = threading.Event()
    made = []

    def make():
        made.append(1)
        slow.wait(1)
        return "v"

    threads = [threading.Thread(target=cache.get, args=("k", make)) for _ in range(4)]
    for t in threads:
        t.start()
    slow.set()
    for t in threads:
        t.join()
    assert made == [1]


@pytest.mark.parametrize("n", [1, 2, 3, 10, 97, 1000, 4097])
def test_permuted_is_a_seeded_permutation(n):
    order = [permuted(i, n, 7) for i in range(n)]
    assert sorted(order) == list(range(n))
    if n > 10:
        assert order != list(range(n)) and order != [permuted(i, n, 8) for i in range(n)]
        assert order == [permuted(i, n, 7) for i in range(n)]


def test_escaping_and_urls():
    assert pages.esc("<a href='x'>&\"") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;"
    assert pages.url("/", split="a&b", label=None, page=2) == '"/?split=a%26b&amp;page=2"'
    assert pages.describe_bytes(b"caf\xc3\xa9 <b>") == "café <b>"  # escaped where it is placed, not here
    assert pages.describe_bytes(bytes(range(40))).startswith("<40 bytes: 00 01")


def test_view_command_serves_and_stops(datasets, monkeypatch):
    served = {}

    def fake_serve_forever(self, poll_interval=0.5):
        served["url"] = self.url
        served["status"] = server_mod.Viewer.handle(self.viewer, "/")
        raise KeyboardInterrupt

    monkeypatch.setattr(server_mod.ViewerServer, "serve_forever", fake_serve_forever)
    result = CliRunner().invoke(cli, ["view", datasets["mnist"], "--port", "0", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["url"] == served["url"] and out["url"].startswith("http://127.0.0.1:") and out["shards"] == 6
    assert served["status"].status == 200 and "stopped" in result.stderr
    assert "warning" not in result.stderr


def test_view_warns_off_loopback(datasets, monkeypatch):
    class FakeServer:
        loopback, url, port = False, "http://192.0.2.1:8000/", 8000

        def serve_forever(self, poll_interval=0.5):
            raise KeyboardInterrupt

        def server_close(self):
            pass

    monkeypatch.setattr(server_mod, "make_server", lambda *a, **k: FakeServer())
    result = CliRunner().invoke(cli, ["view", datasets["mnist"], "--host", "192.0.2.1"])
    assert result.exit_code == 0 and "warning: listening on 192.0.2.1" in result.stderr


def test_taken_port_falls_back_to_a_free_one(datasets):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = server_mod.make_server(DatasetView([datasets["mnist"]]), "127.0.0.1", port, count_classes=False)
        try:
            assert server.port != port and server.port > 0
        finally:
            server.server_close()


def test_view_usage_errors(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["view", str(tmp_path / "missing")]).exit_code == 2
    result = runner.invoke(cli, ["view", str(tmp_path)])
    assert result.exit_code == 1 and "no dataset.json and no TFRecord files" in result.stderr
    assert "Browse a TFRecord dataset" in runner.invoke(cli, ["view", "--help"]).output


def test_class_counts_on_request_for_large_datasets(datasets, monkeypatch):
    from .conftest import get, serving

    monkeypatch.setattr(server_mod, "AUTO_COUNT_RECORDS", 10)  # as if mnist's 70 records were many millions
    with serving(datasets["mnist"]) as server:
        assert "labels" not in server.viewer._jobs
        text = get(server, "/")[2].decode()
        assert "count the classes" in text and "<span class=num>" not in text
        get(server, "/?count=1")
        server.viewer._jobs["labels"].done.wait(30)
        text = get(server, "/")[2].decode()
        assert "count the classes" not in text and text.count("<span class=num>") == 10
