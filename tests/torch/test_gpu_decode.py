"""decode_device: JPEG bytes from the workers decoded a batch at a time by the main process (on the GPU where
there is one); the errors where CUDA or torchvision are missing, and the batching with a fake decode function."""
from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tfrec.torch  # noqa: E402
import tfrec.torch.gpu as gpu  # noqa: E402
from tfrec.access.augment import RESIZE_TOLERANCE  # noqa: E402
from tfrec.access.decode import decode_image  # noqa: E402
from tfrec.errors import UsageError  # noqa: E402


def test_without_cuda_it_is_a_usage_error_naming_cuda(datasets):
    if torch.cuda.is_available():  # a GPU machine: the same call decodes there, or names torchvision
        try:
            images, _ = next(iter(tfrec.torch.loader(datasets["imagefolder"], batch_size=4, decode_device="cuda")))
        except UsageError as e:
            assert "torchvision" in str(e)
        else:
            assert images.is_cuda and images.shape == (4, 3, 20, 24)
        return
    with pytest.raises(UsageError, match=r"decode_device='cuda' needs CUDA, and torch.cuda.is_available\(\) is False"):
        tfrec.torch.loader(datasets["imagefolder"], batch_size=4, decode_device="cuda")


def test_without_torchvision_it_is_a_usage_error_naming_torchvision(datasets, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` raises ImportError
    monkeypatch.setitem(sys.modules, "torchvision.io", None)
    with pytest.raises(UsageError, match=r"needs torchvision's GPU JPEG decoder \(torchvision.io.decode_jpeg\)"):
        tfrec.torch.loader(datasets["imagefolder"], batch_size=4, decode_device="cuda")


@pytest.mark.parametrize("device, fmt, match", [("cpu", "imagefolder", "decode_device must be 'cuda'"),
                                                ("cuda", "cifar10", "decode_device decodes JPEGs; this dataset's "
                                                                    "images are raw")])
def test_what_cannot_be_decoded_on_the_gpu_is_named(datasets, device, fmt, match):
    with pytest.raises(UsageError, match=match):
        tfrec.torch.loader(datasets[fmt], split="train", decode_device=device)


@pytest.fixture
def fake_gpu(monkeypatch):
    """decode_device='cpu' with a decode function that decodes a list of JPEG tensors with the CPU decoder."""
    calls = []

    def decode(tensors, device):
        calls.append((len(tensors), device))
        return [torch.from_numpy(decode_image(t.numpy().tobytes(), channels=3).transpose(2, 0, 1).copy())
                for t in tensors]

    monkeypatch.setattr(gpu, "gpu_decoder", lambda device: decode)
    return calls


@pytest.mark.parametrize("augment, image_size, num_workers", [("none", None, 0), ("none", (16, 12), 2),
                                                               ("imagenet", (16, 12), 0)])
def test_batches_decoded_at_once_equal_the_cpu_loaders(datasets, fake_gpu, augment, image_size, num_workers):
    def make(**kw):
        return tfrec.torch.loader(datasets["imagefolder"], batch_size=5, shuffle=True, seed=2, image_size=image_size,
                                  augment=augment, num_workers=num_workers,
                                  multiprocessing_context="fork" if num_workers else None, **kw)

    ours = list(make(decode_device="cpu"))
    cpu = list(make())
    assert [n for n, _ in fake_gpu] == [len(y) for _, y in cpu] and {d for _, d in fake_gpu} == {"cpu"}
    assert len(ours) == len(cpu)
    for (a, y), (b, z) in zip(ours, cpu):
        assert a.dtype == torch.uint8 and a.shape == b.shape and torch.equal(y, z)
        diff = (a.int() - b.int()).abs()
        if image_size is None:
            assert diff.max() == 0  # the stored size: the same decoder's pixels exactly
        else:  # the same windows and flips; two bilinear resizes, each within RESIZE_TOLERANCE of TensorFlow's
            assert diff.max() <= 2 * RESIZE_TOLERANCE[0] and diff.float().mean() <= 2 * RESIZE_TOLERANCE[1]


def test_channels_last_and_presets_the_gpu_does_not_do(datasets, fake_gpu):
    images, _ = next(iter(tfrec.torch.loader(datasets["imagefolder"], batch_size=3, decode_device="cpu",
                                             channels_last=True, image_size=(16, 12))))
    assert images.shape == (3, 16, 12, 3) and images.is_contiguous()
    with pytest.raises(UsageError, match="augment 'cifar' is not done on the GPU; presets there: none, imagenet"):
        tfrec.torch.loader(datasets["imagefolder"], decode_device="cpu", augment="cifar", image_size=(16, 12))
