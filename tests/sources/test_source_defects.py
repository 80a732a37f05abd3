"""Defects found converting real files (issue 10): schema names, outputs inside SRC, odd file names,
CIFAR paths, EMNIST names, and the re-encoding rule for images TensorFlow cannot decode."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.codec.images import tf_unreadable
from tfrec.codec.schema import load_schema
from tfrec.demo import synth
from tfrec.errors import SchemaError, SourceError
from tfrec.write.convert import ConvertOptions, convert

ODD = os.path.join(os.path.dirname(__file__), "..", "data", "odd-images")
QUIET = dict(progress=False, workers=1)


# -- 1: a folder in the current directory does not shadow a built-in schema name


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "imagefolder"])
def test_a_folder_named_like_a_builtin_schema_does_not_shadow_it(tmp_path, monkeypatch, name):
    (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_schema(name).source == f"schemas/{name}.json"


def test_convert_mnist_from_a_folder_called_mnist(tmp_path, monkeypatch):
    synth.write_mnist(tmp_path / "mnist", n_train=20, n_test=5, seed=1)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["convert", "mnist", "out/mnist", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.load(open(tmp_path / "out/mnist/dataset.json"))["splits"]["train"]["records"] == 20


def test_a_schema_path_that_is_a_directory_says_so(tmp_path):
    (tmp_path / "s.json").mkdir()
    with pytest.raises(SchemaError, match="is a directory, not a schema file"):
        load_schema(str(tmp_path / "s.json"))
    with pytest.raises(SchemaError, match="is a directory, not a schema file"):
        load_schema(str(tmp_path))


def test_a_json_file_named_like_a_builtin_is_read_as_a_file(tmp_path, monkeypatch):
    doc = load_schema("mnist").to_json() | {"name": "mine"}
    (tmp_path / "mnist.json").write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    assert load_schema("mnist.json").name == "mine"
    assert load_schema("./mnist.json").name == "mine"
    assert load_schema("mnist").name == "mnist"


@pytest.mark.parametrize("command", [["convert"], ["verify"], ["bench", "read"]])
def test_schema_help_states_the_rule(command):
    out = CliRunner().invoke(cli, command + ["--help"]).output
    assert "built-in" in out and ".json" in out and "path" in out, out


# -- 2 (convert side): the rule for what TensorFlow cannot decode, from headers alone


@pytest.mark.parametrize("name, reason", [
    ("bmp/pal8rle.bmp", "RLE-compressed BMP"),
    ("bmp/pal4rle.bmp", "RLE-compressed BMP"),
    ("bmp/pal8.bmp", "8-bit BMP"),
    ("bmp/pal1.bmp", "1-bit BMP"),
    ("bmp/rgba32.bmp", "bitfields BMP"),
    ("bmp/pal8os2.bmp", "OS/2 BMP"),
    ("bmp/rgb24prof.bmp", "BMP with bytes after its pixels"),
    ("bmp/rgb24.bmp", ""),
    ("gif/dispose_bgnd.gif", "GIF"),
    ("webp/transparent.webp", "WebP with alpha"),
    ("webp/hopper.webp", ""),
    ("png/p_trns_single.png", ""),
    ("jpeg/app13-multiple.jpg", ""),
])
def test_tf_unreadable_names_the_variant(name, reason):
    from PIL import Image

    data = open(os.path.join(ODD, name), "rb").read()
    with Image.open(os.path.join(ODD, name)) as img:
        fmt = {"BMP": "bmp", "GIF": "gif", "WEBP": "webp", "PNG": "png", "JPEG": "jpeg"}[img.format]
        assert tf_unreadable(data, fmt, img.mode).startswith(reason) if reason else tf_unreadable(data, fmt, img.mode) == ""


def test_an_rle_bmp_is_stored_as_png(tmp_path):
    (tmp_path / "src/a").mkdir(parents=True)
    (tmp_path / "src/b").mkdir()
    shutil.copy(os.path.join(ODD, "bmp/pal8rle.bmp"), tmp_path / "src/a")
    shutil.copy(os.path.join(ODD, "bmp/rgb24.bmp"), tmp_path / "src/b")
    result = convert(str(tmp_path / "src"), str(tmp_path / "out"), ConvertOptions(shards=1, **QUIET))
    assert result["splits"]["train"]["shards"][0]["formats"] == {"bmp": 1, "png": 1}


# -- 5: an earlier output inside SRC is never a class


def test_an_earlier_output_inside_src_is_not_a_class(tmp_path):
    src = tmp_path / "photos"
    synth.write_image_folder(src, n_per_class=3, seed=1, num_classes=2, size=(8, 8), fmt="png")
    first = convert(str(src), str(src / "out"), ConvertOptions(shards=1, **QUIET))
    assert first["schema"]["features"]["label"]["num_classes"] == 2
    again = convert(str(src), str(tmp_path / "again"), ConvertOptions(shards=1, **QUIET))
    assert again["schema"]["features"]["label"]["num_classes"] == 2
    assert again["label_names"] == first["label_names"]
    assert [w for w in again["warnings"] if "out" in w] == [
        "left out folder 'out': it holds a tfrec output (dataset.json), not a class"]
    # an interrupted one (its journal, no dataset.json yet) is left out too
    os.remove(src / "out" / "dataset.json")
    open(src / "out" / ".tfrec-journal.jsonl", "w").close()
    third = convert(str(src), str(tmp_path / "third"), ConvertOptions(shards=1, **QUIET))
    assert third["schema"]["features"]["label"]["num_classes"] == 2


# -- 6: a file name that is not UTF-8 converts and verifies


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS file systems refuse non-UTF-8 names")
def test_a_non_utf8_file_name_is_stored_escaped_and_verifies(tmp_path):
    from tfrec.check.verify import VerifyOptions, verify

    src = tmp_path / "src"
    synth.write_image_folder(src, n_per_class=2, seed=1, num_classes=2, size=(8, 8), fmt="png")
    cls = os.path.join(str(src).encode(), os.listdir(src)[0].encode())
    shutil.copy(os.path.join(cls, os.listdir(cls)[0]), os.path.join(cls, b"caf\xe9.png"))
    out = convert(str(src), str(tmp_path / "out"), ConvertOptions(shards=1, **QUIET))["out"]
    report = verify([out], VerifyOptions(level="decode", progress=False, workers=1))
    assert report.ok, report.summary()
    from tfrec.io.records import iter_records
    from tfrec.codec.example import decode_example

    shard = os.path.join(out, json.load(open(os.path.join(out, "dataset.json")))["splits"]["train"]["shards"][0]["file"])
    names = [decode_example(r.data)["filename"][1][0] for r in iter_records(shard)]
    assert [n for n in names if b"caf" in n] == [os.listdir(src)[0].encode() + b"/caf\\xe9.png"]


# -- 7: a CIFAR error names the real file


def test_a_cut_cifar_batch_is_named_where_it_is(tmp_path):
    synth.write_cifar10(tmp_path / "src", n_train=30, n_test=5, seed=1, batches=3)
    real = tmp_path / "src" / "cifar-10-batches-bin" / "data_batch_3.bin"
    assert real.exists()
    with open(real, "r+b") as f:
        f.truncate(real.stat().st_size - 100)
    with pytest.raises(SourceError) as e:
        convert(str(tmp_path / "src"), str(tmp_path / "out"), ConvertOptions(**QUIET))
    assert str(e.value).startswith(f"{real}: ")


def test_a_cut_cifar_member_in_an_archive_is_named_inside_it(tmp_path):
    import tarfile

    synth.write_cifar10(tmp_path / "src", n_train=30, n_test=5, seed=1, batches=3)
    real = tmp_path / "src" / "cifar-10-batches-bin" / "data_batch_2.bin"
    with open(real, "r+b") as f:
        f.truncate(real.stat().st_size - 100)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-bin", "cifar-10-batches-bin")
    with pytest.raises(SourceError) as e:
        convert(str(archive), str(tmp_path / "out"), ConvertOptions(**QUIET))
    assert str(e.value).startswith(f"{archive}:cifar-10-batches-bin/data_batch_2.bin: ")


# -- 8: skip reasons are stable words (see also test_real_files)


def test_a_skip_reason_has_no_object_address(tmp_path):
    (tmp_path / "src/a").mkdir(parents=True)
    (tmp_path / "src/a/x.jpg").write_bytes(b"not an image at all")
    synth.write_image_folder(tmp_path / "src2", n_per_class=1, seed=1, num_classes=1, size=(8, 8), fmt="png")
    shutil.copytree(tmp_path / "src2", tmp_path / "src", dirs_exist_ok=True)
    result = convert(str(tmp_path / "src"), str(tmp_path / "out"), ConvertOptions(**QUIET))
    assert result["skipped"] == [{"path": "a/x.jpg", "reason": "not a valid image: Pillow cannot identify its format"}]


# -- 10: EMNIST file names, and asking which set when there are several


def _emnist(root, subset: str, n: int, seed: int):
    import numpy as np

    images, labels = synth.make_digits(n, seed)
    for split in ("train", "test"):
        synth.write_idx(root / f"emnist-{subset}-{split}-images-idx3-ubyte.gz", images, gzip=True)
        synth.write_idx(root / f"emnist-{subset}-{split}-labels-idx1-ubyte.gz", labels.astype(np.uint8), gzip=True)


def test_emnist_names_are_recognised(tmp_path):
    _emnist(tmp_path / "src", "digits", 12, 1)
    for fmt in ("auto", "mnist"):
        result = convert(str(tmp_path / "src"), str(tmp_path / f"out-{fmt}"), ConvertOptions(format=fmt, **QUIET))
        assert {k: v["records"] for k, v in result["splits"].items()} == {"train": 12, "test": 12}


def test_several_idx_sets_ask_which(tmp_path):
    _emnist(tmp_path / "src", "digits", 12, 1)
    _emnist(tmp_path / "src", "letters", 7, 2)
    with pytest.raises(SourceError, match=r"holds 2 IDX sets: emnist-digits, emnist-letters; pass --subset"):
        convert(str(tmp_path / "src"), str(tmp_path / "out"), ConvertOptions(**QUIET))
    result = convert(str(tmp_path / "src"), str(tmp_path / "out"), ConvertOptions(subset="letters", **QUIET))
    assert result["splits"]["train"]["records"] == 7
    with pytest.raises(SourceError, match=r"no IDX set 'balanced'.*emnist-digits, emnist-letters"):
        convert(str(tmp_path / "src"), str(tmp_path / "out2"), ConvertOptions(subset="balanced", **QUIET))
    runner = CliRunner().invoke(cli, ["convert", str(tmp_path / "src"), str(tmp_path / "out3"), "--subset",
                                      "emnist-digits", "--json"])
    assert runner.exit_code == 0, runner.output
    assert json.loads(runner.stdout)["splits"]["train"]["records"] == 12


def test_palette_with_transparency_reencodes_without_a_warning():
    """A palette PNG with a transparency table re-encodes as Pillow's own P -> RGB colours, silently."""
    import io
    import warnings

    import numpy as np
    from PIL import Image

    from tfrec.sources.imagefolder import _reencode

    img = Image.new("P", (4, 3))
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [7] * (3 * 253))
    img.putdata([0, 1, 2, 1] * 3)
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=b"\x00\x80" + b"\xff" * 254)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data, fmt, width, height = _reencode(Image.open(io.BytesIO(buf.getvalue())), "png", None, None, 90, False)
    assert (fmt, width, height) == ("png", 4, 3)
    plain = Image.open(io.BytesIO(buf.getvalue()))
    plain.info.pop("transparency")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(plain.convert("RGB")))


