"""tfrec verify: every kind of damage is found with its shard, record index and byte offset; clean data is clean."""
from __future__ import annotations

import json
import os
import random
import shutil

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.codec.example import decode_example, encode_example
from tfrec.io.records import write_records
from tfrec.io.index import read_index
from tfrec.check.verify import VerifyOptions, verify

from ..damage import flip, offsets

QUIET = dict(progress=False, workers=1)


def copy(datasets, fmt, tmp_path) -> str:
    out = tmp_path / fmt
    shutil.copytree(datasets[fmt], out)
    return str(out)


def shard(directory: str, split: str = "train", i: int = 1) -> str:
    manifest = json.loads(open(os.path.join(directory, "dataset.json")).read())
    return os.path.join(directory, manifest["splits"][split]["shards"][i]["file"])


def problems(directory, **options):
    report = verify([directory], VerifyOptions(**{**QUIET, **options}))
    return report, [(os.path.basename(p.file), p.record, p.offset, p.check, p.reason) for p in report.problems]


def cli_verify(*args):
    return CliRunner().invoke(cli, ["verify", "-q", *map(str, args)])


# ---------------------------------------------------------------- clean data


@pytest.mark.parametrize("fmt", ["mnist", "cifar10", "cifar100", "imagefolder"])
def test_clean_dataset_is_clean_at_every_level(datasets, fmt):
    for level in ("framing", "parse", "decode"):
        report, found = problems(datasets[fmt], level=level)
        assert report.ok, found
        assert report.records == sum(s["records"] for s in json.load(open(os.path.join(datasets[fmt], "dataset.json")))["splits"].values())


