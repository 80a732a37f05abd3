"""The viewer over HTTP: gallery, record and dataset pages, filters, pictures, bad requests, hostile data."""
from __future__ import annotations

import html
import re
import time

import numpy as np
import pytest

from tfrec.io.index import read_index
from tfrec.view.source import DatasetView, Selection

from .conftest import EVIL, get, serving

THUMB = re.compile(r'<img src="?/thumb\?s=(\d+)&amp;i=(\d+)')


def _cards(body: bytes) -> list[tuple[int, int]]:
    return [(int(s), int(i)) for s, i in THUMB.findall(body.decode())]


def _captions(body: bytes) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<span class=cap>([^<]*)</span>", body.decode())]


def test_gallery_record_and_pictures(datasets):
    with serving(datasets["mnist"]) as server:
        status, headers, body = get(server, "/?split=train&per=20")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert "script-src" not in headers["content-security-policy"] and "default-src 'none'" in headers["content-security-policy"]
        cards = _cards(body)
        assert len(cards) == 20 and cards[0] == (0, 0)
        assert "records 1-20 of 60" in body.decode()
        status, headers, png = get(server, "/thumb?s=0&i=0")
        assert status == 200 and headers["content-type"] == "image/png" and png.startswith(b"\x89PNG")
        status, headers, full = get(server, "/image?s=0&i=0")
        assert status == 200 and full.startswith(b"\x89PNG")  # raw pixels, encoded for the browser

        offset, framed = read_index(server.viewer.view.shards[0].path + ".idx")[5]
        status, _, page = get(server, "/record?s=0&i=5")
        text = page.decode()
        assert status == 200
        assert f"{offset:,}" in text and f"{framed:,} bytes" in text and server.viewer.view.shards[0].name in text
        assert '/record?s=0&amp;i=4' in text and '/record?s=0&amp;i=6' in text  # previous and next
        label = int(re.search(r"label</th><td>class_label</td><td class=value>(\d+)", text).group(1))
        assert 0 <= label < 10


def test_encoded_images_pass_through_and_class_names(datasets):
    with serving(datasets["imagefolder"]) as server:
        view = server.viewer.view
        status, _, body = get(server, "/?per=100")
        assert status == 200
        for name in view.class_names:
            assert name in body.decode()
        status, headers, full = get(server, "/image?s=0&i=0")
        _, example = view.example(0, 0)
        assert headers["content-type"] == "image/jpeg" and full == example["image"][1][0]  # the stored bytes
        status, _, page = get(server, "/record?s=0&i=0")
        assert example["filename"][1][0].decode() in page.decode()  # text shown as text


def test_filters_and_seeded_shuffle(datasets):
    with serving(datasets["mnist"]) as server:
        view = server.viewer.view
        _, _, body = get(server, "/?split=test&per=100")
        assert len(_cards(body)) == 10 and all(view.shards[s].split == "test" for s, _ in _cards(body))
        _, _, body = get(server, "/?shard=1&per=100")
        assert {s for s, _ in _cards(body)} == {1}
        _, _, body = get(server, "/?label=3&per=100")
        cards = _cards(body)
        assert cards and all(view.labels(s)[i] == 3 for s, i in cards)
        assert set(_captions(body)) == {view.class_name(3)}
        total = sum(int((view.labels(s.id) == 3).sum()) for s in view.shards)
        assert len(cards) == total
        # the class counts beside the gallery come from the label pass
        view.label_all()
        _, _, body = get(server, "/")
        assert re.search(rf"{re.escape(view.class_name(3))}</a> <span class=num>{total}</span>", body.decode())

        pages = [_cards(get(server, f"/?order=shuffle&seed=7&per=16&page={p}")[2]) for p in range(1, 6)]
        shuffled = [c for page in pages for c in page]
        in_order = _cards(get(server, "/?per=100")[2])
        assert sorted(shuffled) == sorted(in_order) and shuffled != in_order  # a permutation of all 70
        again = _cards(get(server, "/?order=shuffle&seed=7&per=16&page=2")[2])
        assert again == pages[1]
        assert _cards(get(server, "/?order=shuffle&seed=8&per=16")[2]) != pages[0]


def test_dataset_page_shows_inspect_and_verify(datasets):
    with serving(datasets["cifar10"], verify=True) as server:
        deadline = time.time() + 30
        while True:
            status, _, body = get(server, "/dataset")
            text = body.decode()
            if "http-equiv=refresh" not in text or time.time() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
        assert "label histogram (label, 10 distinct of 10)" in text and server.viewer.view.class_names[0] in text
        assert "32x32x3" in text and "splits" in text
        assert "OK: no problems found" in text
    with serving(datasets["mnist"]) as server:
        text = get(server, "/dataset")[2].decode()
        assert "tfrec verify" in text  # the hint, when verify was not run


