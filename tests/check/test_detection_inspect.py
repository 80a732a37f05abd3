"""Detection records on inspect's contact sheet: boxes, class names (from label_map.pbtxt) and masks drawn on."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tfrec.check import detection as D
from tfrec.check import grid
from tfrec.check.inspect import InspectOptions, inspect
from tfrec.codec.example import decode_example

from ..detection_records import H, W, example, png_mask, scenes


def test_draw_objects_outlines_boxes_in_the_class_colour_and_tints_masks():
    box = (0.25, 0.25, 0.75, 0.75)
    ex = decode_example(example([box], [2], H, W, **{"image/object/mask": ("bytes", [png_mask(H, W, box)])}))
    objects = D.objects_of(ex)
    black = Image.new("RGB", (W, H))
    out = np.asarray(D.draw_objects(black, objects, {2: "dog"}))
    colour = np.array(D.PALETTE[2])
    edge = out[H * 3 // 4, W // 2]  # the bottom edge of the box, mid-way
    assert (edge == colour).all()
    inside = out[H // 2, W // 2].astype(float)  # tinted by the mask, not outlined
    np.testing.assert_allclose(inside, colour * D.MASK_ALPHA, atol=1.5)
    assert (out[2, 2] == 0).all()  # outside everything: untouched
    assert D.caption_of(objects, {2: "dog"}) == "1: dog"
    assert D.caption_of(D.objects_of(decode_example(example([box, box, box], [2, 1, 2]))), None) == "3: dog x2, cat"


def test_contact_sheet_of_a_foreign_detection_shard_draws_boxes(tmp_path, monkeypatch):
    path = scenes(tmp_path, 6)
    shown = []
    real = grid.make_contact_sheet

    def spy(images, captions, out, columns=None):
        shown.extend(zip(images, captions))
        return real(images, captions, out, columns)

    monkeypatch.setattr(grid, "make_contact_sheet", spy)
    report = inspect([path], InspectOptions(grid=str(tmp_path / "sheet.png"), progress=False, workers=1))
    assert report.written["grid"]["images"] == 6
    for i, (image, caption) in enumerate(shown):
        objects = D.objects_of(decode_example(open_record(path, i)))
        assert caption == D.caption_of(objects, {1: "cat", 2: "dog", 3: "bird"})
        for (y0, x0, y1, x1), c in zip(objects.boxes, objects.classes):
            # the box's left edge, half-way down, is painted in the class's palette colour
            assert (image[int((y0 + y1) / 2 * H), int(round(x0 * W))] == D.PALETTE[c]).all(), (i, c)


def open_record(path: str, i: int) -> bytes:
    from tfrec.io.records import iter_records

    return next(r.data for r in iter_records(path) if r.index == i)


def test_augmented_contact_sheet_draws_the_moved_boxes(tmp_path, monkeypatch):
    path = scenes(tmp_path, 8)
    shown = []
    real = grid.make_contact_sheet

    def spy(images, captions, out, columns=None):
        shown.extend(zip(images, captions))
        return real(images, captions, out, columns)

    monkeypatch.setattr(grid, "make_contact_sheet", spy)
    inspect([path], InspectOptions(grid=str(tmp_path / "sheet.png"), augment="imagenet", grid_images=8, progress=False,
                                   workers=1))
    assert len(shown) == 8
    palette = {tuple(c) for c in D.PALETTE}  # never made by resizing the scenes' pure red, green, blue on black
    with_boxes = 0
    for image, caption in shown:
        assert image.shape == (224, 224, 3)
        colours = {tuple(px) for px in image.reshape(-1, 3).tolist()}
        if caption == "0 objects":  # every box dropped by the crop (or none): nothing drawn
            assert not colours & palette
        else:
            assert int(caption.split(":")[0]) >= 1 and colours & palette
            with_boxes += 1
    assert with_boxes >= 1
