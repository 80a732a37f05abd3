"""inspect's human views (issue 24, items 12 and 14): text features as text, skipped source files named, yes/no.

A feature the schema declares `text` is shown as text (quoted, escaped where it is not printable
or not UTF-8, lists as lists, long values cut with their length), not as `bytes[...]`. A dataset
that skipped source files lists which and why (the first 20, then how many more), and booleans
read yes/no; --json keeps its types (the count an int, `shuffled` a JSON boolean).
"""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
from click.testing import CliRunner

from tfrec.check.inspect import SKIPPED_SHOWN, InspectOptions, describe_value, inspect
from tfrec.cli.main import cli
from tfrec.codec.schema import FeatureSpec
from tfrec.demo import synth
from tfrec.write.convert import ConvertOptions, convert

QUIET = dict(progress=False, workers=1)
SCALAR = FeatureSpec("filename", "text")
LIST = FeatureSpec("tags", "text", (None,))


def write_skipping_dataset(root, broken: int = 2) -> str:
    """An image folder of 2 classes x 3 PNGs plus `broken` files that convert skips, converted; its directory.

    The broken files are empty `.png` files in `cat/`, one named like HTML, and one `.jpg` of garbage in `dog/`.
    """
    src = os.path.join(root, "src")
    synth.write_image_folder(src, n_per_class=3, seed=1, num_classes=2, size=(8, 8), fmt="png")
    classes = sorted(os.listdir(src))
    with open(os.path.join(src, classes[1], "garbage.jpg"), "wb") as f:
        f.write(b"this is not a jpeg at all" * 4)
    for i in range(broken - 1):
        name = "<b>empty.png" if i == 0 else f"empty_{i:02d}.png"
        open(os.path.join(src, classes[0], name), "wb").close()
    out = os.path.join(root, "out")
    convert(src, out, ConvertOptions(shards=1, shuffle=True, progress=False, workers=1))
    return out


@pytest.fixture(scope="module")
def skipping(tmp_path_factory) -> str:
    return write_skipping_dataset(str(tmp_path_factory.mktemp("skipping")))


@pytest.fixture(scope="module")
def skipping_many(tmp_path_factory) -> str:
    return write_skipping_dataset(str(tmp_path_factory.mktemp("skipping_many")), broken=SKIPPED_SHOWN + 3)


# ---------------------------------------------------------------- item 12: text features


@pytest.mark.parametrize("spec, values, shown", [
    (SCALAR, [b"cat/cat_r1.png"], "'cat/cat_r1.png'"),
    (SCALAR, ["café/ünï.png".encode()], "'café/ünï.png'"),
    (SCALAR, [b""], "''"),
    (SCALAR, [b"it's \"quoted\""], repr("it's \"quoted\"")),
    (SCALAR, [b"line\nbreak\ttab"], "'line\\nbreak\\ttab'"),
    (SCALAR, [b"\x1b[31mred\x1b[0m"], "'\\x1b[31mred\\x1b[0m'"),  # a terminal escape is shown, not obeyed
    (SCALAR, [b"caf\xe9"], "b'caf\\xe9' (not valid UTF-8, 4 bytes)"),
    (SCALAR, [b"x" * 100], f"'{'x' * 60}'... (100 chars)"),
    (SCALAR, [b"\xff" * 100], "b'" + "\\xff" * 60 + "'... (not valid UTF-8, 100 bytes)"),
    (SCALAR, [b"a", b"b"], "['a', 'b']"),  # a scalar that holds two values shows both
    (SCALAR, [], "[]"),
    (LIST, [b"red", b"round"], "['red', 'round']"),
    (LIST, [b"only"], "['only']"),  # declared a list: a list even of one
    (LIST, [b"ok", b"\xc3("], "['ok', b'\\xc3(' (not valid UTF-8, 2 bytes)]"),
    (LIST, [str(i).encode() for i in range(20)], "['0', '1', '2', '3', '4', '5', '6', '7', ... (20 values)]"),
])
def test_text_features_read_as_text(spec, values, shown):
    assert describe_value("bytes", values, spec=spec) == shown


