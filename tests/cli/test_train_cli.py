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
    result = CliRunner().invoke(cli, ["evaluate", small, "--model", model, "--json", "--confusion", png])
    assert result.exit_code == 0, result.output
    ev = json.loads(result.stdout)
    assert ev["split"] == "test" and ev["records"] == 10 and len(ev["per_class"]) == 10
    assert sum(map(sum, ev["confusion"])) == 10 and ev["top5_accuracy"] is None and os.path.getsize(png) > 0
    from PIL import Image

    image = str(tmp_path / "digit.png")
    Image.new("L", (28, 28)).save(image)
    result = CliRunner().invoke(cli, ["predict", "--model", model, image, "--top-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)[0]["top"]) == 2


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
    from tfrec.io.manifest import read_manifest, shard_paths

    for shard in shard_paths(dataset, read_manifest(dataset), split):
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
    result = CliRunner().invoke(cli, ["evaluate", small, "--model", model, "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        f"error: label {label} in {shard}: record {index} at byte {offset} is outside the model's 2 classes "
        f"(0-1); evaluate it with a model trained on this dataset's classes")
