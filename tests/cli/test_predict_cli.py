"""`tfrec predict` over folders (recursively): --json, --csv, and the files convert would skip (issue 24)."""
from __future__ import annotations

import csv
import io
import json
import os

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli


def _png(path, mode="L", size=(28, 28), value=0):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return str(path)


def _truncated_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (32, 32)).save(buf, "PNG")
    return buf.getvalue()[:-12]


@pytest.fixture
def photos(tmp_path):
    """A folder tree: 4 PNGs at three depths and of several sizes, an empty and a cut PNG, a text file, a
    symlink leading out, and (where the OS has them) a FIFO named like an image."""
    root = tmp_path / "tree" / "photos"  # a class folder of tree/, so convert can read the same files
    good = [_png(root / "a.png", value=10), _png(root / "sub" / "b.png", size=(40, 30), value=200),
            _png(root / "sub" / "deeper" / "c.png", size=(10, 12), value=90), _png(root / "z" / "d.png", value=255)]
    (root / "sub" / "empty.png").write_bytes(b"")
    (root / "cut.png").write_bytes(_truncated_png())
    (root / "notes.txt").write_text("not an image")
    outside = _png(tmp_path / "outside.png")
    os.symlink(outside, root / "link.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "z" / "pipe.png")
    return root, good


def _predict(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def test_a_folder_is_predicted_recursively_with_convert_s_skips(models, photos, tmp_path):
    root, good = photos
    result = _predict("--model-file", models["grey"], root, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # one JSON document on stdout
    assert [p["file"] for p in data["predictions"]] == sorted(good)  # walked as convert walks: sorted, depth-first
    assert all(len(p["top"]) == 3 and p["top"][0]["probability"] >= p["top"][1]["probability"]
               for p in data["predictions"])
    assert data["ignored"] == [str(root / "notes.txt")] and data["ignored_files"] == 1
    assert data["model"] == models["grey"]
    skipped = {os.path.relpath(s["path"], root): s["reason"] for s in data["skipped"]}
    assert set(skipped) == {"cut.png", "link.png", "sub/empty.png"} | ({"z/pipe.png"} if hasattr(os, "mkfifo") else set())
    assert skipped["sub/empty.png"] == "empty file (0 bytes)" and skipped["cut.png"] == "truncated PNG: no IEND chunk"
    assert skipped["link.png"] == "symlink to outside the source tree (pass --follow-symlinks)"
    # The reasons are convert's own, for the same files: convert the tree (photos/ its one class) and compare.
    converted = CliRunner().invoke(cli, ["convert", str(root.parent), str(tmp_path / "out"), "--json", "-q"])
    assert converted.exit_code == 0, converted.output
    assert {os.path.relpath(s["path"], "photos"): s["reason"] for s in json.loads(converted.stdout)["skipped"]} == skipped


def test_the_summary_names_every_file_then_the_skipped_and_ignored(models, photos):
    root, good = photos
    result = _predict("--model-file", models["grey"], root, "-q")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines[:4]] == sorted(good)
    assert f"  {root / 'sub' / 'empty.png'}: empty file (0 bytes)" in lines
    skipped = 4 if hasattr(os, "mkfifo") else 3
    assert f"skipped {skipped} bad files:" in lines
    assert f"ignored 1 file without an image extension: {root / 'notes.txt'}" in lines
    assert result.stderr == ""  # -q: no progress bar


def test_csv_has_a_row_per_image(models, photos, tmp_path):
    root, good = photos
    out = tmp_path / "reports" / "predictions.csv"
    result = _predict("--model-file", models["grey"], root, "--top-k", "2", "--csv", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["csv"] == str(out)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "class", "name", "probability", "class_2", "name_2", "probability_2"]
    assert [r["file"] for r in rows] == sorted(good)
    for row, p in zip(rows, data["predictions"]):
        assert (int(row["class"]), row["name"], float(row["probability"])) == (
            p["top"][0]["class"], p["top"][0]["name"], p["top"][0]["probability"])
        assert int(row["class_2"]) == p["top"][1]["class"]
    result = _predict("--model-file", models["grey"], root, "--csv", out, "-q")
    assert f"wrote {out} (4 rows)" in result.stdout


@pytest.mark.parametrize("batch_size", ["1", "3"])
def test_batches_do_not_change_the_predictions(models, photos, batch_size):
    root, _ = photos
    whole = json.loads(_predict("--model-file", models["grey"], root, "--json").stdout)
    batched = _predict("--model-file", models["grey"], root, "--json", "--batch-size", batch_size)
    assert batched.exit_code == 0, batched.output
    got = json.loads(batched.stdout)
    assert [p["file"] for p in got["predictions"]] == [p["file"] for p in whole["predictions"]]
    for a, b in zip(got["predictions"], whole["predictions"]):
        assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]]
        assert all(abs(x["probability"] - y["probability"]) < 1e-4 for x, y in zip(a["top"], b["top"]))
    assert got["skipped"] == whole["skipped"]


def test_files_and_folders_together_and_a_named_bad_file_is_an_error(models, photos, tmp_path):
    root, good = photos
    extra = _png(tmp_path / "one.png")
    result = _predict("--model-file", models["grey"], extra, root / "sub", "--json")
    assert result.exit_code == 0, result.output
    assert [p["file"] for p in json.loads(result.stdout)["predictions"]] == [extra] + sorted(good)[1:3]
    result = _predict("--model-file", models["grey"], root / "sub" / "empty.png", root, "-q")
    assert result.exit_code == 1 and result.output.strip() == f"error: {root / 'sub' / 'empty.png'}: empty file (0 bytes)"


def test_a_folder_without_images_or_without_readable_ones(models, tmp_path):
    empty = tmp_path / "docs"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    result = _predict("--model-file", models["grey"], empty)
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {empty}: no image files in this folder or below (.jpg, .jpeg, .png, "
                                     ".bmp, .gif, .webp, .tif, .tiff); 1 other file")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"")
    result = _predict("--model-file", models["grey"], bad, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["predictions"] == [] and data["skipped"] == [{"path": str(bad / "x.png"), "reason": "empty file (0 bytes)"}]
    result = _predict("--model-file", models["grey"], bad)
    assert result.exit_code == 1 and "no image could be read: nothing predicted" in result.stdout


def test_a_colour_image_in_a_folder_for_a_greyscale_model_is_refused(models, photos):
    root, _ = photos
    colour = _png(root / "sub" / "colour.png", mode="RGB", size=(8, 8))
    result = _predict("--model-file", models["grey"], root, "-q")
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(f"error: {colour} is a 8x8 image with 3 channels (colour), but model ")


def test_the_old_model_spelling_still_works_with_a_note(models, datasets, tmp_path):
    note = "note: --model is deprecated; use --model-file (--model names a zoo architecture, in train and bench train)"
    image = _png(tmp_path / "digit.png")
    result = CliRunner().invoke(cli, ["predict", "--model", models["grey"], image, "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"]) == 1 and result.stderr.strip() == note
    result = CliRunner().invoke(cli, ["evaluate", datasets["mnist"], "--model", models["grey"], "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"] == 10 and result.stderr.strip() == note


def test_the_python_api_walks_folders_too(models, photos):
    from tfrec.training.export import predict, predict_paths

    root, good = photos
    assert [p["file"] for p in predict(models["grey"], [str(root)], top_k=1)] == sorted(good)
    result = predict_paths(models["grey"], [str(root)], top_k=1, batch_size=2)
    assert result.ignored_files == 1 and len(result.predictions) == 4 and result.to_json()["skipped"]
