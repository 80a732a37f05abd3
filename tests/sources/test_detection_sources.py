"""Detection layouts (COCO, VOC, YOLO, CSV) convert into records that the Object Detection API's decoding
spec parses, with equal per-object lists, boxes equal to the source's pixels / size, and labels that agree
with label_map.pbtxt."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from tests.sources import detection_fixtures as fx
from tfrec.errors import SourceError
from tfrec.sources import detect_format, read_source
from tfrec.sources.masks import decode_rle, rle_counts
from tfrec.write.convert import ConvertOptions, convert

tf = pytest.importorskip("tensorflow")

# The keys, dtypes and defaults of the Object Detection API's tf_example_decoder.TfExampleDecoder, written out
# literally (object_detection/data_decoders/tf_example_decoder.py), plus the optional VOC and mask keys.
OD_API_SPEC = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/format": tf.io.FixedLenFeature((), tf.string, default_value="jpeg"),
    "image/filename": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/key/sha256": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/source_id": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/height": tf.io.FixedLenFeature((), tf.int64, default_value=1),
    "image/width": tf.io.FixedLenFeature((), tf.int64, default_value=1),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/class/text": tf.io.VarLenFeature(tf.string),
    "image/object/area": tf.io.VarLenFeature(tf.float32),
    "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
    "image/object/difficult": tf.io.VarLenFeature(tf.int64),
    "image/object/group_of": tf.io.VarLenFeature(tf.int64),
    "image/object/weight": tf.io.VarLenFeature(tf.float32),
    "image/object/truncated": tf.io.VarLenFeature(tf.int64),
    "image/object/view": tf.io.VarLenFeature(tf.string),
    "image/object/mask": tf.io.VarLenFeature(tf.string),
}
PER_OBJECT = ["image/object/bbox/xmin", "image/object/bbox/xmax", "image/object/bbox/ymin", "image/object/bbox/ymax",
              "image/object/class/label", "image/object/class/text", "image/object/area", "image/object/is_crowd"]
WRITERS = {"coco": fx.write_coco, "voc": fx.write_voc, "yolo": fx.write_yolo, "csv": fx.write_csv}


def label_map(path: str) -> dict[int, str]:
    """label_map.pbtxt parsed by its documented format (item { id: N name: '...' }, one field a line)."""
    text = open(os.path.join(path, "label_map.pbtxt")).read()
    items = re.findall(r"item \{\n  id: (\d+)\n  name: '([^']*)'\n\}\n", text)
    assert "".join(f"item {{\n  id: {i}\n  name: '{n}'\n}}\n" for i, n in items) == text
    return {int(i): n for i, n in items}


def read_records(path: str):
    """A shard's records, read as a user would (tf.data.TFRecordDataset)."""
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


def parsed_records(out: str) -> list[dict]:
    manifest = json.load(open(os.path.join(out, "dataset.json")))
    records = []
    for entry in manifest["splits"].values():
        for shard in entry["shards"]:
            for rec in read_records(os.path.join(out, shard["file"])):
                ex = tf.io.parse_single_example(rec, OD_API_SPEC)
                records.append({k: (tf.sparse.to_dense(v) if isinstance(v, tf.sparse.SparseTensor) else v).numpy()
                                for k, v in ex.items()})
    return records


@pytest.fixture(params=sorted(WRITERS))
def converted(request, tmp_path):
    fmt = request.param
    src = WRITERS[fmt](tmp_path / fmt)
    out = str(tmp_path / "out")
    result = convert(src, out, ConvertOptions(progress=False, workers=1, shards=2))
    return fmt, out, result


def test_auto_detects_each_layout(tmp_path):
    for fmt, write in WRITERS.items():
        assert detect_format(write(tmp_path / fmt)) == fmt
    assert detect_format(str(tmp_path / "csv" / "train.csv")) == "csv"


def test_each_layout_parses_with_the_od_api_spec(converted):
    fmt, out, result = converted
    assert result["source"]["format"] == fmt and result["task"] == "detection"
    records = {r["image/filename"].decode(): r for r in parsed_records(out)}
    assert sorted(records) == sorted(s[0] for s in fx.SCENES)  # the image without objects is kept
    names = label_map(out)
    assert sorted(names.values()) == ["cat", "dog", "person"] and sorted(names) == [1, 2, 3]
    for name, w, h, objs in fx.SCENES:
        r = records[name]
        assert (r["image/width"], r["image/height"]) == (w, h) and r["image/format"] == b"jpeg"
        assert {len(r[k]) for k in PER_OBJECT} == {len(objs)}  # per-object lists of one length
        for i, (cls, x0, y0, x1, y1) in enumerate(objs):
            got = [r["image/object/bbox/" + k][i] for k in ("xmin", "ymin", "xmax", "ymax")]
            want = np.float32([x0 / w, y0 / h, x1 / w, y1 / h])
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-7)  # float32 rounding (YOLO: via cx, w)
            assert names[int(r["image/object/class/label"][i])] == cls == r["image/object/class/text"][i].decode()


