"""tfrec.torch: the Dataset's items, the loader's batches, exactly-once shares over workers and ranks, resume."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tfrec.torch  # noqa: E402
from tests.damage import flip, offsets  # noqa: E402
from tfrec.access import open_source  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.io.dataset import open_dataset  # noqa: E402


def _all(path, split="train"):
    src = open_source(path, split)
    return [(s["image"].tobytes(), s["label"]) for s in src.__getitems__(range(len(src)))]


def test_dataset_items_are_chw_uint8_tensors_and_labels(datasets):
    ds = tfrec.torch.dataset(datasets["cifar10"], split="train")
    assert isinstance(ds, torch.utils.data.Dataset)
    image, label = ds[4]
    src = open_source(datasets["cifar10"], "train")
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 32, 32)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), src[4]["image"]) and label == src[4]["label"]
    assert tfrec.torch.dataset(datasets["imagefolder"])[0][0].shape == (3, 20, 24)
    assert len(pickle.loads(pickle.dumps(ds))) == len(ds)


def test_a_plain_dataloader_over_the_dataset_batches_through_getitems(datasets):
    ds = tfrec.torch.dataset(datasets["mnist"], split="test")
    images, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 1, 28, 28) and labels.tolist() == [ds[i][1] for i in range(4)]


@pytest.mark.parametrize("fmt, shape", [("cifar10", (3, 32, 32)), ("mnist", (1, 28, 28)),
                                        ("imagefolder", (3, 20, 24))])
def test_loader_batches_in_file_order_are_the_stored_samples(datasets, fmt, shape):
    batches = list(tfrec.torch.loader(datasets[fmt], split="train", batch_size=7))
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64 and tuple(images.shape[1:]) == shape
    want = _all(datasets[fmt])
    got = [(img.permute(1, 2, 0).numpy().tobytes(), int(l)) for img, l in zip(images, labels)]
    assert got == want


def test_channels_last_gives_nhwc(datasets):
    images, _ = next(iter(tfrec.torch.loader(datasets["cifar10"], split="test", batch_size=4, channels_last=True)))
    assert images.shape == (4, 32, 32, 3)


@pytest.mark.parametrize("num_workers, worker_mode", [(0, "auto"), (2, "thread"), (3, "thread"), (2, "process"),
                                                     (3, "process")])
@pytest.mark.parametrize("world_size", [1, 2])
def test_every_record_once_per_epoch_across_workers_and_ranks(datasets, num_workers, worker_mode, world_size):
    seen = []
    for rank in range(world_size):
        lo = tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=4, num_workers=num_workers,
                                shuffle=True, seed=3, rank=rank, world_size=world_size, worker_mode=worker_mode,
                                multiprocessing_context="fork" if num_workers else None)
        share = [(img.permute(1, 2, 0).numpy().tobytes(), int(l)) for x, y in lo for img, l in zip(x, y)]
        assert len(share) in (50 // world_size, -(-50 // world_size))
        seen += share
    assert sorted(seen) == sorted(_all(datasets["cifar10"]))


def test_epochs_are_different_permutations_and_set_epoch_repeats_one(datasets):
    lo = tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=50, shuffle=True, seed=1)
    first = next(iter(lo))[1].tolist()
    second = next(iter(lo))[1].tolist()  # a broken-off pass stays in its epoch
    assert first == second
    list(lo)  # a complete pass: the next epoch follows
    assert lo.epoch == 1 and [l for _, y in lo for l in y.tolist()] != first
    lo.set_epoch(0)
    assert next(iter(lo))[1].tolist() == first


@pytest.mark.parametrize("num_workers, worker_mode", [(0, "auto"), (2, "thread"), (2, "process")])
@pytest.mark.parametrize("stop", [1, 3, 6])
def test_resume_mid_epoch_gives_exactly_the_remaining_samples(datasets, num_workers, worker_mode, stop):
    def make():
        return tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=4, shuffle=True, seed=9,
                                  num_workers=num_workers, rank=1, world_size=2, worker_mode=worker_mode,
                                  multiprocessing_context="fork" if num_workers else None)

    whole = [l for _, y in make() for l in y.tolist()]
    lo = make()
    lo.set_epoch(0)
    it = iter(lo)
    head = [l for _ in range(stop) for l in next(it)[1].tolist()]
    state = lo.state_dict()
    assert state == {"seed": 9, "epoch": 0, "position": 4 * stop}
    del it
    resumed = make()
    resumed.load_state_dict(state)
    tail = [l for _, y in resumed for l in y.tolist()]
    assert head + tail == whole


def test_resume_reads_nothing_before_the_position(datasets, monkeypatch):
    lo = tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=5)
    lo.load_state_dict({"seed": 0, "epoch": 0, "position": 45})
    asked = []
    real = lo.source.records.spans  # every read (record by record, or a batch's matrix) locates through it
    monkeypatch.setattr(lo.source.records, "spans", lambda idx: asked.extend(np.asarray(idx).tolist()) or real(idx))
    assert sum(len(y) for _, y in lo) == 5 and sorted(set(asked)) == list(range(45, 50))


@pytest.mark.parametrize("worker_mode", ["thread", "process"])
def test_skip_corrupt_counts_over_workers(datasets, tmp_path, worker_mode):
    out = tmp_path / "damaged"
    shutil.copytree(datasets["cifar10"], out)
    shard = open_dataset(out).shard_paths("train")[0]
    flip(shard, offsets(shard)[3] + 40)
    lo = tfrec.torch.loader(str(out), split="train", batch_size=8, num_workers=2, skip_corrupt=True,
                            multiprocessing_context="fork", worker_mode=worker_mode)
    assert sum(len(y) for _, y in lo) == 49
    assert lo.stats.records_skipped == 1 and list(lo.stats.damaged) == [(shard, 3)]
    with pytest.raises(Exception, match=rf"record 3 at byte offset {offsets(shard)[3]}: data CRC"):
        list(tfrec.torch.loader(str(out), split="train", batch_size=8))


def test_rank_and_world_size_default_from_torch_distributed(datasets, monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 1)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 3)
    lo = tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=4)
    assert (lo.order.rank, lo.order.world_size) == (1, 3) and sum(len(y) for _, y in lo) == 17


def test_drop_last_gives_every_rank_the_same_number_of_batches(datasets):
    lens = [len(list(tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=4, rank=r, world_size=3,
                                        drop_last=True))) for r in range(3)]
    assert lens == [4, 4, 4]


@pytest.mark.parametrize("augment", ["none", "imagenet"])
def test_image_size_and_augment_presets_are_seeded_per_sample(datasets, augment):
    def first(seed, num_workers=0):
        lo = tfrec.torch.loader(datasets["imagefolder"], split="train", batch_size=6, image_size=(16, 12),
                                augment=augment, seed=seed, num_workers=num_workers,
                                multiprocessing_context="fork" if num_workers else None)
        return next(iter(lo))[0]

    images = first(0)
    assert images.shape == (6, 3, 16, 12) and images.dtype == torch.uint8
    assert torch.equal(images, first(0, num_workers=2))  # the same pixels whichever worker made them
    assert torch.equal(images, first(1)) == (augment == "none")


@pytest.mark.parametrize("channels_last", [False, True])
def test_raw_fixed_shape_batches_are_gathered_without_the_example_decoder(datasets, monkeypatch, channels_last):
    import tfrec.access.samples as samples_module
    from tfrec.codec.example import decode_example

    src = open_source(datasets["cifar100"], "train")
    want = [(torch.from_numpy(s["image"].transpose(2, 0, 1).copy()), s["label"])  # the Example decoder's samples
            for s in (src.parse(d, i) for i, d in enumerate(src.records.get_many(range(len(src)))))]
    lo = tfrec.torch.loader(datasets["cifar100"], split="train", batch_size=7, channels_last=channels_last)
    next(iter(lo))  # the first batch finds the layout
    calls = []
    monkeypatch.setattr(samples_module, "decode_example", lambda data: calls.append(1) or decode_example(data))
    batches = list(lo)
    assert calls == []
    images = torch.cat([x for x, _ in batches])
    assert images.is_contiguous() and images.shape[1:] == ((32, 32, 3) if channels_last else (3, 32, 32))
    assert [l for _, y in batches for l in y.tolist()] == [l for _, l in want]
    assert all(torch.equal(img.permute(2, 0, 1) if channels_last else img, w) for img, (w, _) in zip(images, want))


def test_image_size_well_below_the_stored_size_decodes_jpegs_at_a_dct_scale(tmp_path, monkeypatch):
    from tfrec.access import augment as augment_module
    from tfrec.access.augment import DCT_SCALED_MEAN_TOLERANCE, make_augment
    from tfrec.access.decode import decode_image
    from tfrec.demo import synth
    from tfrec.write.convert import ConvertOptions, convert

    synth.write_image_folder(tmp_path / "src", n_per_class=3, seed=5, num_classes=2, size=(256, 192), fmt="jpeg")
    convert(str(tmp_path / "src"), str(tmp_path / "ds"), ConvertOptions(shards=1, progress=False))
    src = open_source(str(tmp_path / "ds"), "train")
    stored = [src.parse(d, i, decode_images=False)["image"] for i, d in enumerate(src.payloads(range(len(src))))]
    targets = []
    real = augment_module.image_decode.decode_image
    monkeypatch.setattr(augment_module.image_decode, "decode_image",
                        lambda d, **kw: targets.append(kw.get("target")) or real(d, **kw))
    for augment in ("none", "imagenet"):
        targets.clear()
        images = torch.cat([x for x, _ in tfrec.torch.loader(str(tmp_path / "ds"), batch_size=4, image_size=(32, 32),
                                                             augment=augment, seed=3, channels_last=True)])
        assert len(targets) == len(stored) and all(t is not None for t in targets)
        aug = make_augment(augment, (32, 32))
        for i, (img, data) in enumerate(zip(images.numpy(), stored)):  # the full-scale decode, the same draws
            full = aug(decode_image(data, channels=3), np.random.default_rng([3, 0, i]))
            assert np.abs(img.astype(int) - full.astype(int)).mean() <= DCT_SCALED_MEAN_TOLERANCE
    exact = torch.cat([x for x, _ in tfrec.torch.loader(str(tmp_path / "ds"), batch_size=4, channels_last=True)])
    assert all(np.array_equal(img, decode_image(d, channels=3)) for img, d in zip(exact.numpy(), stored))


def test_worker_mode_auto_takes_threads_for_gathered_raw_batches_and_processes_for_decoding(datasets):
    import multiprocessing

    raw = tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=8, num_workers=2)
    assert raw.worker_mode == "thread"
    batches = []
    for x, y in raw:
        assert multiprocessing.active_children() == []  # no worker process behind thread batches
        batches.append((x, y))
    alone = list(tfrec.torch.loader(datasets["cifar10"], split="train", batch_size=8))
    assert len(batches) == len(alone)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(batches, alone))
    for kw in ({"image_size": (16, 16)}, {"augment": "cifar"}):
        assert tfrec.torch.loader(datasets["cifar10"], split="train", num_workers=2, **kw).worker_mode == "process"
    assert tfrec.torch.loader(datasets["imagefolder"], split="train", num_workers=2).worker_mode == "process"
    assert tfrec.torch.loader(datasets["cifar10"], split="train").worker_mode == "none"
    assert tfrec.torch.loader(datasets["cifar10"], split="train", num_workers=2,
                              worker_mode="process").worker_mode == "process"
    with pytest.raises(TfrecError, match="worker_mode must be one of auto, thread, process, not 'fibre'"):
        tfrec.torch.loader(datasets["cifar10"], split="train", num_workers=2, worker_mode="fibre")


@pytest.mark.parametrize("fmt, kw", [("cifar10", {}), ("imagefolder", {"image_size": (16, 12)})])
def test_a_workers_batch_is_made_in_shared_memory(datasets, monkeypatch, fmt, kw):
    lo = tfrec.torch.loader(datasets[fmt], split="train", batch_size=4, **kw)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as inside a worker process
    images, labels, asked, skipped = lo._fetch.__getitems__((0, np.arange(4)))
    assert images.is_shared() and asked == 4 and skipped == []
    monkeypatch.undo()
    assert torch.equal(images, next(iter(lo))[0])


def test_process_workers_that_decode_inherit_the_decoders_imported_before_the_fork(datasets):
    import subprocess
    import sys

    pytest.importorskip("cv2")
    code = ("import sys, tfrec.torch; assert 'cv2' not in sys.modules; "
            f"tfrec.torch.loader({datasets['imagefolder']!r}, num_workers=2, image_size=(16, 16)); "
            "print('cv2' in sys.modules, 'simplejpeg' in sys.modules or 'PIL.Image' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
