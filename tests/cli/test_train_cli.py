"""`tfrec train`, `evaluate`, `predict`: help, --json, the summary, and exit codes 1, 2 and 130."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli


def test_help():
    for command, flag in (("train", "--steps-per-epoch"), ("evaluate", "--confusion"), ("predict", "--top-k")):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and flag in result.output
    result = CliRunner().invoke(cli, ["train", "--help"])
    assert "lenet5|cifar_cnn|resnet20|mobilenet_v2|resnet50" in result.output


@pytest.fixture(scope="module")
def small(datasets):
    pytest.importorskip("tensorflow")
    return datasets["mnist"]  # 60 train / 10 test digits from tests/conftest.py


def test_train_evaluate_predict(small, tmp_path):
    model = str(tmp_path / "m.keras")
    result = CliRunner().invoke(cli, ["train", small, "--epochs", "2", "--batch-size", "16", "--seed", "0",
                                      "--export", model])
    assert result.exit_code == 0, result.output
    assert "input stall" in result.output and "GPU: no GPU" in result.output and "exported keras" in result.output
    result = CliRunner().invoke(cli, ["train", small, "--epochs", "1", "--batch-size", "16", "--json",
                                      "--val-split", ""])
    data = json.loads(result.stdout)
    assert data["model"] == "lenet5" and data["gpu"] is None and data["val_accuracy"] is None
    assert data["epochs"][0]["steps"] == 3 and data["overall"]["input_stall_pct"] is not None
    png = str(tmp_path / "confusion.png")
    result = CliRunner().invoke(cli, ["evaluate", small, "--model-file", model, "--json", "--confusion", png])
    assert result.exit_code == 0, result.output
    ev = json.loads(result.stdout)
    assert ev["split"] == "test" and ev["records"] == 10 and len(ev["per_class"]) == 10
    assert sum(map(sum, ev["confusion"])) == 10 and ev["top5_accuracy"] is None and os.path.getsize(png) > 0
    from PIL import Image

    image = str(tmp_path / "digit.png")
    Image.new("L", (28, 28)).save(image)
    result = CliRunner().invoke(cli, ["predict", "--model-file", model, image, "--top-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"][0]["top"]) == 2


def test_usage_errors_exit_2(small, tmp_path):
    result = CliRunner().invoke(cli, ["train", small, "--image-size", "8"])
    assert result.exit_code == 2 and "needs images of at least 12x12" in result.output
    result = CliRunner().invoke(cli, ["train", small, "--optimizer", "rmsprop"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["train", small, "--deterministic"])
    assert result.exit_code == 2 and "a seed too (--seed)" in result.output


def test_damaged_record_exit_1(small, tmp_path):
    out = str(tmp_path / "d")
    shutil.copytree(small, out)
    shard = sorted(f for f in glob.glob(os.path.join(out, "*-train.tfrecord-*")) if not f.endswith(".idx"))[0]
    with open(shard, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff")
    result = CliRunner().invoke(cli, ["train", out, "--epochs", "1", "--quiet"])
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"error: damaged record in {shard}: record 0 at byte 0") and "--skip-corrupt" in line


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_exits_130(datasets, tmp_path):
    from tests.training.gates import start_gated, wait_for_gate

    ckpt = tmp_path / "ckpt"
    args = ["train", datasets["cifar10"], "--model", "resnet20", "--epochs", "50", "--batch-size", "8",
            "--checkpoint-dir", str(ckpt), "--quiet"]
    proc = start_gated("saved:ckpt-1", args)  # waits in training, after its first checkpoint, for the SIGTERM
    try:
        assert wait_for_gate(proc), "the run ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "checkpoint" in err and "run the same command again to resume" in err


def _first_label_at_or_above(dataset, split, num_classes):
    """(shard, record index, byte offset, label) of the first record in shard order whose label is >= num_classes."""
    from tfrec.codec.example import decode_example
    from tfrec.io import records
    from tfrec.io.dataset import open_dataset

    for shard in open_dataset(dataset).shard_paths(split):
        for i, r in enumerate(records.iter_records(shard)):
            label = decode_example(r.data)["label"][1][0]
            if label >= num_classes:
                return shard, i, r.offset, label
    raise AssertionError("no such label")


def _with_classes(dataset, tmp_path, num_classes):
    """A copy of `dataset` whose schema says num_classes (its labels are 0-9)."""
    out = tmp_path / f"classes{num_classes}"
    shutil.copytree(dataset, out)
    manifest = json.loads((out / "dataset.json").read_text())
    label = manifest["schema"]["features"]["label"]
    label["num_classes"], label["names"] = num_classes, label["names"][:num_classes]
    manifest["label_names"] = label["names"]
    (out / "dataset.json").write_text(json.dumps(manifest))
    return str(out)


@pytest.mark.parametrize("num_classes,split_args", [(2, []), (7, []), (2, ["--train-split", "test"])])
def test_label_outside_the_classes_is_one_line_naming_the_record(small, tmp_path, num_classes, split_args):
    # Issue 23 item 18: labels 0-9 under a schema of fewer classes were a TensorFlow traceback from the loss.
    ds = _with_classes(small, tmp_path, num_classes)
    split = "test" if split_args else "train"
    shard, index, offset, label = _first_label_at_or_above(ds, split, num_classes)
    result = CliRunner().invoke(cli, ["train", ds, "--epochs", "1", "--batch-size", "8", "--quiet", *split_args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.strip() == (
        f"error: label {label} in {shard}: record {index} at byte {offset} is outside the schema's "
        f"{num_classes} classes (0-{num_classes - 1}); fix the label, or num_classes in {ds}/dataset.json")


def test_evaluate_label_outside_the_models_classes(small, tmp_path):
    pytest.importorskip("tensorflow")
    from tfrec.training.data import plan_data
    from tfrec.training.export import export_model
    from tfrec.training.models import build_model
    from tfrec.training.options import TrainOptions

    two = _with_classes(small, tmp_path, 2)
    plan = plan_data(two, TrainOptions())
    model = str(tmp_path / "two.keras")
    export_model(build_model("lenet5", (28, 28, 1), 2), model, plan)
    shard, index, offset, label = _first_label_at_or_above(small, "test", 2)
    result = CliRunner().invoke(cli, ["evaluate", small, "--model-file", model, "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        f"error: label {label} in {shard}: record {index} at byte {offset} is outside the model's 2 classes "
        f"(0-1); evaluate it with a model trained on this dataset's classes")


def _one_error_line(result) -> str:
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    return result.output.strip()


def test_evaluate_refuses_a_model_of_other_channels(datasets, models):
    # Issue 24 item 1: 3-channel data into a 1-channel model was ~60 lines of Keras traceback.
    result = CliRunner().invoke(cli, ["evaluate", datasets["cifar10"], "--model-file", models["grey"]])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result) == (
        f"error: split 'test' of {datasets['cifar10']} holds 32x32 images with 3 channels (colour), but model "
        f"{models['grey']} takes 28x28 images with 1 channel (greyscale): the size would be resized as in "
        "training, the channels cannot; use a model trained on 3-channel images")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "CMYK"])
def test_predict_refuses_a_colour_image_for_a_greyscale_model(models, tmp_path, mode):
    # Issue 24 item 1: predict converted RGB to greyscale silently.
    from PIL import Image

    image = str(tmp_path / ("photo.jpg" if mode == "CMYK" else "photo.png"))
    Image.new(mode, (40, 30)).save(image)
    result = CliRunner().invoke(cli, ["predict", "--model-file", models["grey"], image])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result) == (
        f"error: {image} is a 40x30 image with 3 channels (colour), but model {models['grey']} takes 28x28 "
        "images with 1 channel (greyscale): the size would be resized as in training, the channels cannot; "
        "use a model trained on 3-channel images")


@pytest.mark.parametrize("mode", ["L", "LA", "I;16", "1"])
def test_greyscale_goes_into_a_colour_model_as_image_folders_do(datasets, models, tmp_path, mode):
    # The reader decodes a greyscale file in an image folder to 3 equal channels: so do predict and evaluate.
    from PIL import Image

    image = str(tmp_path / "grey.png")
    Image.new(mode, (20, 20)).save(image)
    result = CliRunner().invoke(cli, ["predict", "--model-file", models["colour"], image, "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"][0]["top"]) == 3
    if mode == "L":
        result = CliRunner().invoke(cli, ["evaluate", datasets["mnist"], "--model-file", models["colour"], "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["records"] == 10


def test_the_same_check_serves_evaluate_and_predict():
    from tfrec.training import evaluate, export

    assert evaluate.check_model_input is export.check_model_input


def _only_splits(dataset, tmp_path, keep: dict[str, str]) -> str:
    """A copy of `dataset` whose dataset.json lists only `keep` (new name -> the split it was)."""
    out = tmp_path / "splits"
    shutil.copytree(dataset, out)
    manifest = json.loads((out / "dataset.json").read_text())
    manifest["splits"] = {new: manifest["splits"][old] for new, old in keep.items()}
    (out / "dataset.json").write_text(json.dumps(manifest))
    return str(out)


def test_evaluate_the_only_split_saying_so(small, models, tmp_path):
    # Issue 24 item 1: a dataset with only a train split said "no split None; splits: train".
    only = _only_splits(small, tmp_path, {"train": "train"})
    result = CliRunner().invoke(cli, ["evaluate", only, "--model-file", models["grey"]])
    assert result.exit_code == 0, result.output
    note = ("note: no test or val split: evaluated 'train', the only split (the data the model may have been "
            "trained on: its accuracy is optimistic)")
    assert note in result.output and "(train, 60 records)" in result.output
    result = CliRunner().invoke(cli, ["evaluate", only, "--model-file", models["grey"], "--json"])
    data = json.loads(result.stdout)
    assert data["split"] == "train" and data["notes"] == [note[len("note: "):]]


def test_evaluate_without_a_test_split_names_what_it_looked_for(small, models, tmp_path):
    several = _only_splits(small, tmp_path, {"train": "train", "extra": "test"})
    result = CliRunner().invoke(cli, ["evaluate", several, "--model-file", models["grey"]])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result) == (f"error: {several}: no split test, val or validation to evaluate; splits: "
                                       "train, extra; choose one with --split")
    result = CliRunner().invoke(cli, ["evaluate", several, "--model-file", models["grey"], "--split", "nope"])
    assert result.exit_code == 2 and _one_error_line(result) == (
        f"error: {several}: no split 'nope'; splits: train, extra")
    result = CliRunner().invoke(cli, ["evaluate", several, "--model-file", models["grey"], "--split", "extra"])
    assert result.exit_code == 0, result.output


def _truncated_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, "JPEG")
    return buf.getvalue()[:-2]


def _truncated_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (32, 32)).save(buf, "PNG")
    return buf.getvalue()[:-12]


@pytest.mark.parametrize("name,data,reason", [
    ("empty.jpg", b"", "empty file (0 bytes)"),
    ("text.png", b"not an image at all\n" * 4, "not a valid image: Pillow cannot identify its format"),
    ("cut.jpg", _truncated_jpeg(), "truncated JPEG: no end-of-image marker after the image data"),
    ("cut.png", _truncated_png(), "truncated PNG: no IEND chunk"),
])
def test_predict_says_what_convert_says_of_a_bad_image(models, tmp_path, name, data, reason):
    # Issue 24 item 2: an empty file was "cannot read as an image ({{function_node __wrapped__DecodeImage...".
    from tfrec.sources.imagefolder import encode_image_record

    path = tmp_path / name
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["predict", "--model-file", models["grey"], str(path)])
    assert result.exit_code == 1, result.output
    assert _one_error_line(result) == f"error: {path}: {reason}"
    assert "function_node" not in result.output and "Op:" not in result.output
    # the words are the converter's own, for the same bytes
    from tfrec.sources import SourceOptions
    from tfrec.sources.imagefolder import _WorkerOptions
    from tfrec.codec.schema import load_schema

    assert encode_image_record(data, name, 0, _WorkerOptions.of(SourceOptions(), load_schema("imagefolder")))[1] == reason


def test_quiet_silences_progress_not_the_result(small, models, tmp_path):
    # Issue 24 item 5: evaluate -q printed nothing; -q means no progress, the result still shows.
    result = CliRunner().invoke(cli, ["evaluate", small, "--model-file", models["grey"], "-q"])
    assert result.exit_code == 0 and "accuracy" in result.output and "class" in result.output, result.output
    from PIL import Image

    image = str(tmp_path / "digit.png")
    Image.new("L", (28, 28)).save(image)
    result = CliRunner().invoke(cli, ["predict", "--model-file", models["grey"], image, "-q"])
    assert result.exit_code == 0 and result.output.startswith(f"{image}: "), result.output
    result = CliRunner().invoke(cli, ["train", small, "--epochs", "1", "--batch-size", "16", "-q"])
    assert result.exit_code == 0, result.output
    assert "trained lenet5" in result.output and "input stall" in result.output
    assert "epoch 1/1" not in result.output  # no progress bar


def test_train_reports_compilation_apart_and_says_when_an_epoch_is_too_short(small):
    # Issue 24 item 9: 61 records in one batch gave 'images/s 1', 'step p50 66524 ms', 'input stall 0.0%'.
    result = CliRunner().invoke(cli, ["train", small, "--epochs", "1", "--batch-size", "64", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    epoch = data["epochs"][0]
    assert epoch["steps"] == 1 and epoch["timed_steps"] == 0 and epoch["first_step_s"] > 0
    assert epoch["images_per_s"] is None and epoch["step_ms_p50"] is None and epoch["input_stall_pct"] is None
    assert data["compile_s"] >= epoch["first_step_s"] and data["startup_s"] >= data["compile_s"]
    note = ("epoch 1 has fewer than 10 timed steps (0; the run's first step compiles and is timed apart): its "
            "images/s, stall and step times mean little; train more steps (or with a smaller --batch-size) to "
            "measure them")
    assert note in data["notes"]
    result = CliRunner().invoke(cli, ["train", small, "--epochs", "1", "--batch-size", "64", "-q"])
    assert result.exit_code == 0, result.output
    assert f"note: {note}" in result.output
    assert "compiling the step" in result.output and "kept out of the figures" in result.output
