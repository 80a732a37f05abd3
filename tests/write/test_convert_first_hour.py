"""`convert` as a new user meets it (issue 24): --fit, shard counts, TIFF and ignored files, dataset names."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.cli.main import cli
from tfrec.codec.example import decode_example
from tfrec.demo import synth
from tfrec.errors import TfrecError
from tfrec.io.journal import Journal
from tfrec.io.manifest import read_manifest
from tfrec.io.dataset import open_dataset
from tfrec.io.records import iter_records
from tfrec.write import job
from tfrec.write.convert import ConvertOptions, convert
from tfrec.write.plan import check_dataset_name, dataset_name

RED, GREEN, BLUE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0)


def _images(out: str, split: str = "train") -> dict[str, np.ndarray]:
    """filename -> the stored image's pixels (Pillow)."""
    got = {}
    for path in open_dataset(out).shard_paths(split):
        for rec in iter_records(path):
            ex = decode_example(rec.data)
            img = Image.open(io.BytesIO(bytes(ex["image"][1][0]))).convert("RGB")
            got[ex["filename"][1][0].decode()] = np.asarray(img).astype(int)
    return got


def _bands(width: int, height: int, tall: bool) -> Image.Image:
    """Three bands across the long side: a quarter red, a half green, a quarter blue."""
    long_side = height if tall else width
    q = long_side // 4
    line = np.zeros((long_side, 3), np.uint8)
    line[:q], line[q : long_side - q], line[long_side - q :] = RED, GREEN, BLUE
    pixels = np.repeat(line[:, None], width, 1) if tall else np.repeat(line[None], height, 0)
    return Image.fromarray(pixels)


def _close(pixel, colour, tol=40) -> bool:
    return bool(np.abs(np.asarray(pixel) - colour).max() <= tol)


@pytest.fixture(scope="module")
def banded(tmp_path_factory):
    """One class of banded PNGs: wide 40x20, tall 20x40, and a 400x200 JPEG (DCT-scaled when resized)."""
    root = tmp_path_factory.mktemp("banded") / "Bands"
    (root / "a").mkdir(parents=True)
    _bands(40, 20, tall=False).save(root / "a" / "wide.png")
    _bands(20, 40, tall=True).save(root / "a" / "tall.png")
    _bands(400, 200, tall=False).save(root / "a" / "big.jpg", quality=98)
    return root


def _convert_fit(banded, tmp_path, *fit):
    out = str(tmp_path / "out")
    options = ConvertOptions(resize=(10, 10), encode="png", progress=False, workers=1, **(dict(fit=fit[0]) if fit else {}))
    result = convert(str(banded), out, options)
    return result, _images(out)


# ------------------------------------------------------------------ 6: --fit


def test_resize_keeps_the_aspect_ratio_by_default_centre_crop(banded, tmp_path):
    result, images = _convert_fit(banded, tmp_path)
    for name in ("a/wide.png", "a/tall.png", "a/big.jpg"):
        img = images[name]
        assert img.shape == (10, 10, 3), name
        # the centred square of a 2:1 image is the green half: nothing red or blue survives
        assert all(_close(p, GREEN) for p in img.reshape(-1, 3)), (name, img[:, :, 0].max(), img[:, :, 2].max())
    assert result["resize"] == {"width": 10, "height": 10, "fit": "crop"}
    assert read_manifest(result["out"])["resize"] == {"width": 10, "height": 10, "fit": "crop"}


def test_fit_stretch_squeezes_the_whole_picture(banded, tmp_path):
    result, images = _convert_fit(banded, tmp_path, "stretch")
    wide, tall = images["a/wide.png"], images["a/tall.png"]
    assert _close(wide[5, 0], RED) and _close(wide[5, 5], GREEN) and _close(wide[5, 9], BLUE)
    assert _close(tall[0, 5], RED) and _close(tall[5, 5], GREEN) and _close(tall[9, 5], BLUE)
    assert _close(images["a/big.jpg"][5, 0], RED) and _close(images["a/big.jpg"][5, 9], BLUE)
    assert not any(_close(p, BLACK) for p in wide.reshape(-1, 3))
    assert result["resize"]["fit"] == "stretch"


