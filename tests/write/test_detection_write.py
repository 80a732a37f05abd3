"""Writing detection layouts: every clipped or dropped box counted by reason and listed by file (dataset.json,
summary, --json), EXIF-rotated images stored upright, size disagreements reported, label_map.pbtxt before
dataset.json, and shards byte-identical across --workers."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.sources import detection_fixtures as fx
from tfrec.cli.main import cli
from tfrec.sources.objects import DEGENERATE, NO_BOX, NON_FINITE, OUTSIDE, check_box
from tfrec.write.convert import ConvertOptions, convert

tf = pytest.importorskip("tensorflow")

BOX_KEYS = ["image/object/bbox/xmin", "image/object/bbox/ymin", "image/object/bbox/xmax", "image/object/bbox/ymax"]
SPEC = {**{k: tf.io.VarLenFeature(tf.float32) for k in BOX_KEYS},
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
        "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
        "image/filename": tf.io.FixedLenFeature((), tf.string),
        "image/encoded": tf.io.FixedLenFeature((), tf.string),
        "image/width": tf.io.FixedLenFeature((), tf.int64), "image/height": tf.io.FixedLenFeature((), tf.int64)}


def records(out: str) -> dict[str, dict]:
    manifest = json.load(open(os.path.join(out, "dataset.json")))
    found = {}
    for entry in manifest["splits"].values():
        for shard in entry["shards"]:
            for rec in tf.data.TFRecordDataset(os.path.join(out, shard["file"])):
                ex = tf.io.parse_single_example(rec, SPEC)
                r = {k: (tf.sparse.to_dense(v) if isinstance(v, tf.sparse.SparseTensor) else v).numpy()
                     for k, v in ex.items()}
                found[r["image/filename"].decode()] = r
    return found


def test_the_box_rule():
    assert check_box((1, 2, 30, 20), 40, 30) == ((1, 2, 30, 20), "")
    assert check_box((-0.5, 0, 40.7, 30), 40, 30) == ((0, 0, 40, 30), "clipped")  # 0.5 and 0.7 px: <= 2% of 40
    assert check_box((-1, 0, 10, 10), 40, 30)[1] == OUTSIDE  # 1 px of 40 is 2.5%
    assert check_box((5, 5, 5, 20), 40, 30)[1] == DEGENERATE
    assert check_box((9, 5, 3, 20), 40, 30)[1] == DEGENERATE
    assert check_box((40.5, 5, 40.7, 20), 40, 30)[1] == DEGENERATE  # inside the margin, nothing left after clipping
    assert check_box((float("nan"), 5, 3, 20), 40, 30)[1] == NON_FINITE


def _bad_annotations() -> list[dict]:
    """One of each: a small overhang (clipped), far outside, zero width, no bbox, unknown category, crowd."""
    a = lambda i, bbox, **kw: {"id": 1000 + i, "image_id": 101, "category_id": 3, "bbox": bbox, "iscrowd": 0, **kw}
    return [a(0, [-0.4, 1, 10, 10]), a(1, [20, 5, 40, 10]), a(2, [4, 4, 0, 10]), a(3, None),
            a(4, [1, 1, 5, 5], category_id=99), a(5, [2, 2, 20, 20], iscrowd=1)]


@pytest.fixture
def damaged(tmp_path):
    src = fx.write_coco(tmp_path / "coco", extra_annotations=_bad_annotations())
    out = str(tmp_path / "out")
    return src, out, convert(src, out, ConvertOptions(progress=False, workers=1))


def test_every_clip_and_drop_is_counted_by_reason_and_listed(damaged):
    _, out, result = damaged
    a = result["annotations"]
    assert a["boxes_clipped"] == 1 and a["boxes_dropped"] == 4
    assert a["dropped_by_reason"] == {OUTSIDE: 1, DEGENERATE: 1, NO_BOX: 1, "unknown category id 99": 1}
    assert json.load(open(os.path.join(out, "dataset.json")))["annotations"] == a
    events = {(e["event"], e["reason"]) for e in a["events"]}
    assert ("clipped", "overhang clipped to the image") in events and ("dropped", OUTSIDE) in events
    assert all(e["path"] == os.path.join("val2017", "b.jpg") for e in a["events"])
    assert result["skipped"] == []  # the image itself is kept: no file skipped
    r = records(out)["b.jpg"]
    # the person, then kept: the clipped box and the crowd box (flagged, never dropped)
    assert len(r["image/object/bbox/xmin"]) == 3 and r["image/object/is_crowd"].tolist() == [0, 0, 1]
    assert r["image/object/bbox/xmin"][1] == 0.0  # clipped at the left edge
    assert {len(r[k]) for k in BOX_KEYS + ["image/object/class/label", "image/object/is_crowd"]} == {3}


def test_the_summary_and_json_name_every_reason(tmp_path):
    src = fx.write_coco(tmp_path / "coco", extra_annotations=_bad_annotations())
    res = CliRunner().invoke(cli, ["convert", src, str(tmp_path / "o1"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "task detection: 3 classes in label_map.pbtxt (ids 1..3)" in res.output
    assert "1 box clipped to the image:" in res.output
    assert f"4 boxes dropped ({DEGENERATE}: 1, {NO_BOX}: 1, {OUTSIDE}: 1, unknown category id 99: 1):" in res.output
    assert f"val2017/b.jpg object 2: {OUTSIDE}" in res.output
    res = CliRunner().invoke(cli, ["convert", src, str(tmp_path / "o2"), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["annotations"]["boxes_dropped"] == 4


def test_on_error_fail_is_not_tripped_by_a_clipped_box(tmp_path):
    src = fx.write_coco(tmp_path / "coco", extra_annotations=_bad_annotations()[:1])
    result = convert(src, str(tmp_path / "out"), ConvertOptions(progress=False, workers=1, on_error="fail"))
    assert result["annotations"]["boxes_clipped"] == 1


def test_label_map_is_written_and_cleared_with_the_dataset(tmp_path):
    src = fx.write_voc(tmp_path / "voc")
    out = tmp_path / "out"
    convert(src, str(out), ConvertOptions(progress=False, workers=1))
    lm = out / "label_map.pbtxt"
    assert lm.stat().st_mtime_ns <= (out / "dataset.json").stat().st_mtime_ns  # before dataset.json
    assert lm.read_text().startswith("item {\n  id: 1\n  name: 'cat'\n}\n")
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["task"] == "detection" and manifest["label_map"] == "label_map.pbtxt"
    # a classification conversion over it with --overwrite leaves no stale label map
    fx.write_label_csv(tmp_path / "single", multi=False)
    convert(str(tmp_path / "single"), str(out), ConvertOptions(progress=False, workers=1, overwrite=True))
    assert not lm.exists()


def test_exif_rotated_jpeg_is_stored_upright_with_its_boxes(tmp_path):
    # Stored 40x30 with orientation 6 (rotate 90 clockwise to view): displayed 30x40, where the box was drawn.
    scenes = [("r.jpg", 30, 40, [("cat", 3.0, 20.0, 15.0, 38.0)]), ("s.jpg", 20, 20, [])]
    src = fx.write_coco(tmp_path / "coco", scenes=scenes)
    with open(os.path.join(src, "val2017", "r.jpg"), "wb") as f:
        f.write(fx.jpeg(40, 30, seed=5, exif_orientation=6))
    out = str(tmp_path / "out")
    result = convert(src, out, ConvertOptions(progress=False, workers=1))
    a = result["annotations"]
    assert a["images_rotated"] == 1 and a["size_disagreements"] == 0 and a["boxes_dropped"] == 0
    assert [e["path"] for e in a["events"] if e["event"] == "rotated"] == [os.path.join("val2017", "r.jpg")]
    r = records(out)["r.jpg"]
    img = tf.io.decode_jpeg(r["image/encoded"]).numpy()
    assert img.shape == (40, 30, 3) and (r["image/width"], r["image/height"]) == (30, 40)
    assert Image.open(io.BytesIO(r["image/encoded"])).getexif().get(0x0112, 1) == 1  # no orientation left to apply
    np.testing.assert_allclose([r[k][0] for k in BOX_KEYS], np.float32([3 / 30, 20 / 40, 15 / 30, 38 / 40]), atol=2e-7)
    res = CliRunner().invoke(cli, ["convert", src, str(tmp_path / "o2"), "--quiet"])
    assert "1 image stored upright (EXIF orientation):" in res.output and "r.jpg: EXIF orientation 6" in res.output


def test_annotated_size_that_disagrees_is_reported_and_boxes_use_the_decoded_size(tmp_path):
    scenes = [("a.jpg", 40, 30, [("cat", 2.0, 3.0, 20.0, 25.0)])]
    src = fx.write_coco(tmp_path / "coco", scenes=scenes)
    path = os.path.join(src, "annotations", "instances_val2017.json")
    coco = json.load(open(path))
    coco["images"][0].update(width=80, height=60)
    json.dump(coco, open(path, "w"))
    out = str(tmp_path / "out")
    result = convert(src, out, ConvertOptions(progress=False, workers=1))
    a = result["annotations"]
    assert a["size_disagreements"] == 1
    assert "annotated size 80x60 differs from the decoded 40x30" in a["events"][0]["reason"]
    r = records(out)["a.jpg"]
    np.testing.assert_allclose([r[k][0] for k in BOX_KEYS], np.float32([2 / 40, 3 / 30, 20 / 40, 25 / 30]), atol=2e-7)


@pytest.mark.parametrize("write", [fx.write_coco, fx.write_yolo])
def test_shards_are_byte_identical_across_workers(tmp_path, write):
    src = write(tmp_path / "src", extra_annotations=_bad_annotations()) if write is fx.write_coco else write(tmp_path / "src")
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        result = convert(src, str(out), ConvertOptions(progress=False, workers=workers, shards=2))
        outs.append((out, result))
    (o1, r1), (o2, r2) = outs
    files = sorted(p.name for p in o1.iterdir() if ".tfrecord-" in p.name or p.name == "label_map.pbtxt")
    assert len(files) >= 3
    for name in files:
        assert (o1 / name).read_bytes() == (o2 / name).read_bytes(), name
    assert r1["annotations"] == r2["annotations"]


def test_yolo_class_ids_out_of_range_and_bad_lines_are_dropped_and_named(tmp_path):
    src = fx.write_yolo(tmp_path / "y")
    with open(os.path.join(src, "labels", "train", "a.txt"), "a") as f:
        f.write("7 0.5 0.5 0.1 0.1\nnot a line\n0 0.5 0.5\n")
    result = convert(src, str(tmp_path / "out"), ConvertOptions(progress=False, workers=1))
    a = result["annotations"]
    assert a["dropped_by_reason"] == {"class id 7 not in the 3 names (0..2)": 1,
                                      "unreadable label line (expected: class cx cy w h)": 1,
                                      "2 numbers after the class id (expected 4)": 1}
    assert {e["path"] for e in a["events"]} == {os.path.join("images", "train", "a.jpg")}
    assert len(records(str(tmp_path / "out"))["a.jpg"]["image/object/bbox/xmin"]) == 2  # its two good boxes


def test_an_unreadable_image_is_a_skipped_file_and_the_rest_convert(tmp_path):
    src = fx.write_voc(tmp_path / "voc")
    with open(os.path.join(src, "JPEGImages", "b.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")
    os.remove(os.path.join(src, "JPEGImages", "c.jpg"))
    result = convert(src, str(tmp_path / "out"), ConvertOptions(progress=False, workers=1))
    reasons = {s["path"]: s["reason"] for s in result["skipped"]}
    assert set(reasons) == {os.path.join("JPEGImages", "b.jpg"), os.path.join("JPEGImages", "c.jpg")}
    assert "cannot be read" in reasons[os.path.join("JPEGImages", "c.jpg")]
    assert sorted(records(str(tmp_path / "out"))) == ["a.jpg", "d.jpg"]
    with pytest.raises(Exception, match="b.jpg|c.jpg"):
        convert(src, str(tmp_path / "out2"), ConvertOptions(progress=False, workers=1, on_error="fail"))


def test_roboflow_csv_split_folders(tmp_path):
    for split in ("train", "valid"):
        fx.write_csv(tmp_path / "rf" / split)
        os.rename(tmp_path / "rf" / split / "train.csv", tmp_path / "rf" / split / "_annotations.csv")
    result = convert(str(tmp_path / "rf"), str(tmp_path / "out"), ConvertOptions(progress=False, workers=1))
    assert result["source"]["format"] == "csv" and sorted(result["splits"]) == ["train", "val"]