@pytest.mark.parametrize("reader", ["fastest", "gzip"])
@pytest.mark.parametrize("damage", ["cut", "garbled", "crc"])
def test_a_damaged_cifar_archive_is_named(tmp_path, monkeypatch, reader, damage):
    # tfrec reads gzipped archives through ISA-L when it is installed; its errors are not OSErrors,
    # and must still become one SourceError naming the archive.
    import gzip
    import tarfile

    from tfrec.io import gunzip

    if reader == "gzip":
        monkeypatch.setattr(gunzip, "_gzip_files", gzip)
    synth.write_cifar10(tmp_path / "src", n_train=30, n_test=5, seed=1, batches=3)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-bin", "cifar-10-batches-bin")
    data = archive.read_bytes()
    # garbled: the deflate data right after the 10-byte gzip header (0xff: an invalid block type);
    # crc: the trailer's CRC-32 of the content no longer matches (content that inflates but is not
    # what was written); tarfile stops at the tar's end marker, before the gzip trailer is read.
    damaged = {"cut": data[: len(data) // 2], "garbled": data[:10] + b"\xff" * 64 + data[74:],
               "crc": data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]}[damage]
    archive.write_bytes(damaged)
    with pytest.raises(SourceError) as e:
        convert(str(archive), str(tmp_path / "out"), ConvertOptions(**QUIET))
    assert str(e.value).startswith(f"{archive}: not a readable .tar.gz archive: ")
    assert not (tmp_path / "out" / "dataset.json").exists()
