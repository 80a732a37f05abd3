"""The generated detection set: boxes that fit the drawn shapes exactly, a valid COCO layout, and the demo's
`--kind detection` converting and verifying it."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.cli.main import cli
from tfrec.demo import demo, synth_detection


@pytest.mark.parametrize("kind", synth_detection.CLASSES)
def test_each_box_is_the_drawn_shapes_extent(kind):
    rng = np.random.default_rng(3)
    for _ in range(5):
        box, poly = synth_detection._shape(rng, kind, 80, 60)
        img = Image.new("RGB", (80, 60))
        synth_detection._draw(img, kind, box, poly, (255, 255, 255))
        ys, xs = np.nonzero(np.asarray(img)[..., 0])
        assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box  # pixel edges, as COCO's bbox


def test_the_coco_layout_is_deterministic_and_complete(tmp_path):
    a = synth_detection.write_detection_coco(str(tmp_path / "a"), 12, 4, seed=1)
    b = synth_detection.write_detection_coco(str(tmp_path / "b"), 12, 4, seed=1)
    for split, n in (("train", 12), ("val", 4)):
        coco = json.load(open(os.path.join(a, "annotations", f"instances_{split}.json")))
        assert len(coco["images"]) == n and sorted(c["id"] for c in coco["categories"]) == [1, 3, 7]
        empty = [im for im in coco["images"] if not [x for x in coco["annotations"] if x["image_id"] == im["id"]]]
        assert len(empty) == n // synth_detection.EMPTY_EVERY  # every 10th image has no shapes
        for im in coco["images"]:
            path = os.path.join(a, split, im["file_name"])
            assert Image.open(path).size == (im["width"], im["height"])
            assert open(path, "rb").read() == open(os.path.join(b, split, im["file_name"]), "rb").read()


def test_detection_demo_converts_and_verifies(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_DETECTION", (12, 4))
    res = CliRunner().invoke(cli, ["demo", str(tmp_path / "d"), "--kind", "detection", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    converted = result["datasets"]["detection"]
    assert converted["task"] == "detection" and converted["label_names"] == ["square", "circle", "triangle"]
    assert {k: v["records"] for k, v in converted["splits"].items()} == {"train": 12, "val": 4}
    assert converted["annotations"]["boxes_dropped"] == 0 and result["verify"]["detection"]["ok"]
    assert (tmp_path / "d" / "datasets" / "detection" / "label_map.pbtxt").read_text().startswith(
        "item {\n  id: 1\n  name: 'square'\n}\n")