def test_fit_pad_keeps_the_whole_picture_and_pads_with_black(banded, tmp_path):
    result, images = _convert_fit(banded, tmp_path, "pad")
    wide, tall = images["a/wide.png"], images["a/tall.png"]
    # a 2:1 picture in a square: 10x5 of picture, centred (tf.image.resize_with_pad: 2 rows above, 3 below)
    black_rows = [r for r in range(10) if all(_close(p, BLACK, 5) for p in wide[r])]
    assert black_rows == [0, 1, 7, 8, 9]
    assert _close(wide[4, 0], RED) and _close(wide[4, 5], GREEN) and _close(wide[4, 9], BLUE)
    black_cols = [c for c in range(10) if all(_close(p, BLACK, 5) for p in tall[:, c])]
    assert black_cols == [0, 1, 7, 8, 9]
    assert _close(tall[0, 4], RED) and _close(tall[5, 4], GREEN) and _close(tall[9, 4], BLUE)
    assert [r for r in range(10) if all(_close(p, BLACK, 12) for p in images["a/big.jpg"][r])] == [0, 1, 7, 8, 9]
    assert result["resize"]["fit"] == "pad"


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_convert_fit_gives_the_readers_geometry(banded, tmp_path, fit):
    """convert --resize --fit F stores what make_dataset(image_size, fit=F) makes of the originals."""
    tf = pytest.importorskip("tensorflow")
    from tfrec.read.decode import resize_images

    _, images = _convert_fit(banded, tmp_path, fit)
    for name in ("a/wide.png", "a/tall.png"):
        original = tf.constant(np.asarray(Image.open(banded / name).convert("RGB")))
        want = (resize_images(original, (10, 10), fit).numpy() * 255).round().astype(int)
        black_want = np.all(want <= 5, axis=-1)
        black_got = np.all(images[name] <= 5, axis=-1)
        assert (black_want == black_got).all(), name
        assert (want.argmax(-1)[~black_want] == images[name].argmax(-1)[~black_got]).mean() >= 0.8, name


def test_fit_is_in_the_fingerprint_and_checked(banded, tmp_path):
    source = job.read_options_source(str(banded), ConvertOptions(resize=(10, 10)))
    try:
        fps = set()
        for fit in ("crop", "stretch", "pad"):
            options = ConvertOptions(resize=(10, 10), fit=fit)
            plans = job.plan_splits(source, dict(source.splits), "bands", options)
            fps.add(job.run_fingerprint(source, plans, options))
        assert len(fps) == 3
    finally:
        source.close()
    with pytest.raises(TfrecError, match=r"unknown fit 'squash'; supported: stretch, crop, pad"):
        ConvertOptions(resize=(10, 10), fit="squash")