def test_records_carry_the_sha256_of_the_stored_image(converted):
    import hashlib

    _, out, _ = converted
    for r in parsed_records(out):
        assert r["image/key/sha256"].decode() == hashlib.sha256(r["image/encoded"]).hexdigest()


def test_coco_round_trip_back_to_pixels(tmp_path):
    src = fx.write_coco(tmp_path / "coco")
    out = str(tmp_path / "out")
    result = convert(src, out, ConvertOptions(progress=False, workers=1))
    assert list(result["splits"]) == ["val"]  # instances_val2017.json -> split 'val'
    coco = json.load(open(os.path.join(src, "annotations", "instances_val2017.json")))
    by_id = {str(im["id"]): im for im in coco["images"]}
    for r in parsed_records(out):
        im = by_id[r["image/source_id"].decode()]
        mine = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        w, h = im["width"], im["height"]
        for i, a in enumerate(mine):
            x0, y0 = r["image/object/bbox/xmin"][i] * w, r["image/object/bbox/ymin"][i] * h
            x1, y1 = r["image/object/bbox/xmax"][i] * w, r["image/object/bbox/ymax"][i] * h
            np.testing.assert_allclose([x0, y0, x1 - x0, y1 - y0], a["bbox"], rtol=0, atol=1e-5 * max(w, h))
            assert r["image/object/area"][i] == np.float32(a["area"])


def test_coco_ids_with_gaps_become_contiguous_1_based_labels(tmp_path):
    out = str(tmp_path / "out")
    result = convert(fx.write_coco(tmp_path / "coco"), out, ConvertOptions(progress=False, workers=1))
    assert label_map(out) == {1: "dog", 2: "cat", 3: "person"}  # COCO ids 3, 7, 18 in id order
    assert result["label_names"] == ["dog", "cat", "person"]
    assert any("with gaps" in n for n in result["notes"])


def test_voc_difficult_truncated_and_pose(tmp_path):
    out = str(tmp_path / "out")
    result = convert(fx.write_voc(tmp_path / "voc"), out, ConvertOptions(progress=False, workers=1))
    assert {k: v["records"] for k, v in result["splits"].items()} == {"train": 3, "val": 1}
    r = {x["image/filename"].decode(): x for x in parsed_records(out)}["d.jpg"]
    assert r["image/object/difficult"].tolist() == [0, 0, 1]  # the person is marked difficult: kept, flagged
    assert r["image/object/truncated"].tolist() == [0, 1, 0]
    assert r["image/object/view"].tolist() == [b"Frontal", b"Left", b"Left"]


@pytest.mark.parametrize("names_as", ["list", "mapping", "classes.txt"])
def test_yolo_names_from_data_yaml_or_classes_txt(tmp_path, names_as):
    source = read_source(fx.write_yolo(tmp_path / "y", names_as=names_as), "yolo")
    assert source.class_names == ("cat", "dog", "person")


def test_yolo_without_names_is_an_error(tmp_path):
    src = fx.write_yolo(tmp_path / "y")
    os.remove(os.path.join(src, "data.yaml"))
    with pytest.raises(SourceError, match="no class names: expected data.yaml"):
        read_source(src, "yolo")


def test_coco_without_its_image_folder_is_an_error(tmp_path):
    src = fx.write_coco(tmp_path / "coco")
    os.rename(os.path.join(src, "val2017"), os.path.join(src, "images"))
    with pytest.raises(SourceError, match=r"val2017: no such image folder for split 'val'"):
        read_source(src, "coco")


def test_multi_label_csv(tmp_path):
    out = str(tmp_path / "out")
    result = convert(fx.write_label_csv(tmp_path / "m", multi=True), out, ConvertOptions(progress=False, workers=1))
    assert result["task"] == "multi_label" and result["schema"]["name"] == "multi_label"
    names = result["label_names"]
    spec = {"image/class/label": tf.io.VarLenFeature(tf.int64), "image/class/text": tf.io.VarLenFeature(tf.string),
            "image/filename": tf.io.FixedLenFeature((), tf.string)}
    for shard in result["splits"]["train"]["shards"]:
        for rec in read_records(os.path.join(out, shard["file"])):
            ex = tf.io.parse_single_example(rec, spec)
            ids = tf.sparse.to_dense(ex["image/class/label"]).numpy().tolist()
            texts = [t.decode() for t in tf.sparse.to_dense(ex["image/class/text"]).numpy()]
            assert [names[i] for i in ids] == texts  # 0-based ids into label_names
            scene = next(s for s in fx.SCENES if s[0] == ex["image/filename"].numpy().decode())
            assert texts == (sorted({c for c, *_ in scene[3]}) or ["none"])
    assert label_map(out) == {i + 1: n for i, n in enumerate(names)}


def test_single_label_csv_is_an_ordinary_classification_dataset(tmp_path):
    result = convert(fx.write_label_csv(tmp_path / "s", multi=False), str(tmp_path / "out"),
                     ConvertOptions(progress=False, workers=1))
    assert result["schema"]["name"] == "imagefolder" and "task" not in result
    assert result["label_names"] == ["cat", "none", "person"]


