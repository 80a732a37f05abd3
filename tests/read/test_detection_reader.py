"""make_dataset(task='detection'): padded or ragged boxes, max_boxes, the crop rule, refused augmentations."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfrec.errors import TfrecError
from tfrec.read.augment import RandomBrightness, RandomFlip
from tfrec.read.detection import crop_boxes, pad_boxes
from tfrec.read.pipeline import make_dataset

from ..detection_records import H, W, check_colours, scene, scenes


def test_padded_batches_without_augmentation(tmp_path):
    path = scenes(tmp_path)
    ds = make_dataset(path, task="detection", image_size=(H, W), batch_size=4, shuffle=False)
    assert ds.label_map == {1: "cat", 2: "dog", 3: "bird"}
    batches = list(ds)
    assert len(batches) == 3
    for b, (images, targets) in enumerate(batches):
        counts = targets["num_boxes"].numpy()
        assert images.shape == (4, H, W, 3) and images.dtype == tf.float32
        assert targets["boxes"].shape == (4, counts.max(), 4)  # padded to the most boxes in the batch
        assert targets["classes"].dtype == tf.int64 and targets["num_boxes"].dtype == tf.int32
        for i, n in enumerate(counts):
            _, boxes, labels, _ = scene(4 * b + i, "png")
            np.testing.assert_allclose(targets["boxes"][i, :n], np.array(boxes, np.float32).reshape(-1, 4), atol=1e-6)
            assert targets["classes"][i, :n].numpy().tolist() == labels
        assert check_colours(images, targets) == counts.sum()


def test_max_boxes_pads_to_a_fixed_count_and_keeps_the_first(tmp_path):
    path = scenes(tmp_path)
    for images, targets in make_dataset(path, task="detection", image_size=32, batch_size=6, shuffle=False,
                                        max_boxes=5):
        assert targets["boxes"].shape[1:] == (5, 4) and targets["classes"].shape[1:] == (5,)
    _, targets = next(iter(make_dataset(path, task="detection", image_size=32, batch_size=12, shuffle=False,
                                        max_boxes=1)))
    assert targets["boxes"].shape[1:] == (1, 4) and targets["num_boxes"].numpy().max() == 1
    for i in range(12):
        _, boxes, labels, _ = scene(i, "png")
        if boxes:
            np.testing.assert_allclose(targets["boxes"][i, 0], boxes[0], atol=1e-6)


def test_ragged_boxes(tmp_path):
    path = scenes(tmp_path)
    images, targets = next(iter(make_dataset(path, task="detection", image_size=32, batch_size=6, shuffle=False,
                                             ragged_boxes=True)))
    assert isinstance(targets["boxes"], tf.RaggedTensor) and isinstance(targets["classes"], tf.RaggedTensor)
    assert targets["boxes"].row_lengths().numpy().tolist() == targets["num_boxes"].numpy().tolist()
    assert targets["boxes"].row_lengths().numpy().tolist() == [len(scene(i, "png")[1]) for i in range(6)]


def test_colour_ops_apply_and_geometric_ops_that_ignore_boxes_are_refused(tmp_path):
    path = scenes(tmp_path, 4)
    images, _ = next(iter(make_dataset(path, task="detection", image_size=32, batch_size=4,
                                       augment=[RandomFlip(), RandomBrightness(0.1)], seed=1)))
    assert images.shape == (4, 32, 32, 3)
    for preset in ("cifar", "mnist"):
        with pytest.raises(TfrecError, match=r"RandomCrop does not move boxes.*'none' or 'imagenet'"):
            make_dataset(path, task="detection", image_size=32, augment=preset)
    with pytest.raises(TfrecError, match=r"image_size"):
        make_dataset(path, task="detection")
    with pytest.raises(TfrecError, match=r"max_boxes: expected None with ragged_boxes"):
        make_dataset(path, task="detection", image_size=32, ragged_boxes=True, max_boxes=3)


def test_crop_rule_keeps_boxes_with_a_quarter_visible_and_drops_the_rest():
    boxes = tf.constant([[0.0, 0.0, 0.5, 0.5],    # wholly inside the window
                         [0.0, 0.3, 0.5, 0.7],    # half inside: clipped
                         [0.0, 0.44, 0.5, 0.64],  # 30% inside: kept, clipped
                         [0.0, 0.46, 0.5, 0.66],  # 20% inside: dropped
                         [0.6, 0.6, 0.9, 0.9]])   # outside: dropped
    window = tf.constant([0, 0, 100, 50])  # rows 0-99, columns 0-49 of a 100x100 image
    moved, keep = crop_boxes(boxes, window, tf.constant([100, 100]), 0.25)
    assert keep.numpy().tolist() == [True, True, True, False, False]
    np.testing.assert_allclose(moved.numpy()[:3], [[0, 0, 0.5, 1], [0, 0.6, 0.5, 1], [0, 0.88, 0.5, 1]], atol=1e-6)


def test_pad_boxes_follow_resize_with_pad():
    image = np.zeros((30, 60, 1), np.float32)
    image[10:20, 15:45] = 1
    padded = tf.image.resize_with_pad(image, 64, 64).numpy()[..., 0]
    box = pad_boxes(tf.constant([[10 / 30, 15 / 60, 20 / 30, 45 / 60]]), tf.constant([30, 60]), (64, 64)).numpy()[0]
    ys, xs = np.nonzero(padded > 0.5)
    np.testing.assert_allclose(box * 64, [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1], atol=1.0)


def test_a_record_whose_lists_disagree_is_read_as_far_as_they_agree(tmp_path):
    from ..detection_records import example, write_detection

    two = [(0.1, 0.1, 0.5, 0.5), (0.2, 0.2, 0.6, 0.6)]
    records = [example(two, [1, 2]), example(two, [1, 2], **{"image/object/class/label": ("int64", [3])})]
    path = write_detection(str(tmp_path), records)
    _, targets = next(iter(make_dataset(path, task="detection", image_size=16, batch_size=2, shuffle=False)))
    assert targets["num_boxes"].numpy().tolist() == [2, 1]
    assert targets["classes"].numpy().tolist() == [[1, 2], [3, 0]]
    np.testing.assert_allclose(targets["boxes"][1, 0], two[0], atol=1e-6)