def test_cli_fit_option_and_help(banded, tmp_path):
    runner = CliRunner()
    help_text = " ".join(runner.invoke(cli, ["convert", "--help"]).output.split())
    assert "--fit [stretch|crop|pad]" in help_text
    assert "default: crop" in help_text and "centre" in help_text
    r = runner.invoke(cli, ["convert", str(banded), str(tmp_path / "o"), "--fit", "pad", "--json"])
    assert r.exit_code == 2 and "--fit needs --resize" in r.output
    r = runner.invoke(cli, ["convert", str(banded), str(tmp_path / "o"), "--resize", "10x10", "--fit", "pad", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["resize"] == {"width": 10, "height": 10, "fit": "pad"}


# ------------------------------------------------------------------ 7: no empty shards


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("small") / "small"
    synth.write_image_folder(root, n_per_class=3, seed=0, num_classes=2, size=(8, 8), fmt="png", splits=("train", "val"))
    return root


@pytest.mark.parametrize("shards", [7, 100])
def test_more_shards_than_records_is_capped_per_split_and_said(small_folder, tmp_path, shards):
    out = tmp_path / "o"
    result = convert(str(small_folder), str(out), ConvertOptions(shards=shards, progress=False, workers=1))
    for split, records in (("train", 6), ("val", 6)):
        entry = result["splits"][split]
        assert len(entry["shards"]) == records and all(s["records"] == 1 for s in entry["shards"])
    files = [f for f in os.listdir(out) if ".tfrecord-" in f and not f.endswith(".idx")]
    assert len(files) == 12 and all(os.path.getsize(out / f) > 0 for f in files)
    assert result["notes"] == [
        f"--shards {shards}: split 'train' has 6 records, so 6 shards (one record each)",
        f"--shards {shards}: split 'val' has 6 records, so 6 shards (one record each)",
    ]


def test_the_cap_note_is_in_the_summary_and_json(small_folder, tmp_path):
    r = CliRunner().invoke(cli, ["convert", str(small_folder), str(tmp_path / "o"), "--shards", "100"])
    assert r.exit_code == 0, r.output
    assert "note: --shards 100: split 'train' has 6 records, so 6 shards (one record each)" in r.output
    r = CliRunner().invoke(cli, ["convert", str(small_folder), str(tmp_path / "j"), "--shards", "6", "--json"])
    assert json.loads(r.stdout)["notes"] == []


@pytest.mark.slow  # a DirectRunner pipeline (~5 s)
def test_beam_caps_the_shards_as_the_local_runner_does(small_folder, tmp_path):
    pytest.importorskip("apache_beam")
    opts = dict(shards=100, progress=False)
    local = convert(str(small_folder), str(tmp_path / "local"), ConvertOptions(**opts, workers=1))
    beam = convert(str(small_folder), str(tmp_path / "beam"), ConvertOptions(**opts, runner="beam"))
    assert beam["notes"] == local["notes"] and len(local["notes"]) == 2
    assert sorted(os.listdir(tmp_path / "local")) == sorted(os.listdir(tmp_path / "beam"))


def test_a_split_fraction_that_leaves_a_split_empty_is_refused(small_folder, tmp_path):
    with pytest.raises(TfrecError, match=r"--split: split 'val' gets no records \(0\.05 of 6"):
        convert(str(small_folder / "train"), str(tmp_path / "o"),
                ConvertOptions(split=(("train", 0.95), ("val", 0.05)), progress=False))


def test_a_shard_whose_every_file_was_skipped_is_named(small_folder, tmp_path):
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "a" / "good.png")
    (root / "a" / "bad.png").write_bytes(b"not a png")
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(shards=2, shuffle=False, progress=False))
    empty = [s["file"] for s in result["splits"]["train"]["shards"] if s["records"] == 0]
    assert len(empty) == 1
    assert result["notes"] == [f"shard {empty[0]} holds no records: every file planned for it was skipped"]


# ------------------------------------------------------------------ 8: TIFF, ignored files, plurals


def _tiffs(root):
    (root / "a").mkdir(parents=True)
    rgb = Image.fromarray(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    rgb.save(root / "a" / "rgb.tif")
    rgb.save(root / "a" / "lzw.tiff", compression="tiff_lzw")
    Image.fromarray((np.arange(24, dtype=np.uint16).reshape(4, 6) * 2000)).save(root / "a" / "gray16.TIF")
    rgb.convert("CMYK").save(root / "a" / "cmyk.tif")
    frames = [rgb, Image.new("RGB", (6, 4), RED)]
    frames[0].save(root / "a" / "pages.tif", save_all=True, append_images=frames[1:])
    return {"a/rgb.tif": rgb, "a/lzw.tiff": rgb, "a/pages.tif": rgb}


def test_tiff_is_stored_re_encoded_as_png(tmp_path):
    want = _tiffs(tmp_path / "src")
    result = convert(str(tmp_path / "src"), str(tmp_path / "o"), ConvertOptions(progress=False, workers=1))
    assert result["skipped"] == [] and result["ignored_files"] == 0
    assert result["splits"]["train"]["records"] == 5
    assert {f for s in result["splits"]["train"]["shards"] for f in s["formats"]} == {"png"}
    images = _images(str(tmp_path / "o"))
    for name, img in want.items():
        assert (images[name] == np.asarray(img)).all(), name
    assert images["a/gray16.TIF"].shape == (4, 6, 3) and images["a/cmyk.tif"].shape == (4, 6, 3)


def test_ignored_files_are_listed_capped_and_counted(tmp_path):
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "a" / "x.png")
    for i in range(105):
        (root / "a" / f"note{i:03d}.txt").write_text("x")
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(progress=False))
    manifest = read_manifest(str(tmp_path / "o"))
    assert manifest["ignored_files"] == 105 == result["ignored_files"]
    assert manifest["ignored"] == [f"a/note{i:03d}.txt" for i in range(100)]


