"""tfrec's own detection datasets (convert of a COCO layout, dataset.json with the detection schemas) verify clean
and read with task='detection': masks and boxes still agree after a random resized crop and a flip."""
from __future__ import annotations

import numpy as np

from tfrec.check.verify import VerifyOptions, verify
from tfrec.demo.synth_detection import write_detection_coco
from tfrec.read.augment import RandomFlip, RandomResizedCrop
from tfrec.read.pipeline import make_dataset
from tfrec.write.convert import ConvertOptions, convert


def test_converted_coco_with_masks_verifies_and_reads(tmp_path):
    src = write_detection_coco(str(tmp_path / "coco"), n_train=24, n_val=4, seed=1)
    out = str(tmp_path / "out")
    convert(src, out, ConvertOptions(schema="instance_segmentation", shards=2, progress=False, workers=1))
    report = verify([out], VerifyOptions(level="decode", progress=False, workers=1))
    assert report.ok, [str(p) for p in report.problems]
    assert any("label_map.pbtxt" in n for n in report.notes)
    # crops of at least half the ~96x72 images, to 64x64: a source pixel is at most ~1.3 output pixels
    augment = [RandomResizedCrop(scale=(0.5, 1.0)), RandomFlip()]
    ds = make_dataset(out, task="detection", augment=augment, image_size=64, batch_size=8, seed=0,
                      instance_masks=True, dtype="uint8")
    names = ds.label_map
    assert sorted(names) == list(range(1, len(names) + 1))
    seen = 0
    for images, targets in ds:
        boxes, masks, counts = targets["boxes"].numpy(), targets["masks"].numpy(), targets["num_boxes"].numpy()
        classes = targets["classes"].numpy()
        assert images.shape[1:] == (64, 64, 3)
        for i, n in enumerate(counts):
            assert set(classes[i, :n].tolist()) <= set(names) and (classes[i, n:] == 0).all()
            for b, m in zip(boxes[i, :n], masks[i, :n]):
                ys, xs = np.nonzero(m)
                if len(ys) < 4:
                    continue  # a sliver of a shape left by the crop
                # the shape's mask lies inside its (clipped) box, and its extent reaches the box's edges
                # margin: a source pixel (polygon rasterised vs box edges) and the nearest-neighbour resize
                assert ys.min() >= b[0] * 64 - 3 and ys.max() + 1 <= b[2] * 64 + 3, (b, ys.min(), ys.max())
                assert xs.min() >= b[1] * 64 - 3 and xs.max() + 1 <= b[3] * 64 + 3, (b, xs.min(), xs.max())
                seen += 1
    assert seen > 10
