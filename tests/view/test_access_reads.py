"""The viewer reads records through tfrec.access: one open per shard, the same bytes as RecordSource."""
from __future__ import annotations

import builtins
import os

import pytest

from tests.damage import gzip_copy
from tfrec.access.records import RecordSource
from tfrec.access.shards import dataset_shards
from tfrec.view.source import DatasetView

from .conftest import get, serving


@pytest.fixture
def shard_opens(monkeypatch):
    """The shard files opened (by os.open or open), .idx files and dataset.json left out."""
    opened: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def note(path) -> None:
        name = os.path.basename(os.fspath(path)) if isinstance(path, (str, bytes, os.PathLike)) else ""
        if ".tfrecord" in str(name) and not str(name).endswith(".idx"):
            opened.append(os.fspath(path))

    def spy_os_open(path, *args, **kwargs):
        note(path)
        return real_os_open(path, *args, **kwargs)

    def spy_open(file, *args, **kwargs):
        note(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(builtins, "open", spy_open)
    return opened


def test_fifty_record_pages_open_each_shard_once(datasets, shard_opens):
    with serving(datasets["mnist"], count_classes=False) as server:
        view = server.viewer.view
        pages = [(s.id, i) for s in view.shards for i in range(view.count(s.id))][:50]
        assert len(pages) == 50 and len({s for s, _ in pages}) > 1
        for s, i in pages:
            status, _, body = get(server, f"/record?s={s}&i={i}")
            assert status == 200 and b"damaged record" not in body
        assert len(shard_opens) <= len(view.shards), shard_opens
        assert len(set(shard_opens)) == len(shard_opens)  # never the same shard twice


@pytest.mark.parametrize("split", ["train", "test"])
def test_record_bytes_are_record_sources(datasets, split):
    view = DatasetView([datasets["cifar10"]])
    _, refs = dataset_shards(datasets["cifar10"], split)
    source = RecordSource(refs)
    ours = [view.read(s.id, i)[1] for s in view.shards if s.split == split for i in range(view.count(s.id))]
    assert len(ours) == len(source) > 0
    assert ours == source.get_many(range(len(source)))


def test_gzip_shards_read_the_same_bytes(datasets, tmp_path):
    """Compressed shards cannot be read by offset: the viewer inflates up to the record, and reads what pread reads."""
    d = gzip_copy(datasets["mnist"], str(tmp_path / "gz"))
    plain = DatasetView([datasets["mnist"]])
    view = DatasetView([d])
    for s in view.shards:
        for i in (0, view.count(s.id) - 1):
            assert view.read(s.id, i) == plain.read(s.id, i)


def test_threads_reading_at_once_open_each_shard_once(datasets, shard_opens):
    """The server answers on many threads: the first reads of a shard, made together, still open it once."""
    import threading

    view = DatasetView([datasets["mnist"]])
    pages = [(s.id, i) for s in view.shards for i in range(view.count(s.id))]
    start = threading.Barrier(8)
    payloads: list[list[bytes]] = [[] for _ in range(8)]

    def read_all(n: int) -> None:
        start.wait()
        payloads[n] = [view.read(s, i)[1] for s, i in pages]

    threads = [threading.Thread(target=read_all, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p == payloads[0] for p in payloads) and len(payloads[0]) == len(pages)
    assert sorted(shard_opens) == sorted(s.path for s in view.shards)
