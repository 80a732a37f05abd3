"""PyTorch detection samples and batches: records by index through access/, boxes moved with the pixels, padded.

The same layout as make_dataset(task='detection'), as torch tensors:

    loader = tfrec.torch.detection.loader("out/coco", batch_size=16, augment="imagenet", image_size=(320, 320))
    for images, targets in loader:  # images [B, 3, H, W] uint8; targets: boxes [B, N, 4] float32
        ...                         # (ymin, xmin, ymax, xmax, normalised), classes [B, N] int64 (0 = padding),
                                    # num_boxes [B] int32 (and masks [B, N, H, W] uint8 with masks=True)

Each record's random draws come from numpy.random.default_rng((seed, epoch, index)), so any worker
makes the same sample; set_epoch(n) (or the loader's sampler) moves to the next epoch's draws.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from ..access.detection import MIN_BOX_VISIBLE, DetectionAugment, pad_objects
from ..access.samples import open_source
from ..check import objects_of
from ..codec.example import decode_example
from ..errors import CorruptRecordError

IMAGE_KEY = "image/encoded"


class DetectionDataset(torch.utils.data.Dataset):
    """Detection samples by index: {'image' HWC uint8, 'boxes' [n, 4], 'classes' [n][, 'masks' [n, H, W]]} (NumPy).

    Raises (on access): CorruptRecordError for a damaged record; ImageDecodeError for an image that does not decode.
    """

    def __init__(self, path: Any, split: str | None = None, *, augment: str = "none",
                 image_size: tuple[int, int] | int | None = None, fit: str = "stretch", masks: bool = False,
                 min_box_visible: float = MIN_BOX_VISIBLE, seed: int = 0, check_crc: bool = True):
        size = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.source = open_source(path, split, check_crc=check_crc)
        self.augment = DetectionAugment(augment, tuple(size) if size else None, fit, min_box_visible, masks)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        data = self.source.payloads([int(i)])[0]
        if data is None:
            path, index, offset = self.source.where(int(i))
            raise CorruptRecordError(path, index, offset, "damaged record")
        example = decode_example(data)
        rng = np.random.default_rng((self.seed, self.epoch, int(i)))
        return self.augment(bytes(example[IMAGE_KEY][1][0]), objects_of(example), rng)


def collate(samples: list[dict[str, np.ndarray]], max_boxes: int | None = None,
            channels_first: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(images [B, C, H, W] uint8 (or [B, H, W, C]), {'boxes' [B, N, 4], 'classes' [B, N], 'num_boxes' [B]
    [, 'masks' [B, N, H, W]]}): N = max_boxes (a sample with more keeps its first), else the batch's most."""
    images = np.stack([s["image"] for s in samples])
    images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous() if channels_first else torch.from_numpy(images)
    masks = [s["masks"] for s in samples] if samples and "masks" in samples[0] else None
    padded = pad_objects([s["boxes"] for s in samples], [s["classes"] for s in samples], max_boxes, masks)
    return images, {k: torch.from_numpy(v) for k, v in padded.items()}


def loader(path: Any, split: str | None = None, *, batch_size: int = 32, shuffle: bool = True, num_workers: int = 0,
           max_boxes: int | None = None, drop_last: bool = False, seed: int = 0,
           **dataset_options: Any) -> torch.utils.data.DataLoader:
    """A DataLoader of padded detection batches (see collate); dataset_options go to DetectionDataset."""
    dataset = DetectionDataset(path, split, seed=seed, **dataset_options)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                                       collate_fn=functools.partial(collate, max_boxes=max_boxes),
                                       drop_last=drop_last, generator=generator)
