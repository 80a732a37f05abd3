"""The viewer's and `inspect --html`'s human views (issue 24, items 12 and 14).

Features declared `text` read as text on the record page (escaped, lists as lists, not-UTF-8
bytes in an escaped form, long values cut with their length); the dataset page and the report
name the skipped source files and their reasons (the first 20, then how many more) and say
yes/no, not True/False.
"""
from __future__ import annotations

import html
import json
import re

import pytest
from click.testing import CliRunner

from tfrec.check.inspect import SKIPPED_SHOWN
from tfrec.cli.main import cli
from tfrec.codec.example import encode_example
from tfrec.io.records import write_records
from tfrec.view import pages
from tfrec.view.server import Viewer
from tfrec.view.source import DatasetView

from ..check.test_inspect_human import write_skipping_dataset
from .conftest import _png, get, serving

LONG = "a long caption " * 400  # 6,000 characters: cut on the page
TEXTS = {
    "caption": ("bytes", ["a <b>photo</b> of a café".encode()]),
    "tags": ("bytes", [b"red", b"round", b"<small>"]),
    "latin1": ("bytes", [b"caf\xe9"]),
    "terminal": ("bytes", [b"\x1b[31mred\x1b[0m\r"]),
    "long": ("bytes", [LONG.encode()]),
    "empty": ("bytes", []),
}
SCHEMA = {"name": "texts", "features": {
    "image": {"kind": "image", "encoding": "png", "shape": [None, None, 3]},
    "label": {"kind": "class_label", "shape": [], "names": ["zero", "one"]},
    "caption": {"kind": "text", "shape": []}, "tags": {"kind": "text", "shape": [None]},
    "latin1": {"kind": "text", "shape": []}, "terminal": {"kind": "text", "shape": []},
    "long": {"kind": "text", "shape": []}, "empty": {"kind": "text", "shape": [None]},
    "blob": {"kind": "bytes", "shape": []},
}}


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    """One TFRecord file of 2 records with text features of every awkward kind, and its schema file."""
    root = tmp_path_factory.mktemp("texts")
    records = [encode_example({"image": ("bytes", _png((9, 9, 9))), "label": ("int64", i), "blob": ("bytes", b"raw"),
                               **TEXTS}) for i in range(2)]
    write_records(str(root / "texts-train.tfrecord"), records)
    with open(root / "schema.json", "w") as f:
        json.dump(SCHEMA, f)
    return str(root / "texts-train.tfrecord"), str(root / "schema.json")


@pytest.fixture(scope="module")
def skipping(tmp_path_factory) -> str:
    return write_skipping_dataset(str(tmp_path_factory.mktemp("view_skipping")))


@pytest.fixture(scope="module")
def skipping_many(tmp_path_factory) -> str:
    return write_skipping_dataset(str(tmp_path_factory.mktemp("view_skipping_many")), broken=SKIPPED_SHOWN + 3)


def _rows(page: str) -> dict[str, tuple[str, str]]:
    """The record page's features: name -> (kind cell, value cell), as HTML."""
    found = re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td><td class=value>(.*?)</td></tr>", page)
    return {html.unescape(name): (html.unescape(kind), value) for name, kind, value in found}


# ---------------------------------------------------------------- item 12: text on the record page


def test_record_page_shows_the_filename_as_text(datasets):
    with serving(datasets["imagefolder"]) as server:
        _, example = server.viewer.view.example(0, 0)
        status, _, body = get(server, "/record?s=0&i=0")
    rows = _rows(body.decode())
    assert status == 200
    assert rows["filename"] == ("text", html.escape(example["filename"][1][0].decode()))
    assert rows["format"] == ("text", "jpeg")
    assert rows["label"][0] == "class_label" and rows["image"][0] == "image" and rows["height"][0] == "int64"
    assert "bytes[" not in body.decode()


