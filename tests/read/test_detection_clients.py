"""Proof against real clients: the Object Detection API's decoding rules agree with our reader; records written the
way create_coco_tf_record.py writes them (tf.train.Example, tf.io.TFRecordWriter) pass verify and make_dataset."""
from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

from tfrec.check.verify import VerifyOptions, verify
from tfrec.read.pipeline import make_dataset

from ..detection_records import H, W, NAMES, label_map_text, scene, scenes

# object_detection/data_decoders/tf_example_decoder.py, TfExampleDecoder.__init__: keys_to_features, as written
# there (the optional keys it adds for instance masks, keypoints and DensePose left out but the PNG masks).
KEYS_TO_FEATURES = {
    'image/encoded': tf.io.FixedLenFeature((), tf.string, default_value=''),
    'image/format': tf.io.FixedLenFeature((), tf.string, default_value='jpeg'),
    'image/filename': tf.io.FixedLenFeature((), tf.string, default_value=''),
    'image/key/sha256': tf.io.FixedLenFeature((), tf.string, default_value=''),
    'image/source_id': tf.io.FixedLenFeature((), tf.string, default_value=''),
    'image/height': tf.io.FixedLenFeature((), tf.int64, default_value=1),
    'image/width': tf.io.FixedLenFeature((), tf.int64, default_value=1),
    # Image-level labels.
    'image/class/text': tf.io.VarLenFeature(tf.string),
    'image/class/label': tf.io.VarLenFeature(tf.int64),
    'image/neg_category_ids': tf.io.VarLenFeature(tf.int64),
    'image/not_exhaustive_category_ids': tf.io.VarLenFeature(tf.int64),
    'image/class/confidence': tf.io.VarLenFeature(tf.float32),
    # Object boxes and classes.
    'image/object/bbox/xmin': tf.io.VarLenFeature(tf.float32),
    'image/object/bbox/xmax': tf.io.VarLenFeature(tf.float32),
    'image/object/bbox/ymin': tf.io.VarLenFeature(tf.float32),
    'image/object/bbox/ymax': tf.io.VarLenFeature(tf.float32),
    'image/object/class/label': tf.io.VarLenFeature(tf.int64),
    'image/object/class/text': tf.io.VarLenFeature(tf.string),
    'image/object/area': tf.io.VarLenFeature(tf.float32),
    'image/object/is_crowd': tf.io.VarLenFeature(tf.int64),
    'image/object/difficult': tf.io.VarLenFeature(tf.int64),
    'image/object/group_of': tf.io.VarLenFeature(tf.int64),
    'image/object/weight': tf.io.VarLenFeature(tf.float32),
    # load_instance_masks with instance_mask_type=PNG_MASKS
    'image/object/mask': tf.io.VarLenFeature(tf.string),
}


def od_api_decode(serialized: bytes) -> dict:
    """What TfExampleDecoder hands a model: boxes from BoundingBox(['ymin', 'xmin', 'ymax', 'xmax']), classes,
    the JPEG/PNG decoded (3 channels), PNG masks decoded (and squeezed), zero masks where none."""
    f = tf.io.parse_single_example(serialized, KEYS_TO_FEATURES)
    dense = {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v for k, v in f.items()}
    boxes = tf.stack([dense[f'image/object/bbox/{k}'] for k in ('ymin', 'xmin', 'ymax', 'xmax')], axis=1)
    image = tf.image.decode_image(dense['image/encoded'], channels=3, expand_animations=False)
    masks = tf.map_fn(lambda m: tf.squeeze(tf.image.decode_image(m, channels=1), axis=2),
                      dense['image/object/mask'], fn_output_signature=tf.uint8) \
        if dense['image/object/mask'].shape[0] else tf.zeros([0, H, W], tf.uint8)
    return {"image": image.numpy(), "boxes": boxes.numpy(), "classes": dense['image/object/class/label'].numpy(),
            "masks": masks.numpy(), "height": int(dense['image/height']), "width": int(dense['image/width'])}


