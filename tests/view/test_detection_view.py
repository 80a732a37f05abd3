"""tfrec view on detection records: thumbnails and full images with boxes, class names and masks drawn on."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tfrec.check import detection as D
from tfrec.codec.example import decode_example
from tfrec.io.records import iter_records
from tfrec.view.source import DatasetView
from tfrec.view.thumbs import Thumbnails

from ..detection_records import H, W, scenes


def test_thumbnails_and_full_images_show_the_boxes(tmp_path):
    path = scenes(tmp_path, 4)
    view = DatasetView([path])
    assert view.label_map == {1: "cat", 2: "dog", 3: "bird"}
    thumbs = Thumbnails(view)
    records = {r.index: decode_example(r.data) for r in iter_records(path)}
    for i, ex in records.items():
        objects = D.objects_of(ex)
        card = thumbs.card(0, i)
        assert card.reason == "" and card.size == (H, W)
        body, ctype, reason = thumbs.full(0, i)
        assert reason == "" and ctype == "image/png"  # drawn on, so not the stored bytes
        assert body != ex["image/encoded"][1][0]
        for picture in (card.body, body):
            img = np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))
            h, w = img.shape[:2]
            for (y0, x0, y1, x1), c in zip(objects.boxes, objects.classes):
                assert (img[int((y0 + y1) / 2 * h), int(round(x0 * w))] == D.PALETTE[c]).all(), (i, c)


def test_a_malformed_label_map_is_a_viewer_problem_not_a_crash(tmp_path):
    path = scenes(tmp_path, 2)
    (tmp_path / "png" / "label_map.pbtxt").write_text("item { id: 0 name: 'background' }")
    view = DatasetView([path])
    assert view.label_map is None and any("1-based" in p for p in view.problems)
    assert Thumbnails(view).card(0, 1).reason == ""
