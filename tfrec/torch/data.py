"""PyTorch over the access layer: a map-style Dataset of (CHW uint8 image, label), and a resumable batch loader.

The loader is torch's DataLoader with a batch sampler that yields index batches of the access layer's
epoch order (a seeded global permutation, this rank's strided share); each worker fetches a whole batch
with one `__getitems__` (reads sorted by offset and coalesced) and decodes it into one preallocated
uint8 array. Its state ({seed, epoch, position}) resumes mid-epoch at the next sample without reading
what came before (torchdata's StatefulDataLoader conventions; set_epoch as DistributedSampler has it).
"""
from __future__ import annotations

import collections
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.utils.data

from ..access import EpochOrder, SampleSource, open_source
from ..access.augment import make_augment, preload
from ..errors import TfrecError, UsageError
from ..io.salvage import ReadStats


WORKER_MODES = ("auto", "thread", "process")


def _label_of(source: SampleSource, sample: dict) -> int:
    return int(sample[source.label.name]) if source.label is not None else -1


class Dataset(torch.utils.data.Dataset):
    """A split of a tfrec dataset (or foreign TFRecords) as a torch Dataset: item i is (image, label).

    The image is a uint8 CHW tensor at its stored size; the label an int (-1 where the schema has none).
    `__getitems__` fetches a batch's records with coalesced reads (torch's DataLoader calls it).
    """

    def __init__(self, source: SampleSource):
        self.source = source
        if source.image is None:
            raise TfrecError(f"{source.name}: the schema has no image feature")

    def __len__(self) -> int:
        return len(self.source)

    def _item(self, sample: dict) -> tuple[torch.Tensor, int]:
        image = sample[self.source.image.name].transpose(2, 0, 1).copy()  # writable, contiguous CHW
        return torch.from_numpy(image), _label_of(self.source, sample)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int] | None:
        sample = self.source[i]
        return None if sample is None else self._item(sample)

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        return [self._item(s) for s in self.source.__getitems__(indices)]


def dataset(path: Any, split: str | None = None, *, schema: Any = None, check_crc: bool = True,
            skip_corrupt: bool = False) -> Dataset:
    """A torch Dataset over a split of a tfrec dataset or foreign TFRecord files (see tfrec.access.open_source)."""
    return Dataset(open_source(path, split, schema=schema, check_crc=check_crc, skip_corrupt=skip_corrupt))


