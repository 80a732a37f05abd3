"""The PyTorch tutorial pipeline, the baseline the torch loader is measured against: the `tfrecord` package (vahidk).

`tfrecord.reader.tfrecord_loader` per shard (with the shard's `.idx`, so that each DataLoader worker reads
its own part of every shard, as the package's TFRecordDataset does) -> parse each Example with the
package's protobuf -> decode each image (raw: `np.frombuffer(...).reshape`; encoded: Pillow,
`Image.open(...).convert("RGB")`, resized bilinear to the model's size as torchvision's `Resize`
does) -> the same augmentation preset as tfrec's, one image at a time -> `DataLoader(batch_size,
num_workers)` with the default collate. The same route serves raw-pixel and encoded datasets (a
benchmark has the shards, not the source folder an ImageFolder dataset would need). Compressed
shards have no usable index there: each worker then reads whole shards, dealt round-robin.
"""
from __future__ import annotations

import io
import itertools
from typing import Any, Iterator

import numpy as np
import torch
import torch.utils.data

from ...access.augment import make_augment
from ...access.samples import SampleSource

_COMPRESSION = {"none": None, "gzip": "gzip", "zlib": None}  # the package reads gzip; zlib is refused below


class TutorialRecords(torch.utils.data.IterableDataset):
    """One pass over a split's shards as the tutorial reads them, up to `stage` (read, parse, decode, augment).

    Items: raw record bytes (read), feature dicts (parse), (HWC uint8 image, label) (decode, augment);
    with `chw` (the pipeline's output) the image is a CHW uint8 tensor the default collate stacks.
    """

    def __init__(self, source: SampleSource, files: list[str], compression: str, image_size: tuple[int, int] | None,
                 augment: str = "none", stage: str = "augment", chw: bool = False, seed: int = 0):
        if compression not in _COMPRESSION or (compression != "none" and _COMPRESSION[compression] is None):
            raise ValueError(f"the tfrecord package cannot read {compression!r} shards")
        self.files, self.compression, self.stage, self.chw, self.seed = list(files), compression, stage, chw, seed
        self.image_key = source.image.name
        self.label_key = source.label.name if source.label is not None else None
        self.encoding, self.shape = source.image.encoding, tuple(source.image.shape)
        self.image_size = tuple(image_size) if image_size else None
        self.augment = augment
        self._transform = make_augment(augment, self.image_size) if augment != "none" else None
        # A preset that crops to the output size (imagenet) sizes the image itself; otherwise decode resizes.
        self._resize = None if augment == "imagenet" else self.image_size

    def _shards(self) -> Iterator[tuple[str, str | None, tuple[int, int] | None]]:
        info = torch.utils.data.get_worker_info()
        wid, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for k, path in enumerate(self.files):
            if self.compression == "none" and workers > 1:
                yield path, path + ".idx", (wid, workers)
            elif workers == 1 or k % workers == wid:
                # no index alone: given one without a shard, the package starts at a random record and wraps
                yield path, None, None

    def records(self) -> Iterator[Any]:
        from tfrecord.reader import tfrecord_iterator, tfrecord_loader

        description = {self.image_key: "byte", **({self.label_key: "int"} if self.label_key else {})}
        for path, index, shard in self._shards():
            kind = _COMPRESSION[self.compression]
            if self.stage == "read":
                yield from tfrecord_iterator(path, index, shard, compression_type=kind)
            else:
                yield from tfrecord_loader(path, index, description, shard, compression_type=kind)

    def decode(self, features: dict) -> tuple[np.ndarray, int]:
        data = features[self.image_key]
        label = int(features[self.label_key][0]) if self.label_key else -1
        if self.encoding == "raw":
            return np.frombuffer(bytes(data), np.uint8).reshape(self.shape), label
        from PIL import Image

        img = Image.open(io.BytesIO(bytes(data))).convert("RGB")
        if self._resize is not None and img.size != (self._resize[1], self._resize[0]):
            img = img.resize((self._resize[1], self._resize[0]), Image.BILINEAR)
        return np.asarray(img), label

    def __iter__(self) -> Iterator[Any]:
        items = self.records()
        if self.stage in ("read", "parse"):
            yield from items
            return
        for i, features in enumerate(items):
            image, label = self.decode(features)
            if self.stage == "augment" and self._transform is not None:
                image = self._transform(image, np.random.default_rng([self.seed, i]))
            yield (torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), label) if self.chw else (image, label)


def tutorial_loader(source: SampleSource, files: list[str], compression: str, batch_size: int,
                    image_size: tuple[int, int] | None, augment: str, num_workers: int,
                    pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The whole tutorial pipeline: batches of (uint8 NCHW images, int64 labels), one pass over the split."""
    data = TutorialRecords(source, files, compression, image_size, augment, "augment", chw=True)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=num_workers, drop_last=True,
                                       pin_memory=pin_memory)


def tutorial_stages(source: SampleSource, files: list[str], compression: str, batch_size: int,
                    image_size: tuple[int, int] | None, augment: str) -> list[tuple[str, Any]]:
    """The tutorial pipeline as cumulative stages (read, parse, decode, augment where a preset is set, output),
    each a factory of an endless iterable of batches, in this process (num_workers=0: its CPU time is
    this process's, so that the stage costs add up to the whole pipeline's per image)."""
    def per_record(stage: str):
        def batches():
            endless = itertools.chain.from_iterable(
                TutorialRecords(source, files, compression, image_size, augment, stage) for _ in itertools.count())
            while True:
                yield list(itertools.islice(endless, batch_size))
        return batches

    def output():
        while True:
            yield from tutorial_loader(source, files, compression, batch_size, image_size, augment, 0)

    names = ["read", "parse", "decode"] + (["augment"] if augment != "none" else [])
    return [(name, per_record(name)) for name in names] + [("output", output)]
