"""Viewer fixtures: small datasets with awkward data (a hostile class name, undecodable and damaged records), a running server."""
from __future__ import annotations

import contextlib
import http.client
import io
import os
import shutil
from urllib.parse import urlsplit

import pytest

from tfrec.codec.example import encode_example
from tfrec.demo import synth
from tfrec.io.records import write_records
from tfrec.view.server import make_server, start_in_thread
from tfrec.view.source import DatasetView
from tfrec.write.convert import ConvertOptions, convert

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def evil_dataset(tmp_path_factory):
    """A converted image folder of 4 classes, one of them named like an HTML injection."""
    root = tmp_path_factory.mktemp("evil")
    synth.write_image_folder(root / "src", n_per_class=4, seed=5, num_classes=3, size=(24, 20), fmt="png")
    os.makedirs(root / "src" / EVIL)
    for name in sorted(os.listdir(root / "src" / "red_circle"))[:3]:
        shutil.copy(root / "src" / "red_circle" / name, root / "src" / EVIL / f"x{name}")
    convert(str(root / "src"), str(root / "out"), ConvertOptions(shards=2, progress=False, workers=1))
    return str(root / "out")


def _png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (6, 4), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def foreign(tmp_path_factory):
    """Two TFRecord files tfrec did not write (no dataset.json): one without an .idx, one with a damaged record.

    things-train: 4 records, record 2's image is PNG-looking garbage. things-test: 3 records with
    an .idx, record 1's data corrupted (its CRC no longer holds).
    """
    root = tmp_path_factory.mktemp("foreign")

    def example(i: int, image: bytes) -> bytes:
        return encode_example({"image": ("bytes", image), "label": ("int64", i % 2), "caption": ("bytes", f"thing <{i}>".encode())})

    train = [example(i, _png((60 * i, 100, 200))) for i in range(4)]
    train[2] = example(2, b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    write_records(str(root / "things-train.tfrecord"), train)
    os.remove(root / "things-train.tfrecord.idx")
    test_path = str(root / "things-test.tfrecord")
    write_records(test_path, [example(i, _png((200, 60 * i, 20))) for i in range(3)])
    with open(test_path + ".idx") as f:
        offset, _ = map(int, f.read().split("\n")[1].split())
    with open(test_path, "r+b") as f:
        f.seek(offset + 12 + 5)
        byte = f.read(1)
        f.seek(offset + 12 + 5)
        f.write(bytes([byte[0] ^ 0xFF]))
    return str(root)


@contextlib.contextmanager
def serving(paths, **kwargs):
    """A viewer on a free loopback port, stopped on exit."""
    server = make_server(DatasetView(paths if isinstance(paths, list) else [paths]), "127.0.0.1", 0, **kwargs)
    start_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def get(server, target: str, method: str = "GET", host: str | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request to the server."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Host": host} if host else {}
        conn.request(method, target, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()