class _BatchFetch(torch.utils.data.Dataset):
    """What a worker runs: one index batch -> (images, labels, records asked, records skipped)."""

    def __init__(self, source: SampleSource, channels_last: bool, image_size: tuple[int, int] | None,
                 augment: str, seed: int, encoded_only: bool = False):
        self.source, self.channels_last, self.seed = source, channels_last, seed
        self.image_size, self.augment = image_size, augment
        self.encoded_only = encoded_only  # decode_device: the batch's image bytes and records, decoded by the caller
        self._transform = None

    def __len__(self) -> int:
        return len(self.source)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_transform": None}

    def transform(self):
        if self._transform is None and (self.image_size is not None or self.augment != "none"):
            self._transform = make_augment(self.augment, self.image_size)
        return self._transform

    def __getitem__(self, i):
        raise TypeError("the loader's dataset is fetched a batch at a time (__getitems__)")

    def __getitems__(self, batch: tuple[int, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, int, list]:
        epoch, indices = batch
        records = self.source.records
        transform = self.transform()
        encoded = (transform is not None or self.encoded_only) and self.source.image.encoding != "raw"
        shared: list[torch.Tensor] = []
        alloc = None
        if torch.utils.data.get_worker_info() is not None:
            alloc = lambda shape: shared.append(_shared_empty(shape)) \
                or shared[-1].numpy()  # noqa: E731 - the batch goes to the main process without a copy
        whole, records.stats = records.stats, ReadStats()  # this batch's skips, reported to the loader
        try:
            # a fixed-shape schema's batch is gathered straight into NCHW (or NHWC): no per-sample collate;
            # encoded images stay bytes here, decoded below at the DCT scale the transform allows
            kept, columns = self.source.columns(indices, channels_first=transform is None and not self.channels_last,
                                                alloc=alloc if transform is None else None, decode_images=not encoded)
            skipped = list(records.stats.damaged.values())
        finally:
            records.stats = whole
        for s in skipped:
            whole.skip(s["path"], s["index"], s["offset"], s["reason"], s["records"])
        label = self.source.label
        labels = torch.as_tensor(np.asarray(columns[label.name], np.int64).reshape(-1) if label is not None
                                 else np.full(len(kept), -1, np.int64))
        images = columns[self.source.image.name]
        if self.encoded_only:
            return (list(images), kept.tolist()), labels, len(indices), skipped
        if transform is None and isinstance(images, np.ndarray):
            batch = shared[0] if shared and len(images) == len(indices) else torch.from_numpy(images)
            return batch, labels, len(indices), skipped
        if transform is not None:
            channels = self.source.image_channels
            images = [transform.decode(img, np.random.default_rng([self.seed, epoch, i]), channels) if encoded
                      else transform(img, np.random.default_rng([self.seed, epoch, i]))
                      for img, i in zip(images, kept.tolist())]
        out = self._stack(list(images), alloc)
        return (shared[-1] if shared else torch.from_numpy(out)), labels, len(indices), skipped

    def _stack(self, images: list[np.ndarray], alloc=None) -> np.ndarray:
        shapes = {img.shape for img in images}
        if len(shapes) > 1:
            raise TfrecError(f"{self.source.name}: images of different sizes in one batch ({sorted(shapes)[:3]}); "
                             f"pass image_size=(height, width)")
        h, w, c = images[0].shape if images else (0, 0, 0)
        shape = (len(images), h, w, c) if self.channels_last else (len(images), c, h, w)
        out = alloc(shape) if alloc is not None and images else np.empty(shape, np.uint8)
        for k, img in enumerate(images):
            out[k] = img if self.channels_last else img.transpose(2, 0, 1)
        return out


def _shared_empty(shape: tuple) -> torch.Tensor:
    """An uninitialised uint8 tensor in shared memory: created there (4.4 ms for a 64x3x224x224 batch here),
    not allocated and then copied there as Tensor.share_memory_() does (18.7 ms)."""
    new_shared = getattr(torch.UntypedStorage, "_new_shared", None)
    if new_shared is None:
        return torch.empty(shape, dtype=torch.uint8).share_memory_()
    return torch.empty(0, dtype=torch.uint8).set_(new_shared(int(np.prod(shape))), 0, shape)


def _identity(batch):
    return batch


class _Sampler(torch.utils.data.Sampler):
    """Yields (epoch, index batch) from the loader's order, from the position it starts at."""

    def __init__(self, loader: "Loader"):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        lo = self.loader
        for indices in lo.order.batches(lo.epoch, lo.batch_size, lo._start, lo.drop_last):
            yield lo.epoch, indices


class Loader:
    """Batches of (uint8 images NCHW, or NHWC with channels_last, int64 labels) over the access layer's order.

    Made by tfrec.torch.loader. Iterate it once per epoch: a pass starts at the beginning of the current
    epoch (after a complete pass, the next epoch), or where `load_state_dict()` says; `state_dict()` is
    where the batches yielded so far end; `set_epoch(e)` picks an epoch's permutation.
    `stats` counts what skip_corrupt skipped, over every worker.
    """

    def __init__(self, source: SampleSource, *, batch_size: int, num_workers: int = 0, shuffle: bool = False,
                 seed: int = 0, image_size: tuple[int, int] | None = None, augment: str = "none",
                 rank: int | None = None, world_size: int | None = None, drop_last: bool = False,
                 pin_memory: bool = False, persistent_workers: bool = False, channels_last: bool = False,
                 prefetch_factor: int | None = None, multiprocessing_context: Any = None, worker_mode: str = "auto",
                 decode_device: str | None = None):
        if batch_size < 1:
            raise TfrecError(f"batch_size must be at least 1, not {batch_size}")
        if worker_mode not in WORKER_MODES:
            raise TfrecError(f"worker_mode must be one of {', '.join(WORKER_MODES)}, not {worker_mode!r}")
        rank, world_size = _distributed(rank, world_size)
        self.source = source
        self.batch_size, self.drop_last = batch_size, drop_last
        self.order = EpochOrder(len(source), shuffle, seed, rank, world_size)
        self.epoch, self.position, self._start = 0, 0, 0
        self._resume: int | None = None  # the position load_state_dict asked the next pass to start at
        self.stats = ReadStats()
        fetch = _BatchFetch(source, channels_last, tuple(image_size) if image_size else None, augment, seed,
                            encoded_only=decode_device is not None)
        self._gpu = _gpu_decoder(decode_device, source, fetch) if decode_device is not None else None
        if num_workers < 1:
            self.worker_mode = "none"
        elif worker_mode == "auto":  # gathered batches cost less to make than to hand between processes
            self.worker_mode = "thread" if source.fixed and fetch.transform() is None else "process"
        else:
            self.worker_mode = worker_mode
        self._fetch, self._threads = fetch, num_workers if self.worker_mode == "thread" else 0
        self._depth = num_workers * (prefetch_factor or 2)
        self._pin = pin_memory and torch.cuda.is_available()
        if self.worker_mode == "process" and (fetch.transform() is not None or source.image.encoding != "raw"):
            preload()  # forked workers inherit the decoders instead of each importing them
        if self._threads:  # the DataLoader below is then never iterated
            num_workers, multiprocessing_context = 0, None
        self._loader = torch.utils.data.DataLoader(
            fetch, batch_sampler=_Sampler(self), collate_fn=_identity, num_workers=num_workers,
            pin_memory=pin_memory, persistent_workers=persistent_workers and num_workers > 0,
            prefetch_factor=prefetch_factor if num_workers else None, multiprocessing_context=multiprocessing_context)

    def __len__(self) -> int:
        """Batches in a whole epoch of this rank's share."""
        n = len(self.order)
        if self.drop_last:
            return (len(EpochOrder(self.order.size, rank=self.order.world_size - 1,
                                   world_size=self.order.world_size))) // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._start = self.position = self._resume or 0
        self._resume = None
        for images, labels, asked, skipped in (self._thread_batches() if self._threads else self._loader):
            if self._gpu is not None:
                images, labels = self._gpu(*images, self.epoch), labels.to(self._gpu.device)
            for s in skipped:
                self.stats.skip(s["path"], s["index"], s["offset"], s["reason"], s["records"])
            self.position += asked
            yield images, labels
        self.epoch, self.position, self._start = self.epoch + 1, 0, 0

    def _thread_batches(self) -> Iterator[tuple]:
        """The batches made by a pool of threads, each with its own copy of the source (its own descriptors and
        skip counts), yielded in the sampler's order; at most num_workers * prefetch_factor in flight."""
        local = threading.local()

        def fetch(batch):
            mine = getattr(local, "fetch", None)
            if mine is None:
                mine = local.fetch = pickle.loads(pickle.dumps(self._fetch))
            out = mine.__getitems__(batch)
            return (out[0].pin_memory(), *out[1:]) if self._pin and isinstance(out[0], torch.Tensor) else out

        with ThreadPoolExecutor(self._threads, thread_name_prefix="tfrec-loader") as pool:
            pending: collections.deque = collections.deque()
            try:
                for batch in _Sampler(self):
                    pending.append(pool.submit(fetch, batch))
                    if len(pending) >= self._depth:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:  # a pass broken off: nothing more is started
                    future.cancel()

    def set_epoch(self, epoch: int) -> None:
        """Starts `epoch` from its beginning at the next iteration (as DistributedSampler.set_epoch)."""
        self.epoch, self.position, self._resume = int(epoch), 0, None

    def state_dict(self) -> dict:
        """Where the loader is: {seed, epoch, position}, position counting this rank's samples already yielded."""
        return {"seed": self.order.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        """Resumes at a state_dict's position: the next iteration yields exactly the samples after it."""
        if int(state["seed"]) != self.order.seed:
            o = self.order
            self.order = EpochOrder(o.size, o.shuffle, int(state["seed"]), o.rank, o.world_size)
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._resume = self.position


def _gpu_decoder(device: str, source: SampleSource, fetch: _BatchFetch):
    """The main process's batch decoder for decode_device (see tfrec.torch.gpu)."""
    from . import gpu

    if source.image.encoding in ("raw", "png"):
        raise UsageError(f"{source.name}: decode_device decodes JPEGs; this dataset's images are "
                         f"{source.image.encoding}: leave decode_device=None")
    decode_fn = gpu.gpu_decoder(device)  # raises UsageError naming what is missing
    return gpu.BatchDecoder(device, fetch.transform(), fetch.channels_last, fetch.seed, decode_fn,
                            source.image_channels)


def _distributed(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """rank and world_size as given, else torch.distributed's where it is initialised, else (0, 1)."""
    dist = torch.distributed
    live = dist.is_available() and dist.is_initialized()
    if rank is None:
        rank = dist.get_rank() if live else 0
    if world_size is None:
        world_size = dist.get_world_size() if live else 1
    return rank, world_size


def loader(path: Any, split: str | None = None, *, batch_size: int = 32, num_workers: int = 0,
           shuffle: bool = False, seed: int = 0, image_size: tuple[int, int] | None = None, augment: str = "none",
           rank: int | None = None, world_size: int | None = None, drop_last: bool = False,
           pin_memory: bool = False, persistent_workers: bool = False, channels_last: bool = False,
           schema: Any = None, check_crc: bool = True, skip_corrupt: bool = False, worker_mode: str = "auto",
           decode_device: str | None = None, **dataloader: Any) -> Loader:
    """A batch loader over a split of a tfrec dataset (or foreign TFRecord files), without TensorFlow.

    Args:
        path: a dataset (tfrec.open_dataset's, or its directory), or foreign TFRecord files, directories, globs.
        split: the split (default: 'train', or the only one).
        batch_size: samples per batch (the last of an epoch may be short unless drop_last).
        num_workers: workers fetching whole batches in parallel (0: in this process, batch by batch).
        worker_mode: what the workers are: 'process' (DataLoader worker processes), 'thread' (threads of
            this process, no batch handed between processes), or 'auto' (default): threads for raw
            fixed-shape records without image_size/augment (their batches are a read and a NumPy gather:
            cheaper to make than to hand between processes), processes for everything that decodes.
            `loader.worker_mode` says which was taken ('none' with num_workers=0).
        decode_device: 'cuda' (or 'cuda:N'): the workers hand over JPEG bytes and the main process decodes
            each batch on the GPU with torchvision.io.decode_jpeg, crops, resizes and flips there (augment
            'none' or 'imagenet'); batches and labels are on that device. Needs CUDA and torchvision
            (a UsageError says which is missing). None (default): decode on the CPU.
        shuffle, seed: a seeded global permutation of all records per epoch (else file order).
        image_size: (height, width) to resize to; None keeps the stored size (exact stored pixels).
        augment: an augmentation preset of tfrec.access.augment ('none', 'mnist', 'cifar', 'imagenet').
        rank, world_size: this process's share (default: torch.distributed's, when initialised): epoch
            positions rank, rank + world_size, ...; disjoint, complete, unpadded (a share may be one shorter).
        drop_last: drop the short last batch; every rank then takes the same number of batches.
        pin_memory, persistent_workers: as DataLoader has them.
        channels_last: NHWC batches instead of NCHW.
        schema: for foreign files (default: inferred).
        check_crc, skip_corrupt: see tfrec.access.open_source; what was skipped is counted in `loader.stats`.
        **dataloader: more DataLoader arguments (prefetch_factor, multiprocessing_context).

    Returns:
        A Loader: iterate it for (images, labels) batches; uint8 images, int64 labels.
    """
    source = open_source(path, split, schema=schema, check_crc=check_crc, skip_corrupt=skip_corrupt)
    if source.image is None:
        raise TfrecError(f"{source.name}: the schema has no image feature")
    return Loader(source, batch_size=batch_size, num_workers=num_workers, shuffle=shuffle, seed=seed,
                  image_size=image_size, augment=augment, rank=rank, world_size=world_size, drop_last=drop_last,
                  pin_memory=pin_memory, persistent_workers=persistent_workers, channels_last=channels_last,
                  worker_mode=worker_mode, decode_device=decode_device, **dataloader)
