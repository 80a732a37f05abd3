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

    path = draw_confusion(m["confusion"], list(names), str(tmp_path / "c.png"))
    assert Image.open(path).size[0] > 12 * 8


@pytest.mark.parametrize("label", [-1, 3, 2 ** 40])
def test_a_label_outside_the_classes_is_refused(label):
    from tfrec.training.evaluate import LabelOutsideClasses

    with pytest.raises(LabelOutsideClasses, match=rf"label {label} is outside the 3 classes \(0-2\)"):
        classification_metrics(np.array([0, 1, label, 2]), np.zeros((4, 3)), 3)
