"""access/detection: boxes and masks moved with NumPy as the pixels move (no TensorFlow), padded batches."""
from __future__ import annotations

import numpy as np
import pytest

from tfrec.access.detection import DetectionAugment, crop_boxes, flip_boxes, pad_objects
from tfrec.check import objects_of
from tfrec.codec.example import decode_example
from tfrec.errors import TfrecError
from tfrec.io.records import iter_records

from ..detection_records import H, W, check_colours, scenes


@pytest.mark.parametrize("fmt, scale, preset, size, fit", [
    ("png", 1, "imagenet", (64, 64), "stretch"),
    ("jpeg", 5, "imagenet", (32, 32), "stretch"),  # windows decoded at a DCT scale
    ("png", 1, "none", (48, 80), "crop"),
    ("png", 1, "none", (80, 80), "pad"),
    ("jpeg", 1, "none", (H, W), "stretch"),
])
def test_boxes_and_masks_move_with_the_pixels(tmp_path, fmt, scale, preset, size, fit):
    path = scenes(tmp_path, 12, fmt, scale)
    augment = DetectionAugment(preset, size, fit, masks=True)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(3):
        samples = []
        for r in iter_records(path):
            ex = decode_example(r.data)
            samples.append(augment(bytes(ex["image/encoded"][1][0]), objects_of(ex), rng))
        batch = pad_objects([s["boxes"] for s in samples], [s["classes"] for s in samples],
                            masks=[s["masks"] for s in samples])
        images = np.stack([s["image"] for s in samples])
        assert images.shape == (12, *size, 3) and batch["masks"].shape[2:] == size
        checked += check_colours(images, batch, masks=True)
    assert checked > 10


def test_crop_rule_and_flip():
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.3, 0.5, 0.7], [0.0, 0.44, 0.5, 0.64], [0.0, 0.46, 0.5, 0.66],
                      [0.6, 0.6, 0.9, 0.9]], np.float32)
    moved, keep = crop_boxes(boxes, (0, 0, 100, 50), (100, 100), 0.25)
    assert keep.tolist() == [True, True, True, False, False]
    np.testing.assert_allclose(moved[:3], [[0, 0, 0.5, 1], [0, 0.6, 0.5, 1], [0, 0.88, 0.5, 1]], atol=1e-6)
    np.testing.assert_allclose(flip_boxes(boxes[:1] * [1, 0.5, 1, 0.5]), [[0, 0.75, 0.5, 1]], atol=1e-6)


def test_pad_objects_pads_and_cuts():
    boxes = [np.full((3, 4), 0.5, np.float32), np.zeros((0, 4), np.float32), np.full((1, 4), 0.25, np.float32)]
    classes = [np.array([1, 2, 3]), np.array([], np.int64), np.array([2])]
    out = pad_objects(boxes, classes)
    assert out["boxes"].shape == (3, 3, 4) and out["num_boxes"].tolist() == [3, 0, 1]
    assert out["classes"].tolist() == [[1, 2, 3], [0, 0, 0], [2, 0, 0]]
    out = pad_objects(boxes, classes, max_boxes=2)
    assert out["classes"].tolist() == [[1, 2], [0, 0], [2, 0]] and out["num_boxes"].tolist() == [2, 0, 1]


def test_presets_that_do_not_move_boxes_are_refused():
    with pytest.raises(TfrecError, match=r"'cifar'.*none, imagenet"):
        DetectionAugment("cifar", (32, 32))
    with pytest.raises(TfrecError, match=r"image_size"):
        DetectionAugment("none")
