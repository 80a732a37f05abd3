"""With augment none, tfrec.torch's labels and pixels are make_dataset's for the same records (raw exact, JPEG close)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import tfrec  # noqa: E402
import tfrec.torch  # noqa: E402
from tfrec.access.decode import JPEG_TOLERANCE  # noqa: E402



def _ours(path, split):
    out = []
    for images, labels in tfrec.torch.loader(path, split=split, batch_size=16, channels_last=True):
        out += [(img.numpy(), int(l)) for img, l in zip(images, labels)]
    return out


def _make_dataset(path, split, image_size=None):
    ds = tfrec.make_dataset(path, split=split, batch_size=16, shuffle=False, dtype="uint8", image_size=image_size)
    return [(img, int(l)) for images, labels in ds.as_numpy_iterator() for img, l in zip(images, labels)]


@pytest.mark.parametrize("fmt", ["cifar10", "mnist"])
def test_raw_pixels_and_labels_are_exactly_make_datasets(datasets, fmt):
    ours, theirs = _ours(datasets[fmt], "test"), _make_dataset(datasets[fmt], "test")
    key = lambda s: (s[0].tobytes(), s[1])  # noqa: E731  (make_dataset interleaves shards: compare as sets)
    assert sorted(map(key, ours)) == sorted(map(key, theirs))


def test_jpeg_pixels_are_make_datasets_within_the_decoder_tolerance(datasets):
    ours, theirs = _ours(datasets["imagefolder"], "train"), _make_dataset(datasets["imagefolder"], "train", (20, 24))  # the stored size
    assert len(ours) == len(theirs)
    largest, mean = JPEG_TOLERANCE
    for img, label in ours:  # each of ours is the nearest of make_dataset's, with the same label
        diffs = [np.abs(img.astype(int) - t.astype(int)) if t.shape == img.shape else None for t, _ in theirs]
        k = int(np.argmin([d.mean() if d is not None else np.inf for d in diffs]))
        assert theirs[k][1] == label
        assert diffs[k].max() <= largest and diffs[k].mean() <= mean