def test_reader_gives_what_the_od_api_decoder_gives(tmp_path):
    for fmt in ("png", "jpeg"):
        path = scenes(tmp_path, 9, fmt)
        ds = make_dataset(path, task="detection", image_size=(H, W), batch_size=9, shuffle=False, dtype="uint8",
                          instance_masks=True)
        images, targets = next(iter(ds))
        serialized = [r.numpy() for r in tf.data.TFRecordDataset(path)]
        assert len(serialized) == 9
        for i, record in enumerate(serialized):
            want = od_api_decode(record)
            n = int(targets["num_boxes"][i])
            assert n == len(want["boxes"]) and (want["height"], want["width"]) == (H, W)
            np.testing.assert_array_equal(targets["boxes"][i, :n].numpy(), want["boxes"])  # bit for bit
            np.testing.assert_array_equal(targets["classes"][i, :n].numpy(), want["classes"])
            np.testing.assert_array_equal(targets["masks"][i, :n].numpy(), want["masks"])
            # the reader's JPEG decode is TensorFlow's (same size: no resampling)
            np.testing.assert_array_equal(images[i].numpy(), want["image"])


# ---------------------------------------------------------------- create_coco_tf_record.py's layout


def _bytes(v): return tf.train.Feature(bytes_list=tf.train.BytesList(value=v if isinstance(v, list) else [v]))  # noqa: E704
def _ints(v): return tf.train.Feature(int64_list=tf.train.Int64List(value=v if isinstance(v, list) else [v]))  # noqa: E704
def _floats(v): return tf.train.Feature(float_list=tf.train.FloatList(value=v))  # noqa: E704


def coco_example(image_id: int, encoded: bytes, boxes_px: list, category_ids: list, crowd: list) -> tf.train.Example:
    """create_tf_example of create_coco_tf_record.py: pixel [x, y, w, h] boxes divided by the image size."""
    xmin, xmax, ymin, ymax, names, areas = [], [], [], [], [], []
    for (x, y, w, h), c in zip(boxes_px, category_ids):
        xmin.append(float(x) / W)
        xmax.append(float(x + w) / W)
        ymin.append(float(y) / H)
        ymax.append(float(y + h) / H)
        names.append(NAMES[c - 1].encode("utf8"))
        areas.append(float(w * h))
    feature = {
        'image/height': _ints(H), 'image/width': _ints(W),
        'image/filename': _bytes(f"{image_id:012d}.jpg".encode("utf8")),
        'image/source_id': _bytes(str(image_id).encode("utf8")),
        'image/key/sha256': _bytes(hashlib.sha256(encoded).hexdigest().encode("utf8")),
        'image/encoded': _bytes(encoded), 'image/format': _bytes(b"jpeg"),
        'image/object/bbox/xmin': _floats(xmin), 'image/object/bbox/xmax': _floats(xmax),
        'image/object/bbox/ymin': _floats(ymin), 'image/object/bbox/ymax': _floats(ymax),
        'image/object/class/text': _bytes(names), 'image/object/class/label': _ints(list(category_ids)),
        'image/object/is_crowd': _ints(list(crowd)), 'image/object/area': _floats(areas),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def test_create_coco_tf_record_layout_passes_verify_and_reads(tmp_path):
    out = tmp_path / "coco"
    out.mkdir()
    path = str(out / "coco_train.record-00000-of-00001")
    expected = []
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(10):
            encoded, boxes, labels, _ = scene(i, "jpeg")
            px = [(round(b[1] * W), round(b[0] * H), round((b[3] - b[1]) * W), round((b[2] - b[0]) * H)) for b in boxes]
            writer.write(coco_example(i, encoded, px, labels, [i % 2] * len(labels)).SerializeToString())
            expected.append((px, labels))
    (out / "label_map.pbtxt").write_text(label_map_text())
    report = verify([path], VerifyOptions(progress=False, workers=1))
    assert report.ok, [str(p) for p in report.problems]
    assert any("Object Detection API" in n for n in report.notes)
    _, targets = next(iter(make_dataset(path, task="detection", image_size=(H, W), batch_size=10, shuffle=False)))
    for i, (px, labels) in enumerate(expected):
        n = int(targets["num_boxes"][i])
        assert targets["classes"][i, :n].numpy().tolist() == labels
        back = targets["boxes"][i, :n].numpy() * [H, W, H, W]  # boxes back in pixels: the source's within float32
        want = [(y, x, y + h, x + w) for x, y, w, h in px]
        np.testing.assert_allclose(back, np.array(want, np.float32).reshape(-1, 4), rtol=1e-6, atol=1e-4)
