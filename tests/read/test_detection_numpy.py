"""The NumPy box rules (tfrec.access.detection) agree with the tf.data reader's (tfrec.read.detection)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrec.access import detection as A
from tfrec.read import detection as R


def test_crop_rule_agrees_on_random_boxes_and_windows():
    rng = np.random.default_rng(0)
    for _ in range(20):
        shape = (int(rng.integers(50, 500)), int(rng.integers(50, 500)))
        h, w = int(rng.integers(1, shape[0] + 1)), int(rng.integers(1, shape[1] + 1))
        window = (int(rng.integers(0, shape[0] - h + 1)), int(rng.integers(0, shape[1] - w + 1)), h, w)
        lo = rng.uniform(0, 1, (30, 2))
        boxes = np.concatenate([lo, lo + rng.uniform(0, 0.5, (30, 2))], 1)[:, [0, 1, 2, 3]].astype(np.float32)
        boxes = np.clip(boxes, 0, 1)
        want, keep = A.crop_boxes(boxes, window, shape, 0.25)
        got, got_keep = R.crop_boxes(tf.constant(boxes), tf.constant(window), tf.constant(shape), 0.25)
        # a box exactly at the 25% limit may fall either side in float32: allow a rare disagreement there
        assert (got_keep.numpy() != keep).sum() <= 1
        both = keep & got_keep.numpy()
        np.testing.assert_allclose(got.numpy()[both], want[both], atol=1e-5)


def test_flips_agree():
    boxes = np.random.default_rng(1).uniform(0, 1, (7, 4)).astype(np.float32)
    got = R.flip_boxes(tf.constant(boxes[None]), tf.constant([True]), True).numpy()[0]
    np.testing.assert_allclose(got, A.flip_boxes(boxes), atol=1e-6)
