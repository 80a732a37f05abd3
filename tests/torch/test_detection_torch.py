"""tfrec.torch.detection: padded detection batches as torch tensors; boxes and masks agree with the pixels."""
from __future__ import annotations

import numpy as np
import torch

from tfrec.torch.detection import DetectionDataset, collate, loader

from ..detection_records import check_colours, scenes


def test_loader_batches_agree_with_their_pixels(tmp_path):
    path = scenes(tmp_path, 12, "jpeg")
    batches = list(loader(path, batch_size=5, augment="imagenet", image_size=64, masks=True, seed=1))
    assert [b[0].shape[0] for b in batches] == [5, 5, 2]
    checked = 0
    for images, targets in batches:
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 64, 64)
        assert targets["boxes"].dtype == torch.float32 and targets["classes"].dtype == torch.int64
        assert targets["num_boxes"].dtype == torch.int32 and targets["masks"].shape[2:] == (64, 64)
        checked += check_colours(images.permute(0, 2, 3, 1), targets, masks=True)
    assert checked > 5


def test_samples_repeat_per_epoch_seed_and_change_with_the_epoch(tmp_path):
    path = scenes(tmp_path, 6, "png")
    ds = DetectionDataset(path, augment="imagenet", image_size=48, seed=3)
    first = [ds[i] for i in range(6)]
    again = [DetectionDataset(path, augment="imagenet", image_size=48, seed=3)[i] for i in range(6)]
    assert all(np.array_equal(a["image"], b["image"]) and np.array_equal(a["boxes"], b["boxes"])
               for a, b in zip(first, again))
    ds.set_epoch(1)
    assert any(not np.array_equal(a["image"], ds[i]["image"]) for i, a in enumerate(first))


def test_collate_max_boxes_and_channels_last(tmp_path):
    path = scenes(tmp_path, 6, "png")
    ds = DetectionDataset(path, image_size=(32, 40))
    images, targets = collate([ds[i] for i in range(6)], max_boxes=2, channels_first=False)
    assert images.shape == (6, 32, 40, 3) and targets["boxes"].shape == (6, 2, 4)
    assert int(targets["num_boxes"].max()) <= 2
