"""verify on detection records (the Object Detection API's keys), foreign ones too: boxes, list lengths, labels, masks."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tfrec.check import detection as D
from tfrec.check.verify import VerifyOptions, verify
from tfrec.cli.main import cli
from tfrec.codec.example import decode_example
from tfrec.errors import TfrecError
from tfrec.io.index import read_index

from ..detection_records import NAMES, clean_records, example, label_map_text, png_mask, write_detection

QUIET = dict(progress=False, workers=1)


def found(path, **options):
    report = verify([str(path)], VerifyOptions(**{**QUIET, **options}))
    return report, [(p.record, p.offset, p.check, p.reason) for p in report.problems]


def test_clean_foreign_detection_shard_is_clean_at_parse_and_decode(tmp_path):
    shard = write_detection(str(tmp_path), clean_records(8, masks=True))
    for level in ("parse", "decode"):
        report, problems = found(shard, level=level)
        assert report.ok, problems
        assert report.records == 8
        assert any("detection" in n for n in report.notes), report.notes


def test_box_outside_unit_square_in_record_2_names_record_and_offset(tmp_path):
    records = clean_records(5)
    records[2] = example([(0.1, 0.2, 0.5, 1.3)], [1], seed=2)  # xmax 1.3: not normalised
    shard = write_detection(str(tmp_path), records)
    report, problems = found(shard)
    assert not report.ok
    assert len(problems) == 1
    record, offset, check, reason = problems[0]
    assert record == 2 and offset == int(read_index(shard + ".idx")[2, 0])
    assert "object 0" in reason and "xmax" in reason and "1.3" in reason
    result = CliRunner().invoke(cli, ["verify", "-q", shard])
    assert result.exit_code == 1
    assert "record 2" in result.stdout and f"byte {offset}" in result.stdout


@pytest.mark.parametrize("box, words", [
    ((0.5, 0.2, 0.4, 0.6), "ymin 0.5 >= ymax 0.4"),
    ((0.1, 0.6, 0.4, 0.6), "xmin 0.6 >= xmax 0.6"),
    ((-0.1, 0.2, 0.4, 0.6), "ymin -0.1"),
    ((0.1, 0.2, float("nan"), 0.6), "not finite"),
])
def test_each_bad_box_is_named(tmp_path, box, words):
    shard = write_detection(str(tmp_path), [example([box], [1])])
    _, problems = found(shard)
    assert len(problems) == 1 and words in problems[0][3], problems


def test_unequal_list_lengths(tmp_path):
    records = clean_records(3)
    records[1] = example([(0.1, 0.1, 0.5, 0.5), (0.2, 0.2, 0.6, 0.6)], [1, 2], **{"image/object/is_crowd": [0]})
    shard = write_detection(str(tmp_path), records)
    _, problems = found(shard)
    assert [p[0] for p in problems] == [1]
    assert "image/object/is_crowd has 1 values; image/object/bbox/xmin has 2" in problems[0][3]


def test_labels_checked_against_label_map_beside_the_data(tmp_path):
    records = [example([(0.1, 0.1, 0.5, 0.5)], [7]), example([(0.1, 0.1, 0.5, 0.5)], [0])]
    shard = write_detection(str(tmp_path / "with"), records)
    _, problems = found(shard)
    assert [p[0] for p in problems] == [0, 1]
    assert "class/label 7" in problems[0][3] and "label_map.pbtxt" in problems[0][3]
    assert "class/label 0" in problems[1][3] and "1-based" in problems[1][3]
    # without a label map, 7 is fine (>= 1), 0 still is not
    bare = write_detection(str(tmp_path / "without"), records, label_map=False)
    _, problems = found(bare)
    assert [p[0] for p in problems] == [1]


def test_text_that_disagrees_with_the_label_map(tmp_path):
    rec = example([(0.1, 0.1, 0.5, 0.5)], [1], **{"image/object/class/text": [b"dog"]})
    _, problems = found(write_detection(str(tmp_path), [rec]))
    assert len(problems) == 1 and "'dog'" in problems[0][3] and "'cat'" in problems[0][3]


def test_masks_must_decode_and_match_the_image_size(tmp_path):
    box = [(0.1, 0.1, 0.5, 0.5)]
    records = [example(box, [1], **{"image/object/mask": [png_mask(10, 10, box[0])]}),
               example(box, [1], **{"image/object/mask": [b"\x89PNG\r\n\x1a\n-broken"]})]
    shard = write_detection(str(tmp_path), records)
    for level in ("parse", "decode"):
        _, problems = found(shard, level=level)
        assert [p[0] for p in problems] == [0, 1], problems
        assert "mask of object 0 is 10x10" in problems[0][3] and "48x64" in problems[0][3]
        assert "mask of object 0" in problems[1][3]


def test_problems_on_many_records_come_with_their_own_indices(tmp_path):
    records = clean_records(40)
    bad = [3, 17, 38]
    for i in bad:
        records[i] = example([(0.1, 0.2, 0.5, 1.01)], [1], seed=i)
    shard = write_detection(str(tmp_path), records)
    _, problems = found(shard)
    offsets = read_index(shard + ".idx")[:, 0]
    assert [(p[0], p[1]) for p in problems] == [(i, int(offsets[i])) for i in bad]


def test_json_output_lists_the_detection_problem(tmp_path):
    records = clean_records(3)
    records[2] = example([(0.1, 0.2, 0.5, 1.3)], [1])
    result = CliRunner().invoke(cli, ["verify", write_detection(str(tmp_path), records), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["problems"][0]["record"] == 2 and data["problems"][0]["check"] == "detection"


# ---------------------------------------------------------------- the rules alone (no TensorFlow)


def test_objects_of_reads_boxes_in_od_api_order():
    ex = decode_example(example([(0.1, 0.2, 0.5, 0.6), (0.3, 0.4, 0.7, 0.8)], [2, 3]))
    objects = D.objects_of(ex)
    np.testing.assert_allclose(objects.boxes, [[0.1, 0.2, 0.5, 0.6], [0.3, 0.4, 0.7, 0.8]], rtol=1e-6)
    assert objects.classes.tolist() == [2, 3] and objects.texts == ("dog", "bird")
    assert D.is_detection(ex) and not D.is_detection({"image": ("bytes", [b""])})


def test_label_map_round_trip_and_errors(tmp_path):
    path = tmp_path / "label_map.pbtxt"
    path.write_text(label_map_text() + "# a comment\nitem { name: \"fish\" id: 9 display_name: \"Fish\" }\n")
    assert D.read_label_map(str(path)) == {1: "cat", 2: "dog", 3: "bird", 9: "fish"}
    assert D.label_map_pbtxt({1: "cat", 2: "dog"}) == label_map_text(NAMES[:2])
    path.write_text("item {\n  id: 0\n  name: 'background'\n}\n")
    with pytest.raises(TfrecError, match=r"label_map.pbtxt.*id 0.*1-based"):
        D.read_label_map(str(path))
    path.write_text("item {\n  id: 1\n  name: 'a'\n}\nitem {\n  id: 1\n  name: 'b'\n}\n")
    with pytest.raises(TfrecError, match=r"label_map.pbtxt.*id 1 twice"):
        D.read_label_map(str(path))
    path.write_text("item { id: 1 \n")
    with pytest.raises(TfrecError, match=r"label_map.pbtxt"):
        D.read_label_map(str(path))


def test_malformed_label_map_is_a_problem_not_a_crash(tmp_path):
    shard = write_detection(str(tmp_path), clean_records(2))
    (tmp_path / "label_map.pbtxt").write_text("item { id: x }")
    report, problems = found(shard)
    assert not report.ok and "label_map.pbtxt" in report.problems[0].file


def test_semantic_segmentation_masks_are_checked_too(tmp_path):
    from ..detection_records import jpeg

    def record(mask: bytes) -> bytes:
        from tfrec.codec.example import encode_example

        return encode_example({"image/encoded": jpeg(48, 64), "image/height": [48], "image/width": [64],
                               "image/segmentation/class/encoded": mask, "image/segmentation/class/format": b"png"})

    shard = write_detection(str(tmp_path), [record(png_mask(48, 64)), record(png_mask(24, 32)), record(b"junk")],
                            label_map=False)
    _, problems = found(shard)
    assert [p[0] for p in problems] == [1, 2]
    assert "segmentation mask is 24x32 (HxW); the image is 48x64" in problems[0][3]
    assert "segmentation mask does not decode" in problems[1][3]
