"""`tfrec train`, `evaluate`, `predict`: help, --json, the summary, and exit codes 1, 2 and 130."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

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
    ckpt = tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "tfrec.cli.main", "train", datasets["cifar10"], "--model", "resnet20",
           "--epochs", "50", "--batch-size", "8", "--checkpoint-dir", str(ckpt), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (ckpt / "checkpoint").exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "checkpoint" in err and "run the same command again to resume" in err