@pytest.mark.parametrize("target, status", [
    ("/record?s=0&i=999999", 404), ("/record?s=99&i=0", 404), ("/record?s=0&i=x", 400), ("/record?s=0", 400),
    ("/record?s=-1&i=0", 400), ("/thumb?s=0&i=70", 404), ("/image?s=6&i=0", 404), ("/?page=0", 400),
    ("/?page=999", 404), ("/?order=random", 400), ("/?per=100000", 400), ("/?split=nope", 404), ("/?label=abc", 400),
    ("/../../../../etc/passwd", 404), ("/dataset.json", 404), ("/mnist-train.tfrecord-00000-of-00003", 404),
    ("/%2e%2e/%2e%2e/etc/passwd", 404), ("/thumb?s=0&i=99999999999999999999999", 400),
])
def test_bad_requests_get_4xx_pages(datasets, target, status):
    with serving(datasets["mnist"]) as server:
        got, headers, body = get(server, target)
        assert got == status, body[:300]
        assert headers["content-type"].startswith("text/html") and b"Traceback" not in body
        assert get(server, "/")[0] == 200  # still serving


def test_read_only_and_host_checked(datasets):
    with serving(datasets["mnist"]) as server:
        status, headers, _ = get(server, "/", method="POST")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert get(server, "/", method="DELETE")[0] == 405
        assert get(server, "/", host="evil.example:80")[0] == 400  # DNS rebinding guard
        assert get(server, "/", host=f"localhost:{server.port}")[0] == 200
        status, headers, body = get(server, "/", method="HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_hostile_class_name_is_escaped(evil_dataset):
    with serving(evil_dataset) as server:
        view = server.viewer.view
        assert EVIL in view.class_names
        view.label_all()
        label = view.class_names.index(EVIL)
        for target in ("/", f"/?label={label}", "/record?s=0&i=0", "/dataset"):
            text = get(server, target)[2].decode()
            assert "<img src=x" not in text, target
        text = get(server, f"/?label={label}")[2].decode()
        assert html.escape(EVIL) in text and len(_cards(text.encode())) == 3
        assert _captions(text.encode()) == [EVIL] * 3


def test_foreign_files_damaged_and_undecodable_records(foreign):
    with serving(foreign) as server:
        view = server.viewer.view
        assert [s.split for s in view.shards] == ["test", "train"]  # from the TFDS-style names
        assert view.label is not None and view.image is not None and view.image.encoding == "png"
        status, _, body = get(server, "/?per=50")
        text = body.decode()
        assert status == 200 and len(_cards(body)) == 7
        assert "damaged record: data CRC mismatch" in text
        assert "cannot identify image file" in text or "does not decode" in text
        status, _, page = get(server, "/record?s=0&i=1")
        assert status == 200 and "damaged record: data CRC mismatch" in page.decode()
        status, _, page = get(server, "/record?s=1&i=2")
        assert status == 200 and "image not shown: does not decode" in page.decode()
        assert html.escape("thing <2>") in page.decode()  # text features escaped
        status, headers, thumb = get(server, "/thumb?s=0&i=1")
        assert status == 200 and thumb.startswith(b"\x89PNG")  # a placeholder, not an error
        status, _, page = get(server, "/?split=train")
        assert len(_cards(page)) == 4


@pytest.mark.slow
def test_page_cost_does_not_grow_with_position(tmp_path):
    """A 1,000,000-record shard: the last pages open as fast as the first (seek through the .idx)."""
    from tfrec.demo.synth import write_tiny_dataset

    n = 1_000_000
    write_tiny_dataset(tmp_path, n)
    with serving(str(tmp_path)) as server:
        assert "labels" not in server.viewer._jobs  # no automatic label pass over a million records
        assert get(server, "/?per=48")[0] == 200  # loads the index once
        last = -(-n // 48)
        start, end = [], []
        for k in range(2, 9):  # alternate, each page new to the thumbnail cache
            for page, times in ((k, start), (last - k, end)):
                t = time.perf_counter()
                status, _, body = get(server, f"/?per=48&page={page}")
                times.append(time.perf_counter() - t)
                assert status == 200 and len(_cards(body)) == 48
        assert _cards(body)[0] == (0, (last - 8) * 48 - 48)
        print(f"page at the start {np.median(start) * 1e3:.1f} ms, at the end {np.median(end) * 1e3:.1f} ms (medians of 7)")
        assert np.median(end) <= 3 * np.median(start) + 0.005, (start, end)
        status, _, page = get(server, f"/record?s=0&i={n - 1}")
        assert status == 200 and f"{n - 1:,} of" in page.decode()


def test_page_selection_without_server(datasets):
    view = DatasetView([datasets["cifar10"]])
    records, total = view.page(Selection(split="test"), 0, 100)
    assert total == 10 and [view.shards[s].split for s, _ in records] == ["test"] * 10
    records, total = view.page(Selection(), 55, 100)
    assert total == 60 and len(records) == 5


def test_index_shorter_than_dataset_json_says(datasets, tmp_path):
    import shutil

    root = tmp_path / "short"
    shutil.copytree(datasets["mnist"], root)
    view = DatasetView([str(root)])
    idx = view.shards[0].path + ".idx"
    with open(idx) as f:
        lines = f.readlines()
    with open(idx, "w") as f:
        f.writelines(lines[:-2])  # dataset.json still lists 20 records
    with serving(str(root)) as server:
        status, _, body = get(server, "/?shard=0&per=100")
        assert status == 200 and len(_cards(body)) == 20 and "no record 19" in body.decode()
        assert get(server, "/record?s=0&i=19")[0] == 404 and get(server, "/record?s=0&i=17")[0] == 200