def test_summary_plurals(tmp_path):
    from tfrec.cli.convert import convert_summary

    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "a" / "x.png")
    (root / "a" / "bad.png").write_bytes(b"")
    (root / "a" / "readme.txt").write_text("x")
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(progress=False))
    text = convert_summary({**result, "reused_shards": 1})
    assert "1 record " in text and "1 shard " in text and "1 records" not in text and "1 shards" not in text
    assert "skipped 1 bad file:" in text and "ignored 1 file without an image extension: a/readme.txt" in text
    assert "reused 1 complete shard from" in text
    for n in (2, 3):
        (root / "a" / f"more{n}.txt").write_text("x")
    result = convert(str(root), str(tmp_path / "o2"), ConvertOptions(progress=False))
    assert "ignored 3 files without an image extension: a/more2.txt, a/more3.txt, a/readme.txt" in convert_summary(result)


# ------------------------------------------------------------------ 15: dataset names


@pytest.mark.parametrize("text,name", [
    ("photos", "photos"),
    ("My Photos", "my_photos"),
    ("holiday-2024 (best)", "holiday_2024_best"),
    ("Fotos_del_Día", "fotos_del_dia"),
    ("cats.v2", "cats_v2"),
    ("2024", "imagefolder_2024"),
    ("---", "imagefolder"),
    ("", "imagefolder"),
])
def test_dataset_name_is_tfds_snake_case(text, name):
    assert dataset_name(text, "imagefolder") == name
    assert check_dataset_name(name, "--name") == name


def test_the_default_name_is_the_folder_name(small_folder, tmp_path):
    src = tmp_path / "My Holiday-Photos"
    import shutil

    shutil.copytree(small_folder, src)
    r = CliRunner().invoke(cli, ["convert", str(src), str(tmp_path / "o"), "--shards", "1"])
    assert r.exit_code == 0, r.output
    manifest = read_manifest(str(tmp_path / "o"))
    assert manifest["name"] == "my_holiday_photos"
    assert manifest["splits"]["val"]["shards"][0]["file"] == "my_holiday_photos-val.tfrecord-00000-of-00001"
    assert json.loads((tmp_path / "o" / "dataset_info.json").read_text())["name"] == "my_holiday_photos"
    assert f"wrote {tmp_path / 'o'} (my_holiday_photos, imagefolder)" in r.output


def test_mnist_and_cifar_keep_their_names(sources, datasets):
    assert read_manifest(datasets["mnist"])["name"] == "mnist"
    assert read_manifest(datasets["cifar10"])["name"] == "cifar10"
    assert read_manifest(datasets["imagefolder"])["name"] == "images"


@pytest.mark.parametrize("bad", ["a/b", "../x", "a\\b", "my-data", "My Data", "Photos", "9lives", "", "a.b", "é"])
def test_a_bad_name_is_refused(small_folder, tmp_path, bad):
    with pytest.raises(TfrecError, match=r"--name .*: not a dataset name"):
        ConvertOptions(name=bad)
    r = CliRunner().invoke(cli, ["convert", str(small_folder), str(tmp_path / "o"), "--name", bad])
    assert r.exit_code == 2 and "not a dataset name" in r.output
    assert not (tmp_path / "o").exists()


def test_the_journal_refuses_a_shard_name_outside_the_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim").write_bytes(b"x")
    journal = Journal(str(out), "fp")
    journal.record("train", {"file": "../victim", "bytes": 1, "checksum": "x"}, [])
    with pytest.raises(TfrecError, match=r"'\.\./victim' is not a file name inside the dataset"):
        journal.reusable(str(out))
