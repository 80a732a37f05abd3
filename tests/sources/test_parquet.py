"""Parquet sources: files written by Hugging Face `datasets` and by pyarrow, column choice, splits, bounded memory."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.check.verify import VerifyOptions, verify
from tfrec.cli.main import cli
from tfrec.codec.example import decode_example
from tfrec.errors import SourceError
from tfrec.io import records
from tfrec.io.dataset import open_dataset
from tfrec.sources import detect_format
from tfrec.sources.parquet import split_of
from tfrec.write.convert import ConvertOptions, convert

NAMES = ["cat", "dog", "emu"]


def _png(value: int, size=(5, 4)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _records(out, split):
    return [decode_example(r.data) for p in open_dataset(out).shard_paths(split) for r in records.iter_records(p)]


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A Hugging Face layout written by `datasets` itself: data/{train,test}-00000-of-00001.parquet."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as HFImage

    root = tmp_path_factory.mktemp("hf") / "repo"
    (root / "data").mkdir(parents=True)
    features = Features({"img": HFImage(), "fine_label": ClassLabel(names=NAMES)})
    for split, n in (("train", 12), ("test", 5)):
        images = [Image.fromarray(np.full((4, 5, 3), 10 * i, np.uint8)) for i in range(n)]
        ds = Dataset.from_dict({"img": images, "fine_label": [i % 3 for i in range(n)]}, features=features)
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_files_written_by_datasets_convert_with_class_names_and_verify_clean(hf_folder, tmp_path):
    assert detect_format(str(hf_folder)) == "parquet"
    out = str(tmp_path / "o")
    result = convert(str(hf_folder), out, ConvertOptions(progress=False, shards=2))
    assert result["label_names"] == NAMES
    assert {k: v["records"] for k, v in result["splits"].items()} == {"train": 12, "test": 5}
    assert verify([out], VerifyOptions(level="decode")).ok
    table = pq.read_table(str(hf_folder / "data" / "train-00000-of-00001.parquet"))
    want = Counter((row["img"]["bytes"], row["fine_label"]) for row in table.to_pylist())
    got = Counter((r["image"][1][0], r["label"][1][0]) for r in _records(out, "train"))
    assert got == want  # the PNG bytes datasets stored, unchanged, with their labels
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(out)
    assert builder.info.features["label"].names == NAMES
    pairs = builder.as_dataset(split="test", as_supervised=True).as_numpy_iterator()
    assert sorted(int(y) for _, y in pairs) == sorted(i % 3 for i in range(5))


def test_split_names_from_file_names():
    assert split_of("data/train-00000-of-00003-8d2f.parquet") == "train"
    assert split_of("validation-00000-of-00001.parquet") == "val"
    assert split_of("x/unsupervised-00001-of-00002.parquet") == "unsupervised"
    assert split_of("test/0000.parquet") == "test"
    assert split_of("shard.parquet") == "train"


def test_columns_by_option_string_labels_and_shell_expanded_files(tmp_path):
    paths = []
    for i in range(2):
        table = pa.table({"pixels": [_png(i * 40 + j) for j in range(3)], "kind": ["b", "a", "b"], "n": [1, 2, 3]})
        paths.append(str(tmp_path / f"part{i}.parquet"))
        pq.write_table(table, paths[-1])
    with pytest.raises(SourceError, match=r"part0.parquet: no label column \(label, labels, fine_label\); columns: pixels \(binary\), kind \(string\), n \(int64\)"):
        convert(paths, str(tmp_path / "o0"), ConvertOptions(progress=False))
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", *paths, str(tmp_path / "o"), "--label-column", "kind", "--json", "--no-shuffle"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["label_names"] == ["a", "b"] and data["splits"]["train"]["records"] == 6
    assert [r["label"][1][0] for r in _records(str(tmp_path / "o"), "train")] == [1, 0, 1, 1, 0, 1]


def test_no_usable_image_column_lists_the_columns(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"caption": ["a", "b"], "label": [0, 1]}), str(path))
    with pytest.raises(SourceError, match=r"t.parquet: no usable image column .*columns: caption \(string\), label \(int64\); pass --image-column"):
        convert(str(path), str(tmp_path / "o"), ConvertOptions(progress=False))
    result = CliRunner().invoke(cli, ["convert", str(path), str(tmp_path / "o2"), "--image-column", "photo"])
    assert result.exit_code == 1
    assert "no column 'photo';" in result.output and "caption (string)" in result.output


def test_raw_array_column_is_stored_raw_and_null_images_are_skipped(tmp_path):
    from datasets import ClassLabel, Dataset

    arrays = np.arange(5 * 3 * 2, dtype=np.int64).reshape(5, 3, 2) % 256
    ds = Dataset.from_dict({"image": arrays.tolist(), "label": [0, 1, 0, 1, 1]}).cast_column("label", ClassLabel(names=["x", "y"]))
    ds.to_parquet(str(tmp_path / "a.parquet"))
    out = str(tmp_path / "o")
    result = convert(str(tmp_path / "a.parquet"), out, ConvertOptions(progress=False, shuffle=False))
    assert result["schema"]["features"]["image"]["encoding"] == "raw"
    assert result["schema"]["features"]["image"]["shape"] == [3, 2, 1] and result["label_names"] == ["x", "y"]
    assert [r["image"][1][0] for r in _records(out, "train")] == [a.astype(np.uint8).tobytes() for a in arrays]
    nulls = pa.table({"image": pa.array([_png(1), None, _png(2)], pa.binary()), "label": [0, 1, 1]})
    pq.write_table(nulls, str(tmp_path / "n.parquet"))
    result = convert(str(tmp_path / "n.parquet"), str(tmp_path / "o2"), ConvertOptions(progress=False))
    assert result["splits"]["train"]["records"] == 2
    assert result["skipped"] == [{"path": "n.parquet: row 1", "reason": "image is null"}]


def test_resize_reencodes_parquet_images_and_the_spill_file_is_removed(tmp_path, monkeypatch):
    pq.write_table(pa.table({"image": [_png(9, (16, 12))] * 4, "label": [0, 1, 2, 3]}), str(tmp_path / "r.parquet"))
    out = str(tmp_path / "o")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.mkdir(tmp_path / "tmp")
    convert(str(tmp_path / "r.parquet"), out, ConvertOptions(progress=False, resize=(8, 6), encode="jpeg", workers=2))
    rows = _records(out, "train")
    assert {(r["width"][1][0], r["height"][1][0], r["format"][1][0]) for r in rows} == {(8, 6, b"jpeg")}
    assert os.listdir(tmp_path / "tmp") == []  # the spill file is gone
    reader_spills = []
    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: reader_spills.append(real(**kw)) or reader_spills[-1])
    with pytest.raises(SourceError, match="no column 'nope'"):
        convert(str(tmp_path / "r.parquet"), str(tmp_path / "o2"), ConvertOptions(progress=False, label_column="nope"))
    assert len(reader_spills) == 1 and not os.path.exists(reader_spills[0][1])  # removed on failure too


MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    from tfrec.write.convert import ConvertOptions, convert
    import PIL.PngImagePlugin, pyarrow.parquet  # loaded before the baseline, as a conversion loads them
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = convert(sys.argv[1], sys.argv[2], ConvertOptions(progress=False, workers=1))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(result["splits"]["train"]["records"], (peak - base) * 1024)
""")


@pytest.mark.slow
def test_parquet_larger_than_the_memory_cap_converts_with_bounded_memory(tmp_path):
    cap = 48 << 20
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG", compress_level=0)
    png, rows = buf.getvalue(), 0
    path = str(tmp_path / "big.parquet")
    with pq.ParquetWriter(path, pa.schema([("image", pa.binary()), ("label", pa.int64())]),
                          use_dictionary=False, compression="none") as w:
        while rows * len(png) < 2 * cap:  # the file is twice the cap
            w.write_table(pa.table({"image": [png] * 100, "label": list(range(100))}), row_group_size=100)
            rows += 100
    assert os.path.getsize(path) > 2 * cap
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, path, str(tmp_path / "o")],
                          capture_output=True, text=True, check=True)
    records_written, grew = map(int, done.stdout.split())
    assert records_written == rows
    assert grew < cap, f"peak memory grew by {grew / 2**20:.0f} MiB converting a {os.path.getsize(path) / 2**20:.0f} MiB file"