def test_undeclared_bytes_keep_their_kind():
    assert describe_value("bytes", [b"cat"]) == "bytes['cat']"
    assert describe_value("bytes", [b"cat"], spec=FeatureSpec("blob", "bytes")) == "bytes['cat']"
    assert describe_value("int64", [3], spec=SCALAR) == "int64[3]"  # stored otherwise than declared: as stored


def test_inspect_samples_show_filenames_as_text(datasets):
    result = CliRunner().invoke(cli, ["inspect", datasets["imagefolder"], "--samples", "2"])
    assert result.exit_code == 0, result.output
    report = inspect([datasets["imagefolder"]], InspectOptions(samples=2, **QUIET))
    for sample in report.sections[0]["samples"]:
        name = sample["features"]["filename"]
        assert name.startswith("'") and name.endswith(".jpg'") and "bytes[" not in name
        assert sample["features"]["format"] == "'jpeg'"
        assert f"filename         {name}" in result.output
    assert "bytes['" not in result.output


def test_foreign_text_features_read_as_text(tmp_path):
    from tfrec.codec.example import encode_example
    from tfrec.io.records import write_records

    write_records(str(tmp_path / "a.tfrecord"), [encode_example({"caption": ("bytes", f"a photo {i}".encode()),
                                                                  "label": ("int64", i)}) for i in range(3)])
    report = inspect([str(tmp_path / "a.tfrecord")], InspectOptions(samples=1, **QUIET))
    assert report.sections[0]["samples"][0]["features"]["caption"] == "'a photo 0'"  # inferred text


# ---------------------------------------------------------------- item 14: skipped files, yes/no


def test_skipped_files_are_named_with_their_reasons(skipping):
    manifest = json.load(open(os.path.join(skipping, "dataset.json")))
    assert len(manifest["skipped"]) == 2
    report = inspect([skipping], InspectOptions(**QUIET))
    section = report.sections[0]
    assert section["skipped_files"] == 2 and section["skipped"] == manifest["skipped"]
    text = report.summary()
    assert "skipped 2 source files:" in text
    for item in manifest["skipped"]:
        assert f"  {item['path']}: {item['reason']}" in text
    assert "shuffled" in text and "True" not in text and "False" not in text


def test_skipped_files_list_is_capped(skipping_many):
    report = inspect([skipping_many], InspectOptions(**QUIET))
    section = report.sections[0]
    total = SKIPPED_SHOWN + 3
    assert section["skipped_files"] == total == len(section["skipped"])
    text = report.summary()
    listed = [item for item in section["skipped"] if f"  {item['path']}: " in text]
    assert len(listed) == SKIPPED_SHOWN and f"  ... and 3 more (dataset.json lists all {total})" in text


def test_json_keeps_its_types(skipping):
    result = CliRunner().invoke(cli, ["inspect", skipping, "--json"])
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)["inputs"][0]
    assert section["shuffled"] is True and section["skipped_files"] == 2 and isinstance(section["skipped"], list)
    assert {"path", "reason"} <= set(section["skipped"][0])


def test_cli_text_says_yes_no_and_names_skipped(skipping):
    result = CliRunner().invoke(cli, ["inspect", skipping])
    assert result.exit_code == 0, result.output
    assert "skipped 2 source files:" in result.output and "garbage.jpg" in result.output
    assert "True" not in result.output and "False" not in result.output


@pytest.mark.parametrize("seed, shuffled, said", [(None, False, "no seed, not shuffled"), (0, False, "seed 0, not shuffled"),
                                                   (7, True, "seed 7, shuffled")])
def test_seed_and_shuffle_read_plainly(datasets, seed, shuffled, said):
    report = inspect([datasets["mnist"]], InspectOptions(**QUIET))
    section = {**report.sections[0], "seed": seed, "shuffled": shuffled}
    text = dataclasses.replace(report, sections=(section,)).summary()
    assert said in text.splitlines()[0]
    assert "None" not in text and "True" not in text and "False" not in text
    assert "skipped" not in text  # nothing skipped, nothing said
