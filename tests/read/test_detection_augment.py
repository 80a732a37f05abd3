"""make_dataset(task='detection') augmentation: boxes and masks move with the pixels (crop, flip, fit), flips mirror."""
from __future__ import annotations

import numpy as np
import pytest

from tfrec.read.augment import RandomFlip, RandomResizedCrop
from tfrec.read.pipeline import make_dataset

from ..detection_records import H, W, check_colours, scenes


@pytest.mark.parametrize("fmt, scale, augment, size, fit", [
    ("jpeg", 1, "imagenet", None, "stretch"),
    ("png", 1, [RandomResizedCrop(64, 64, scale=(0.2, 1.0)), RandomFlip(horizontal=True, vertical=True)], None,
     "stretch"),
    ("jpeg", 1, [RandomFlip()], (48, 80), "crop"),
    ("png", 1, [RandomFlip()], (80, 80), "pad"),
    # 480x640 JPEGs to 32x32: windows decoded at DCT scales 1/2 to 1/8 (their corners rounded to the scale)
    ("jpeg", 5, [RandomResizedCrop(32, 32, scale=(0.3, 1.0)), RandomFlip()], None, "stretch"),
    ("jpeg", 5, [RandomFlip()], (24, 32), "stretch"),  # the whole image at 1/8
])
def test_boxes_and_masks_move_with_the_pixels(tmp_path, fmt, scale, augment, size, fit):
    path = scenes(tmp_path, 12, fmt, scale)
    ds = make_dataset(path, task="detection", augment=augment, image_size=size, fit=fit, batch_size=12, seed=3,
                      repeat=True, instance_masks=True, dtype="uint8")
    checked = 0
    for images, targets in ds.take(3):
        assert targets["masks"].shape[:2] == targets["classes"].shape
        checked += check_colours(images, targets, masks=True)
    assert checked > 10  # boxes survived the crops and were looked at


def test_flips_mirror_boxes_and_happen_about_half_the_time(tmp_path):
    path = scenes(tmp_path, 12)
    plain = next(iter(make_dataset(path, task="detection", image_size=(H, W), batch_size=12, shuffle=False)))[1]
    flipped = next(iter(make_dataset(path, task="detection", image_size=(H, W), batch_size=12, shuffle=False,
                                     augment=[RandomFlip()], seed=0)))[1]
    kinds = []
    for i in range(12):
        a, b = plain["boxes"][i].numpy(), flipped["boxes"][i].numpy()
        n = plain["num_boxes"][i]
        mirror = np.stack([a[:n, 0], 1 - a[:n, 3], a[:n, 2], 1 - a[:n, 1]], axis=1)
        same, mirrored = np.allclose(a[:n], b[:n], atol=1e-6), np.allclose(mirror, b[:n], atol=1e-6)
        assert same or mirrored
        kinds.append("same" if same else "mirrored")
    assert set(kinds) == {"same", "mirrored"}
