"""Evaluation figures from labels and logits: accuracy, top-5 above 10 classes, per class, confusion picture."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from tfrec.training.evaluate import classification_metrics, draw_confusion  # noqa: E402


def test_metrics_and_confusion(tmp_path):
    labels = np.array([0, 1, 2, 2, 11])
    logits = np.full((5, 12), -5.0)
    logits[[0, 1, 2, 3, 4], [0, 2, 2, 2, 0]] = 5.0  # record 1 and record 4 wrong
    logits[1, 1] = logits[4, 11] = 4.0  # ... but their labels come second: in the top 5
    names = tuple(f"c{i}" for i in range(12))
    m = classification_metrics(labels, logits, 12, names)
    assert m["accuracy"] == pytest.approx(0.6) and m["records"] == 5
    assert m["top5_accuracy"] == pytest.approx(1.0)
    assert m["per_class"][2] == {"class": 2, "name": "c2", "records": 2, "accuracy": 1.0}
    assert m["per_class"][1]["accuracy"] == 0.0 and m["per_class"][5]["accuracy"] is None
    assert m["confusion"][1][2] == 1 and m["confusion"][11][0] == 1 and sum(map(sum, m["confusion"])) == 5
    assert m["loss"] > 0
    small = classification_metrics(labels[:4], logits[:4, :10], 10)
    assert small["top5_accuracy"] is None
    from PIL import Image

    picture = draw_confusion(m["confusion"], list(names), str(tmp_path / "c.png"))
    assert Image.open(picture.path).size[0] > 12 * 8


@pytest.mark.parametrize("label", [-1, 3, 2 ** 40])
def test_a_label_outside_the_classes_is_refused(label):
    from tfrec.training.evaluate import LabelOutsideClasses

    with pytest.raises(LabelOutsideClasses, match=rf"label {label} is outside the 3 classes \(0-2\)"):
        classification_metrics(np.array([0, 1, label, 2]), np.zeros((4, 3)), 3)


def _luminance(rgb) -> float:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("names", [["cat", "dog", "a rather long class name, cut"], [str(i) for i in range(12)]])
def test_confusion_picture_labels_both_axes_and_has_a_colour_bar(tmp_path, names):
    # Issue 24 item 11: no predicted-class labels, no legend, black counts on dark cells.
    from PIL import Image

    k = len(names)
    confusion = np.eye(k, dtype=np.int64) * 9
    confusion[0, 1] = 1  # class 0: 9 right (a dark cell), 1 wrong (a light one)
    picture = draw_confusion(confusion.tolist(), names, str(tmp_path / "c.png"))
    assert picture.row_title == "true class" and picture.column_title == "predicted class"
    drawn = tuple(n if len(n) <= 16 else n[:15] + "…" for n in names)
    assert picture.row_labels == drawn and picture.column_labels == drawn
    assert picture.colour_bar_ticks == ("0%", "50%", "100%")
    img = Image.open(picture.path)
    assert img.size == picture.size
    assert "Columns: predicted class" in img.text["Description"] and "Rows: true class" in img.text["Description"]
    pixels = np.asarray(img.convert("RGB"), np.float64)
    # The colour bar runs from the darkest colour (100%, at the top) to the lightest (0%, at the bottom).
    x0, y0, x1, y1 = picture.colour_bar_box
    bar = _luminance(pixels[y0 + 2:y1 - 2, x0 + 2:x1 - 2].mean(1))  # inside its outline
    assert bar[0] < bar[-1] - 150 and (np.diff(bar) >= -1).all()


def test_confusion_counts_contrast_with_their_cells(tmp_path):
    from PIL import Image

    confusion = [[9, 1], [0, 10]]
    picture = draw_confusion(confusion, ["cat", "dog"], str(tmp_path / "c.png"))
    pixels = np.asarray(Image.open(picture.path).convert("RGB"), np.float64)
    for (i, j), dark in (((0, 0), True), ((1, 1), True), ((0, 1), False)):
        x0, y0, x1, y1 = picture.cell_box(i, j)
        cell = pixels[y0 + 2:y1 - 2, x0 + 2:x1 - 2]  # inside the grid lines
        fill = np.median(cell.reshape(-1, 3), 0)
        text = cell[np.abs(cell - fill).sum(-1) > 60]  # the count's pixels: far from the fill colour
        assert len(text) > 5, (i, j)  # the count is drawn
        assert (_luminance(fill) < 100) == dark, (i, j, fill)
        contrast = _luminance(text).mean() - _luminance(fill)
        assert (contrast > 100) if dark else (contrast < -100), (i, j, fill, _luminance(text).mean())
