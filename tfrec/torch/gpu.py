"""Batched JPEG decode on the GPU for tfrec.torch.loader(decode_device="cuda"): workers hand over bytes.

The loader's workers read and parse the records and return each batch's JPEG bytes; the main process
decodes the whole batch at once with torchvision.io.decode_jpeg(list, device=...) (nvJPEG), then crops,
resizes (bilinear, half-pixel centres, no antialiasing, as the CPU path and tf.image.resize) and flips
on the device. Crop windows and flips are drawn from the same per-record generators as the CPU path
(numpy.random.default_rng([seed, epoch, record])), so the same records get the same windows and flips;
pixels differ from the CPU decode by the decoders' IDCT (see access.decode.JPEG_TOLERANCE).
Presets: 'none' (resize to image_size, or the stored size) and 'imagenet'.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..access.augment import FLIPS, Augment
from ..access.decode import decode_image, encoded_size
from ..codec.images import image_format
from ..errors import UsageError

GPU_PRESETS = ("none", "imagenet")
DecodeFn = Callable[..., list]  # (list of uint8 CPU tensors, device=...) -> list of uint8 CHW tensors on device


def gpu_decoder(device: str) -> DecodeFn:
    """torchvision.io.decode_jpeg, checked usable on `device`.

    Raises:
        UsageError: no CUDA in this torch, or no torchvision with decode_jpeg (naming what is missing).
    """
    if not str(device).startswith("cuda"):
        raise UsageError(f"decode_device must be 'cuda' or 'cuda:N' (or None: decode on the CPU), not {device!r}")
    if not torch.cuda.is_available():
        raise UsageError(f"decode_device={device!r} needs CUDA, and torch.cuda.is_available() is False here "
                         f"(torch {torch.__version__}{' is a CPU build' if torch.version.cuda is None else ''}); "
                         "leave decode_device=None to decode on the CPU")
    try:
        from torchvision.io import decode_jpeg
    except Exception as e:  # noqa: BLE001  ImportError, or a torchvision built for another torch
        raise UsageError(f"decode_device={device!r} needs torchvision's GPU JPEG decoder "
                         f"(torchvision.io.decode_jpeg), which does not import here: {e}; install the "
                         f"torchvision built for torch {torch.__version__}") from e
    return decode_jpeg


class BatchDecoder:
    """Decodes one batch of JPEG bytes on a device into a uint8 NCHW (or NHWC) tensor there."""

    def __init__(self, device: str, transform: Augment | None, channels_last: bool, seed: int,
                 decode_fn: DecodeFn, channels: int | None = 3):
        preset = transform.preset if transform is not None else "none"
        if preset not in GPU_PRESETS:
            raise UsageError(f"decode_device: augment {preset!r} is not done on the GPU; "
                             f"presets there: {', '.join(GPU_PRESETS)}")
        self.device, self.transform, self.channels_last, self.seed = device, transform, channels_last, seed
        self.decode_fn, self.channels = decode_fn, channels

    def __call__(self, data: Sequence[bytes], records: Sequence[int], epoch: int) -> torch.Tensor:
        """The batch: data[k] is record records[k]'s JPEG bytes."""
        jpeg = [k for k, d in enumerate(data) if image_format(d) == "jpeg"]
        decoded: list = [None] * len(data)
        if jpeg:
            tensors = [torch.frombuffer(bytearray(data[k]), dtype=torch.uint8) for k in jpeg]
            for k, img in zip(jpeg, self.decode_fn(tensors, device=self.device)):
                decoded[k] = img
        for k, d in enumerate(data):  # another format among "encoded" images: decoded on the CPU, moved there
            if decoded[k] is None:
                decoded[k] = torch.from_numpy(decode_image(d, channels=self.channels).transpose(2, 0, 1).copy()
                                              ).to(self.device)
            elif self.channels == 3 and decoded[k].shape[0] == 1:  # a grey JPEG, as the CPU path repeats it
                decoded[k] = decoded[k].expand(3, -1, -1)
        images = [self._augment(img, int(d_i), epoch, d) for img, d_i, d in zip(decoded, records, data)]
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) > 1:
            raise UsageError(f"images of different sizes in one batch ({sorted(shapes)[:3]}); pass image_size=(h, w)")
        batch = torch.stack(images) if images else torch.empty((0, 3, 0, 0), dtype=torch.uint8, device=self.device)
        return batch.permute(0, 2, 3, 1).contiguous() if self.channels_last else batch

    def _augment(self, image: torch.Tensor, record: int, epoch: int, data: bytes) -> torch.Tensor:
        t = self.transform
        if t is None:
            return image
        rng = np.random.default_rng([self.seed, epoch, record])
        h, w = encoded_size(data) or tuple(image.shape[1:])
        top, left, wh, ww = t.crop_window(h, w, rng)
        crop = image[:, top: top + wh, left: left + ww]
        size = t.output_size
        if size is not None and tuple(crop.shape[1:]) != tuple(size):
            crop = torch.nn.functional.interpolate(crop[None].float(), size=tuple(size), mode="bilinear",
                                                   align_corners=False, antialias=False)[0]
            crop = crop.add_(0.5).clamp_(0, 255).to(torch.uint8)  # rounded, as tf.image.resize's uint8 output
        if t.preset in FLIPS and rng.random() < 0.5:
            crop = crop.flip(-1)
        return crop.contiguous()
