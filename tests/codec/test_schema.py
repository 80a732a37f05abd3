"""Schemas: the built-ins load, a bad field is named, and one schema drives encoder and parser."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tfrec.errors import SchemaError
from tfrec.codec.example import decode_example
from tfrec.codec.schema import builtin_schemas, load_schema, schema_from_json


def test_builtin_schemas_load_and_round_trip_json():
    classification = ["arrays", "cifar10", "cifar100", "imagefolder", "mnist", "parquet"]
    objects = ["detection", "instance_segmentation", "multi_label", "semantic_segmentation"]
    assert builtin_schemas() == sorted(classification + objects)
    for name in builtin_schemas():
        s = load_schema(name)
        assert schema_from_json(s.to_json()) == s
        assert s.image is not None
        assert (s.label is not None) == (name in classification), name


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d["features"]["image"].update(encoding="gif2"), r"features\.image\.encoding: expected one of raw, png, jpeg, encoded, found 'gif2'"),
        (lambda d: d["features"]["image"].update(shape=[28, 28]), r"features\.image\.shape"),
        (lambda d: d["features"]["label"].update(kind="label"), r"features\.label\.kind"),
        (lambda d: d["features"]["label"].update(num_classes=0), r"features\.label\.num_classes"),
        (lambda d: d["features"]["label"].update(names=["a"]), r"features\.label\.names: expected 10 names"),
        (lambda d: d["features"]["label"].update(colour="red"), r"features\.label\.colour"),
        (lambda d: d.pop("name"), r"name: expected a non-empty string"),
    ],
)
def test_malformed_schema_names_the_field(tmp_path, edit, match):
    d = load_schema("mnist").to_json()
    edit(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(SchemaError, match=match) as err:
        load_schema(str(path))
    assert str(path) in str(err.value)


def test_bad_json_and_unknown_name(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{nope")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema(str(path))
    with pytest.raises(SchemaError, match="built-in schemas: arrays, cifar10, cifar100, detection, imagefolder, instance_segmentation, mnist, "
                       "multi_label, parquet, semantic_segmentation"):
        load_schema("imagenet")


def test_encoder_and_parse_spec_agree():
    tf = pytest.importorskip("tensorflow")
    schema = load_schema("cifar100")
    image = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    data = schema.encode({"image": image, "label": 42, "coarse_label": 8})
    parsed = tf.io.parse_single_example(data, schema.parse_spec())
    got = tf.reshape(tf.io.decode_raw(parsed["image"], tf.uint8), (32, 32, 3)).numpy()
    assert (got == image).all() and int(parsed["label"]) == 42 and int(parsed["coarse_label"]) == 8
    assert decode_example(data)["label"] == ("int64", [42])


def test_encode_checks_the_sample():
    schema = load_schema("mnist")
    with pytest.raises(SchemaError, match="no feature 'label'"):
        schema.encode({"image": b"\0" * 784})
    with pytest.raises(SchemaError, match="expected 1 values, found 2"):
        schema.encode({"image": b"\0" * 784, "label": [1, 2]})
