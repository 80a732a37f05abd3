"""tfrec inspect: dataset summaries, schema inference on foreign TFRecords, samples, contact sheets, catalogs."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.cli.main import cli
from tfrec.codec.example import encode_example
from tfrec.check.grid import BACKGROUND, make_contact_sheet
from tfrec.check.infer import infer_schema
from tfrec.check.inspect import InspectOptions, inspect
from tfrec.io.records import write_records
from tfrec.io.index import read_index
from tfrec.codec.schema import load_schema
from tfrec.check.verify import VerifyOptions, verify

QUIET = dict(progress=False, workers=1)


def png(h: int, w: int, seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- tfrec datasets


def test_dataset_summary(datasets):
    report = inspect([datasets["cifar10"]], InspectOptions(**QUIET))
    (section,) = report.sections
    assert section["kind"] == "dataset" and section["name"] == "cifar10" and section["records"] == 60
    assert {k: v["records"] for k, v in section["splits"].items()} == {"train": 50, "test": 10}
    assert [len(v["shards"]) for v in section["splits"].values()] == [3, 3]
    hist = section["labels"]["label"]
    assert sum(c["count"] for c in hist["counts"]) == 60 and hist["num_classes"] == 10
    names = json.load(open(os.path.join(datasets["cifar10"], "dataset.json")))["label_names"]
    assert all(c["name"] == names[c["label"]] for c in hist["counts"])
    assert section["images"]["formats"] == {"raw": 60} and section["images"]["sizes"] == [{"size": "32x32x3", "count": 60}]
    assert section["bytes_per_record"]["min"] == section["bytes_per_record"]["max"] > 3072
    text = report.summary()
    assert "labels (label" in text and names[0] in text and "cifar10-train.tfrecord-00000-of-00003" in text


def test_encoded_images_and_samples(datasets):
    report = inspect([datasets["imagefolder"]], InspectOptions(samples=2, **QUIET))
    section = report.sections[0]
    assert section["images"]["formats"] == {"jpeg": 24}
    assert sum(s["count"] for s in section["images"]["sizes"]) == 24
    sample = section["samples"][0]["features"]
    assert sample["image"].startswith("bytes[<jpeg ") and "bytes>]" in sample["image"]  # summarised, not dumped
    assert sample["filename"].startswith("'") and sample["label"].startswith("int64[")  # declared text: as text
    assert "(" in sample["label"]  # the class name beside the label


def test_cli_json_and_help(datasets):
    result = CliRunner().invoke(cli, ["inspect", "--help"])
    assert result.exit_code == 0 and "--save-schema" in result.output and "--catalog" in result.output
    result = CliRunner().invoke(cli, ["inspect", datasets["mnist"], "--json", "--samples", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"][0]["records"] == 70 and len(data["inputs"][0]["samples"]) == 1
    assert CliRunner().invoke(cli, ["inspect", "/no/such/path"]).exit_code == 2


def test_catalog_has_one_row_per_record(datasets, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "cat.parquet"
    report = inspect([datasets["imagefolder"]], InspectOptions(catalog=str(out), **QUIET))
    table = pq.read_table(out).to_pydict()
    assert report.written["catalog"]["rows"] == len(table["index"]) == 24
    assert set(table) == {"shard", "split", "index", "offset", "length", "label", "height", "width", "format", "image_bytes"}
    first = [i for i, s in enumerate(table["shard"]) if s == "images-train.tfrecord-00000-of-00003"]
    idx = read_index(os.path.join(datasets["imagefolder"], "images-train.tfrecord-00000-of-00003.idx"))
    assert [table["offset"][i] for i in first] == idx[:, 0].tolist()
    assert [table["length"][i] for i in first] == idx[:, 1].tolist()
    assert set(table["format"]) == {"jpeg"} and all(0 <= v < 3 for v in table["label"])
    assert all(h > 0 and w > 0 for h, w in zip(table["height"], table["width"]))


# ---------------------------------------------------------------- contact sheets


def test_contact_sheet_tiles(tmp_path):
    images = [np.full((28, 28, 1), 200 + i, np.uint8) for i in range(7)]
    path = tmp_path / "sheet.png"
    sheet = make_contact_sheet(images, [f"class {i}" for i in range(7)], str(path), columns=3)
    assert (sheet.count, sheet.columns, sheet.rows) == (7, 3, 3)
    img = Image.open(path)
    assert img.format == "PNG" and img.size == (sheet.width, sheet.height)
    pixels = np.asarray(img.convert("RGB"))
    for i in range(9):
        left, top, right, bottom = sheet.tile_box(i)
        centre = pixels[(top + bottom) // 2, (left + right) // 2]
        if i < 7:
            assert (centre == 200 + i).all()  # the tile shows image i
        else:
            assert tuple(centre) == BACKGROUND  # no tile: only background


def test_inspect_grid_is_a_png_with_labels(datasets, tmp_path):
    path = tmp_path / "grid.png"
    report = inspect([datasets["mnist"]], InspectOptions(grid=str(path), grid_images=12, **QUIET))
    grid = report.written["grid"]
    assert grid["images"] == 12 and (grid["columns"], grid["rows"]) == (4, 3)
    with Image.open(path) as img:
        assert img.format == "PNG" and list(img.size) == grid["size"]
    result = CliRunner().invoke(cli, ["inspect", datasets["imagefolder"], "--grid", str(tmp_path / "g.png"),
                                      "--grid-images", "5", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["written"]["grid"]["images"] == 5


# ---------------------------------------------------------------- foreign files and schema inference


def _foreign_examples(n: int) -> list[dict]:
    return [{
        "image/encoded": ("bytes", [png(12, 10, i)]),
        "label": ("int64", [i % 4]),
        "embedding": ("float", [0.25 * i, -1.5, 3.0]),
        "tokens": ("int64", list(range(i % 3 + 1))),
        "caption": ("bytes", [f"picture {i}".encode()]),
        "blob": ("bytes", [bytes([255, 0, i])]),
    } for i in range(n)]


def test_infer_schema_kinds_counts_and_content():
    inferred = infer_schema([{k: v for k, v in ex.items()} for ex in
                             ({name: (kind, values) for name, (kind, values) in e.items()} for e in _foreign_examples(9))])
    by = {f.name: f for f in inferred.features}
    assert by["image/encoded"].looks_like == "png" and by["image/encoded"].image_shapes == ((12, 10, 3),)
    assert (by["tokens"].kind, by["tokens"].min_count, by["tokens"].max_count) == ("int64", 1, 3)
    assert (by["embedding"].kind, by["embedding"].min_value, by["embedding"].max_value) == ("float", -1.5, 3.0)
    assert by["caption"].looks_like == "text" and by["blob"].looks_like == "binary"
    schema = inferred.to_schema("x").to_json()["features"]
    assert schema["image/encoded"] == {"kind": "image", "shape": [12, 10, 3], "dtype": "uint8", "encoding": "png"}
    assert schema["tokens"] == {"kind": "int64", "shape": [None]}
    assert schema["embedding"] == {"kind": "float", "shape": [3]}
    assert schema["label"] == {"kind": "class_label", "shape": [], "num_classes": 4}  # named so, values 0..3
    assert schema["caption"]["kind"] == "text" and schema["blob"]["kind"] == "bytes"
    assert any("class label" in n for n in inferred.notes())


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_tensorflow_files_infer_and_read_back(tmp_path, compression):
    tf = pytest.importorskip("tensorflow")
    examples = _foreign_examples(40)
    path = str(tmp_path / ("data.tfrecord" + (".gz" if compression else "")))
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type=compression)) as w:
        for ex in examples:
            feature = {}
            for name, (kind, values) in ex.items():
                if kind == "bytes":
                    feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
                elif kind == "int64":
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
                else:
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
            w.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    saved = tmp_path / "inferred.json"
    result = CliRunner().invoke(cli, ["inspect", path, "--save-schema", str(saved), "--json", "--samples", "1"])
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)["inputs"][0]
    assert section["kind"] == "files" and section["records"] == 40
    assert section["files"][0]["compression"] == ("gzip" if compression else "none")
    kinds = {f["name"]: (f["kind"], f.get("looks_like", "")) for f in section["inferred"]["features"]}
    assert kinds == {"image/encoded": ("bytes", "png"), "label": ("int64", ""), "embedding": ("float", ""),
                     "tokens": ("int64", ""), "caption": ("bytes", "text"), "blob": ("bytes", "binary")}
    # the saved schema is a valid tfrec schema, and its parse spec reads the data back
    schema = load_schema(str(saved))
    ds = tf.data.TFRecordDataset(path, compression_type=compression).batch(40)
    parsed = tf.io.parse_example(next(iter(ds)), schema.parse_spec())
    assert parsed["label"].numpy().tolist() == [i % 4 for i in range(40)]
    assert np.allclose(parsed["embedding"].numpy()[:, 0], [0.25 * i for i in range(40)])
    assert tf.sparse.to_dense(parsed["tokens"]).numpy()[5].tolist() == [0, 1, 2]
    assert parsed["image/encoded"].numpy()[3] == examples[3]["image/encoded"][1][0]
    assert tf.io.decode_png(parsed["image/encoded"][0]).shape == (12, 10, 3)
    # ... and tfrec verify checks the files against it
    report = verify([path], VerifyOptions(schema=str(saved), level="decode", **QUIET))
    assert report.ok, report.problems


def test_foreign_counts_come_from_the_index_when_present(tmp_path):
    payloads = [encode_example({"x": i}) for i in range(25)]
    write_records(str(tmp_path / "with.tfrecord"), payloads)  # tfrec writes a .idx beside it
    write_records(str(tmp_path / "without.tfrecord"), payloads)
    os.remove(tmp_path / "without.tfrecord.idx")
    report = inspect([str(tmp_path)], InspectOptions(**QUIET))
    files = {os.path.basename(f["file"]): f for f in report.sections[0]["files"]}
    assert files["with.tfrecord"]["counted_by"] == "index" and files["without.tfrecord"]["counted_by"] == "scan"
    assert files["with.tfrecord"]["records"] == files["without.tfrecord"]["records"] == 25


def test_corrupt_foreign_file_is_reported(tmp_path):
    path = tmp_path / "bad.tfrecord"
    write_records(str(path), [encode_example({"x": i}) for i in range(10)])
    third = int(read_index(str(path) + ".idx")[3, 0])
    os.remove(str(path) + ".idx")
    data = bytearray(path.read_bytes())
    data[third + 14] ^= 0xFF  # inside record 3's data
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["inspect", str(path), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["record"], p["offset"], p["check"]) for p in problems] == [(3, third, "framing")]