def test_record_page_text_kinds(texts):
    path, schema = texts
    viewer = Viewer(DatasetView([path], schema=schema), count_classes=False)
    response = viewer.handle("/record?s=0&i=0")
    page = response.body.decode()
    rows = _rows(page)
    assert response.status == 200 and "bytes[" not in page
    assert rows["caption"] == ("text", html.escape("a <b>photo</b> of a café"))
    assert rows["tags"][0] == "text, 3 values"
    assert rows["tags"][1] == "<ol class=texts><li>red</li><li>round</li><li>&lt;small&gt;</li></ol>"
    assert rows["latin1"][0] == "text" and "not valid UTF-8" in rows["latin1"][1]
    assert html.escape("b'caf\\xe9'") in rows["latin1"][1]
    assert "\x1b" not in page and "\r" not in page and rows["terminal"][1] == html.escape("\\x1b[31mred\\x1b[0m\\r")
    assert rows["long"][1].startswith(html.escape(LONG[:pages.TEXT_CHARS])) and "(6,000 characters)" in rows["long"][1]
    assert LONG not in page
    assert rows["empty"] == ("text, 0 values", "")
    assert rows["blob"] == ("bytes", "raw")  # declared bytes: as before


def test_text_stored_otherwise_is_shown_as_stored(tmp_path):
    path = str(tmp_path / "odd-train.tfrecord")
    write_records(path, [encode_example({"caption": ("int64", [7, 8])})])
    with open(tmp_path / "s.json", "w") as f:
        json.dump({"name": "odd", "features": {"caption": {"kind": "text", "shape": []}}}, f)
    page = Viewer(DatasetView([path], schema=str(tmp_path / "s.json")), count_classes=False).handle("/record?s=0&i=0")
    assert _rows(page.body.decode())["caption"] == ("int64, 2 values", "7, 8")


# ---------------------------------------------------------------- item 14: skipped files and yes/no


def _dataset_page(path: str) -> str:
    viewer = Viewer(DatasetView([path]), count_classes=False)
    viewer.handle("/dataset")
    viewer._jobs["inspect"].done.wait(120)  # the inspect pass behind the page: wait for it, not for a clock
    return viewer.handle("/dataset").body.decode()


def _assert_skipped_listed(text: str, skipped: list[dict], shown: int) -> None:
    listed = [s for s in skipped if f"<tr><td>{html.escape(s['path'])}</td><td>{html.escape(s['reason'])}</td></tr>" in text]
    assert len(listed) == shown
    assert "True" not in text and "False" not in text


def test_dataset_page_names_skipped_files(skipping):
    skipped = json.load(open(f"{skipping}/dataset.json"))["skipped"]
    text = _dataset_page(skipping)
    assert "<tr><th>shuffled</th><td>yes</td></tr>" in text and "<tr><th>skipped source files</th><td>2</td></tr>" in text
    assert "<h3>skipped source files (2)</h3>" in text and "&lt;b&gt;empty.png" in text and "<b>empty" not in text
    _assert_skipped_listed(text, skipped, 2)


def test_dataset_page_caps_the_skipped_list(skipping_many):
    skipped = json.load(open(f"{skipping_many}/dataset.json"))["skipped"]
    text = _dataset_page(skipping_many)
    _assert_skipped_listed(text, skipped, SKIPPED_SHOWN)
    assert f"... and 3 more (dataset.json lists all {SKIPPED_SHOWN + 3})" in text


def test_html_report_names_skipped_files(skipping, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["inspect", skipping, "--html", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "<tr><th>shuffled</th><td>yes</td></tr>" in text
    _assert_skipped_listed(text, json.load(open(f"{skipping}/dataset.json"))["skipped"], 2)


@pytest.mark.parametrize("value, shown", [(True, "yes"), (False, "no"), (None, "-"), (0, "0"), ("x<", "x&lt;")])
def test_facts_read_as_a_person_would(value, shown):
    assert pages._facts([("k", value)]) == f"<table><tr><th>k</th><td>{shown}</td></tr></table>"


def test_nothing_skipped_nothing_listed(datasets):
    text = _dataset_page(datasets["mnist"])
    assert "<tr><th>skipped source files</th><td>0</td></tr>" in text and "<h3>skipped" not in text
    assert "<tr><th>shuffled</th><td>yes</td></tr>" in text or "<tr><th>shuffled</th><td>no</td></tr>" in text