def test_instance_masks_from_polygons(tmp_path):
    out = str(tmp_path / "out")
    src = fx.write_coco(tmp_path / "coco", segmentation=True)
    convert(src, out, ConvertOptions(progress=False, workers=1, schema="instance_segmentation"))
    for r in parsed_records(out):
        masks = r["image/object/mask"]
        assert len(masks) == len(r["image/object/bbox/xmin"])
        for i, png in enumerate(masks):
            m = tf.io.decode_png(png).numpy()[..., 0]
            assert m.shape == (r["image/height"], r["image/width"]) and set(np.unique(m)) <= {0, 1}
            ys, xs = np.nonzero(m)  # the rectangle polygon fills its box
            assert xs.min() == int(r["image/object/bbox/xmin"][i] * r["image/width"] + 1e-4)
            assert ys.max() <= int(np.ceil(r["image/object/bbox/ymax"][i] * r["image/height"]))


def _rle_string(counts: list[int]) -> str:
    """maskApi.c rleToString, the inverse of what is tested."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def test_rle_decodes_counts_and_compressed_strings():
    rng = np.random.default_rng(0)
    mask = (rng.random((7, 9)) > 0.6).astype(np.uint8)
    flat = mask.T.reshape(-1)  # column-major, as COCO
    changes = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    assert np.array_equal(decode_rle({"size": [7, 9], "counts": counts}, 7, 9), mask)
    assert rle_counts(_rle_string(counts)) == counts
    assert np.array_equal(decode_rle({"size": [7, 9], "counts": _rle_string(counts)}, 7, 9), mask)
    with pytest.raises(SourceError, match="RLE runs cover 62 pixels; the image has 63"):
        decode_rle({"counts": counts[:-1] + [counts[-1] - 1]}, 7, 9)


def test_semantic_class_mask(tmp_path):
    out = str(tmp_path / "out")
    src = fx.write_coco(tmp_path / "coco", segmentation=True)
    result = convert(src, out, ConvertOptions(progress=False, workers=1, schema="semantic_segmentation"))
    assert result["task"] == "semantic_segmentation"
    spec = {"image/segmentation/class/encoded": tf.io.FixedLenFeature((), tf.string),
            "image/filename": tf.io.FixedLenFeature((), tf.string)}
    labels = {n: i for i, n in label_map(out).items()}
    for shard in result["splits"]["val"]["shards"]:
        for rec in read_records(os.path.join(out, shard["file"])):
            ex = tf.io.parse_single_example(rec, spec)
            m = tf.io.decode_png(ex["image/segmentation/class/encoded"]).numpy()[..., 0]
            scene = next(s for s in fx.SCENES if s[0] == ex["image/filename"].numpy().decode())
            assert m.shape == (scene[2], scene[1])
            assert set(np.unique(m)) <= {0} | {labels[c] for c, *_ in scene[3]}
            if scene[0] == "b.jpg":
                assert (m == labels["person"]).all()  # one object covering the whole image


@pytest.mark.parametrize("schema_name", ["detection", "instance_segmentation", "semantic_segmentation", "multi_label"])
def test_the_column_encoder_gives_the_schema_encoders_bytes(schema_name):
    from tfrec.codec.schema import load_schema
    from tfrec.sources.object_example import encode_object_example

    schema = load_schema(schema_name)
    rng = np.random.default_rng(1)
    for n in (0, 1, 7):
        sample = {f.name: (b"\xff\xd8x" if f.kind == "image" else
                           rng.random(n).astype(np.float32) if f.storage == "float" and f.shape else
                           [int(v) for v in rng.integers(-3, 300, n)] if f.storage == "int64" and f.shape else
                           [f"t{i}" for i in range(n)] if f.storage == "bytes" and f.shape else
                           1234 if f.storage == "int64" else "s\u00e9" if f.storage == "bytes" else 0.5)
                  for f in schema.features}
        assert encode_object_example(schema, sample) == schema.encode(sample)


def test_headers_read_without_pillow_agree_with_pillow(tmp_path):
    import io

    from PIL import Image

    from tfrec.sources.image_header import jpeg_header, png_header

    for orientation in (None, 1, 3, 6, 8):
        data = fx.jpeg(37, 21, exif_orientation=orientation)
        img = Image.open(io.BytesIO(data))
        assert jpeg_header(data) == (37, 21, 3, img.getexif().get(0x0112, 1))
    buf = io.BytesIO()
    Image.new("L", (5, 9)).save(buf, "JPEG", progressive=True)
    assert jpeg_header(buf.getvalue()) == (5, 9, 1, 1)
    buf = io.BytesIO()
    Image.new("RGB", (13, 4)).save(buf, "PNG")
    assert png_header(buf.getvalue()) == (13, 4, 8, 2)
    assert jpeg_header(b"\xff\xd8\xff\xe0\x00") is None and png_header(b"GIF89a") is None