def test_cli_clean_exit_0_and_json(datasets):
    result = CliRunner().invoke(cli, ["verify", datasets["mnist"], "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["problems"] == [] and data["records"] == 70 and data["files"] == 6


def test_cli_help_and_usage_errors(tmp_path):
    result = CliRunner().invoke(cli, ["verify", "--help"])
    assert result.exit_code == 0 and "--deep" in result.output and "--max-errors" in result.output
    assert CliRunner().invoke(cli, ["verify", str(tmp_path / "nothing")]).exit_code == 2
    assert CliRunner().invoke(cli, ["verify"]).exit_code == 2
    assert CliRunner().invoke(cli, ["verify", str(tmp_path), "--level", "bogus"]).exit_code == 2


# ---------------------------------------------------------------- framing damage


def test_flipped_data_byte(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    path = shard(d)
    at = offsets(path)[3]
    flip(path, at + 12 + 100)
    report, found = problems(d)
    name = os.path.basename(path)
    assert found[0] == (name, 3, at, "framing", "data CRC mismatch (the record's bytes are damaged)")
    assert any(f[0] == name and "checksum" in f[4] for f in found)  # the dataset level agrees
    result = cli_verify(d)
    assert result.exit_code == 1
    assert f"{name}: record 3 at byte {at}: data CRC mismatch" in result.stdout


def test_flipped_length_field_resyncs_and_keeps_going(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    path = shard(d)
    offs = offsets(path)
    flip(path, offs[2] + 1)  # the length field of record 2
    flip(path, offs[5] + 12 + 40)  # and the data of record 5, after it
    _, found = problems(d, level="framing", dataset=False)
    assert [(f[1], f[2]) for f in found] == [(2, offs[2]), (5, offs[5])]
    assert "length CRC mismatch" in found[0][4] and f"next valid record at byte {offs[3]}" in found[0][4]
    assert "data CRC mismatch" in found[1][4]


def test_truncated_mid_record(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    path = shard(d)
    offs = offsets(path)
    with open(path, "r+b") as f:
        f.truncate(offs[4] + 20)
    report, found = problems(d)
    assert found[0][:3] == (os.path.basename(path), 4, offs[4])
    assert found[0][4].startswith("truncated record")
    assert any("the shard ends after 4 records" in f[4] for f in found)
    assert any("bytes; dataset.json says" in f[4] for f in found)


@pytest.mark.parametrize("garbage", [b"abc", os.urandom(100)])
def test_appended_garbage(datasets, tmp_path, garbage):
    d = copy(datasets, "cifar10", tmp_path)
    path = shard(d, "test", 0)
    size = os.path.getsize(path)
    records = len(offsets(path))
    with open(path, "ab") as f:
        f.write(garbage)
    _, found = problems(d)
    first = found[0]
    assert first[:4] == (os.path.basename(path), records, size, "framing")
    assert ("trailing bytes" in first[4]) if len(garbage) < 12 else ("no valid record" in first[4])


def test_flipped_index_line(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    path = shard(d, "test", 1)
    lines = open(path + ".idx").read().splitlines()
    o, n = lines[1].split()
    lines[1] = f"{int(o) + 1} {n}"
    open(path + ".idx", "w").write("\n".join(lines) + "\n")
    _, found = problems(d)
    assert found == [(os.path.basename(path) + ".idx", 1, int(o), "dataset",
                      f"line 2 says '{int(o) + 1} {n}'; the record is at byte {o}, {n} bytes long")]


# ---------------------------------------------------------------- dataset damage


def test_deleted_and_extra_shards(datasets, tmp_path):
    d = copy(datasets, "cifar100", tmp_path)
    gone = shard(d, "train", 2)
    os.remove(gone)
    shutil.copy(shard(d, "train", 0), os.path.join(d, "cifar100-train.tfrecord-00009-of-00010"))
    report, found = problems(d)
    assert (os.path.basename(gone), None, None, "dataset", "listed in dataset.json but missing") in found
    assert ("cifar100-train.tfrecord-00009-of-00010", None, None, "dataset", "a shard file not listed in dataset.json") in found
    assert cli_verify(d).exit_code == 1


def test_edited_counts_in_dataset_json(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    manifest_path = os.path.join(d, "dataset.json")
    manifest = json.load(open(manifest_path))
    entry = manifest["splits"]["train"]["shards"][0]
    real = entry["records"]
    entry["records"] = real + 1
    manifest["splits"]["test"]["records"] += 5
    json.dump(manifest, open(manifest_path, "w"))
    path = os.path.join(d, entry["file"])
    _, found = problems(d, level="framing")
    assert (os.path.basename(path), real, os.path.getsize(path), "dataset",
            f"the shard ends after {real} records; dataset.json lists {real + 1}") in found
    assert any(f[0] == "dataset.json" and "split 'test' lists" in f[4] for f in found)


def test_malformed_dataset_json_is_a_problem_not_a_crash(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    open(os.path.join(d, "dataset.json"), "w").write('{"splits": ')
    report, found = problems(d)
    assert not report.ok and found[0][0] == "dataset.json" and "not valid JSON" in found[0][4]
    assert cli_verify(d).exit_code == 1


# ---------------------------------------------------------------- parse and decode damage


def rewrite_record(path: str, index: int, change) -> int:
    """Re-frames one record of a shard after change(features); returns its offset (the .idx is rewritten too)."""
    payloads = [r for r in _records(path)]
    features = {k: (kind, v) for k, (kind, v) in decode_example(payloads[index]).items()}
    change(features)
    payloads[index] = encode_example(features)
    write_records(path, payloads)
    return offsets(path)[index]


def _records(path):
    data = open(path, "rb").read()
    for o, n in read_index(path + ".idx").tolist():
        yield data[o + 12 : o + n - 4]


def test_undecodable_image_found_by_deep_verify(datasets, tmp_path):
    d = copy(datasets, "imagefolder", tmp_path)
    path = shard(d, "train", 0)
    at = rewrite_record(path, 2, lambda f: f.update(image=("bytes", [b"\xff\xd8\xff\xe0 this is not a JPEG"])))
    report, found = problems(d, level="parse", dataset=False)
    assert report.ok  # framing and Example structure are intact
    report, found = problems(d, level="decode", dataset=False)
    assert len(found) == 1 and found[0][:4] == (os.path.basename(path), 2, at, "decode")
    assert "image 'image': does not decode" in found[0][4]
    result = cli_verify(d, "--deep", "--no-dataset")
    assert result.exit_code == 1 and f"record 2 at byte {at}: image 'image': does not decode" in result.stdout


def test_label_out_of_range_and_wrong_image_size(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    path = shard(d, "train", 0)
    at_label = rewrite_record(path, 1, lambda f: f.update(label=("int64", [12])))
    at_image = rewrite_record(path, 4, lambda f: f.update(image=("bytes", [b"\0" * 700])))
    _, found = problems(d, level="decode", dataset=False)
    assert (os.path.basename(path), 4, at_image, "parse", "raw image 'image' is 700 bytes; shape [28, 28, 1] needs 784") in found
    assert (os.path.basename(path), 1, at_label, "decode", "label 'label' = 12 is outside [0, 10)") in found


def test_not_an_example_and_missing_key(datasets, tmp_path):
    d = copy(datasets, "cifar10", tmp_path)
    path = shard(d, "train", 0)
    payloads = list(_records(path))
    payloads[0] = b"\x0a\x05oops"  # a field that claims more bytes than there are
    payloads[1] = encode_example({"label": 3})
    write_records(path, payloads)
    _, found = problems(d, dataset=False)
    assert found[0][1:4] == (0, 0, "parse") and "not a tf.train.Example" in found[0][4]
    assert found[1][1] == 1 and found[1][4] == "feature 'image' is missing"


def test_max_errors_caps_the_list(datasets, tmp_path):
    d = copy(datasets, "mnist", tmp_path)
    path = shard(d)
    for o in offsets(path):
        flip(path, o + 20)
    report, found = problems(d, max_errors=5, dataset=False)
    assert len(found) == 5 and report.problems_found >= 5
    result = CliRunner().invoke(cli, ["verify", d, "--max-errors", "3", "--json", "--no-dataset"])
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and len(data["problems"]) == 3 and data["truncated"]


def test_parallel_workers_find_the_same(datasets, tmp_path):
    d = copy(datasets, "cifar10", tmp_path)
    path = shard(d, "train", 1)
    flip(path, offsets(path)[2] + 50)
    one = verify([d], VerifyOptions(progress=False, workers=1)).problems
    two = verify([d], VerifyOptions(progress=False, workers=2)).problems
    assert one == two and one[0].record == 2


def test_random_damage_never_crashes(datasets, tmp_path):
    rng = random.Random(7)
    d = copy(datasets, "imagefolder", tmp_path)
    path = shard(d, "train", 1)
    original = open(path, "rb").read()
    for _ in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        open(path, "wb").write(bytes(data))
        report = verify([d], VerifyOptions(progress=False, workers=1, level="decode"))
        assert not report.ok or bytes(data) == original


# ---------------------------------------------------------------- foreign files


def test_foreign_files_plain_and_compressed(tmp_path):
    payloads = [encode_example({"x": i, "y": ("float", [1.5] * (i % 3))}) for i in range(30)]
    write_records(str(tmp_path / "a.tfrecord"), payloads)
    write_records(str(tmp_path / "b.tfrecord.gz"), payloads, "gzip")
    write_records(str(tmp_path / "c.tfrecord.z"), payloads, "zlib")
    report = verify([str(tmp_path / "*.tfrecord*")], VerifyOptions(**QUIET))
    assert report.ok and report.records == 90 and {s.compression for s in report.shards} == {"none", "gzip", "zlib"}
    data = bytearray((tmp_path / "b.tfrecord.gz").read_bytes())
    (tmp_path / "b.tfrecord.gz").write_bytes(bytes(data[: len(data) // 2]))
    report = verify([str(tmp_path)], VerifyOptions(**QUIET))
    assert {os.path.basename(p.file) for p in report.problems} == {"b.tfrecord.gz"}
    # The cut lands inside a record (reported first), then the gzip stream itself ends without its trailer.
    assert report.problems[0].reason.startswith("truncated record: ")  # its data, or only its CRC
    assert report.problems[-1].reason.startswith("the gzip stream ends early")


def test_foreign_file_checked_against_a_schema(tmp_path):
    path = str(tmp_path / "f.tfrecord")
    write_records(path, [encode_example({"image": b"\0" * 12, "label": 3}), encode_example({"label": 1})])
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"name": "s", "features": {
        "image": {"kind": "image", "encoding": "raw", "shape": [2, 2, 3]},
        "label": {"kind": "class_label", "num_classes": 2}}}))
    report = verify([path], VerifyOptions(schema=str(schema), level="decode", **QUIET))
    assert [(p.record, p.reason) for p in report.problems] == [
        (0, "label 'label' = 3 is outside [0, 2)"), (1, "feature 'image' is missing")]


def test_tensorflow_written_file(tmp_path):
    tf = pytest.importorskip("tensorflow")
    for compression, name in (("", "tf.tfrecord"), ("GZIP", "tf.tfrecord.gz")):
        with tf.io.TFRecordWriter(str(tmp_path / name), tf.io.TFRecordOptions(compression_type=compression)) as w:
            for i in range(25):
                w.write(encode_example({"v": [float(i)] * 3, "s": b"x" * i}))
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "*.tfrecord*"), "--json", "--deep"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["records"] == 50 and data["files"] == 2


@pytest.mark.parametrize("edit", [
    lambda m: m.update(splits=[]),
    lambda m: m["splits"]["train"].update(shards=[{"records": 3}]),
    lambda m: m["splits"]["train"].update(shards="nope"),
    lambda m: m.update(schema={"name": "x"}),
    lambda m: m.update(compression="lzma"),
])
def test_odd_dataset_json_values_are_problems(datasets, tmp_path, edit):
    d = copy(datasets, "mnist", tmp_path)
    manifest = json.load(open(os.path.join(d, "dataset.json")))
    edit(manifest)
    json.dump(manifest, open(os.path.join(d, "dataset.json"), "w"))
    report, found = problems(d)
    assert not report.ok and found[0][0] == "dataset.json", found


def test_truncated_and_mislabelled_images(datasets, tmp_path):
    d = copy(datasets, "imagefolder", tmp_path)
    path = shard(d, "train", 2)
    at_cut = rewrite_record(path, 0, lambda f: f.update(image=("bytes", [f["image"][1][0][:-40]])))
    at_size = rewrite_record(path, 1, lambda f: f.update(height=("int64", [f["height"][1][0] + 1])))
    _, found = problems(d, level="decode", dataset=False)
    reasons = {(f[1], f[2]): f[4] for f in found}
    # Pillow reads only the header; the cut JPEG is caught by its missing end-of-image marker.
    assert reasons[(0, at_cut)] == "image 'image': truncated JPEG: no end-of-image marker after the image data"
    assert "but feature 'height' says" in reasons[(1, at_size)]
