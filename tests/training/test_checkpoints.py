"""Checkpoints a killed run left half-written: found, named and ignored, never a silent restart or a traceback."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")

from tfrec.cli.main import cli  # noqa: E402
from tfrec.training.loop import train  # noqa: E402

from .gates import start_gated, wait_for_gate  # noqa: E402

RUN = dict(model="lenet5", batch_size=16, seed=0, steps_per_epoch=2, val_split="", progress=False)
DATA, INDEX = "ckpt-1.data-00000-of-00001", "ckpt-1.index"
TEMP = "ckpt-{n}_temp/part-00000-of-00001.data-00000-of-00001.tempstate8123"  # what the writer writes first
STATE = 'model_checkpoint_path: "ckpt-{latest}"\n' + "".join(f'all_model_checkpoint_paths: "ckpt-{n}"\n' for n in (1, 2))


@pytest.fixture(scope="module")
def complete(datasets, tmp_path_factory) -> dict[str, bytes]:
    """The files of one complete checkpoint (ckpt-1, after epoch 1) and its state file."""
    directory = tmp_path_factory.mktemp("ckpt") / "c"
    train(datasets["mnist"], epochs=1, checkpoint_dir=str(directory), **RUN)
    return {n: (directory / n).read_bytes() for n in (DATA, INDEX, "checkpoint")}


# What tf.train.CheckpointManager.save leaves when the process dies at each point (observed in TF 2.21):
# the data is written under ckpt-N_temp/, merged into ckpt-N.data-*, then ckpt-N.index; the state file
# `checkpoint` is written last, through checkpoint.tmp<hex> and a rename.
def _state(complete, name):
    first = {DATA: complete[DATA], INDEX: complete[INDEX], "checkpoint": complete["checkpoint"]}
    return {
        "writing the data": {TEMP.format(n=1): complete[DATA][:64]},
        "data merged, no index yet": {DATA: complete[DATA]},
        "writing the state file": {DATA: complete[DATA], INDEX: complete[INDEX], "checkpoint.tmp0a1b2c": b"model_"},
        "writing the second": {**first, TEMP.format(n=2): complete[DATA][:64]},
        "state file names a missing one": {**first, "checkpoint": STATE.format(latest=2).encode()},
    }[name]


def _ckpt(notes: list[str]) -> list[str]:
    """The run's notes about checkpoints (a run this short also gets the too-few-steps note)."""
    return [n for n in notes if "checkpoint" in n]


@pytest.mark.parametrize("name,files", [
    ("writing the data", [TEMP.format(n=1)]),
    ("data merged, no index yet", [DATA]),
    ("writing the state file", [DATA, INDEX, "checkpoint.tmp0a1b2c"]),
])
def test_a_first_checkpoint_cut_short_is_named_and_training_starts_over(datasets, complete, tmp_path, name, files):
    # Issue 23 item 20: a run killed while writing its first checkpoint restarted from epoch 0 without a word.
    directory = tmp_path / "c"
    for rel, data in _state(complete, name).items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(data)
    result = train(datasets["mnist"], epochs=1, checkpoint_dir=str(directory), **RUN)
    assert result.resumed_from is None
    assert _ckpt(result.notes) == [f"incomplete checkpoint ckpt-1 in {directory} ignored (a run stopped while writing it "
                            f"left {', '.join(sorted(files))}): training starts from the beginning"]


@pytest.mark.parametrize("name,found", [("writing the second", f"left {TEMP.format(n=2)}"),
                                        ("state file names a missing one", "the state file names it, no ckpt-2.index")])
def test_a_later_checkpoint_cut_short_resumes_from_the_last_complete_one(datasets, complete, tmp_path, name, found):
    directory = tmp_path / "c"
    for rel, data in _state(complete, name).items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(data)
    result = train(datasets["mnist"], epochs=2, checkpoint_dir=str(directory), **RUN)
    assert result.resumed_from["checkpoint"] == str(directory / "ckpt-1") and result.resumed_from["epoch"] == 1
    assert [e["epoch"] for e in result.epochs] == [2]
    notes = _ckpt(result.notes)
    assert len(notes) == 1 and re.fullmatch(
        rf"incomplete checkpoint ckpt-2 in {re.escape(str(directory))} ignored \(.*{re.escape(found)}.*\): "
        r"resuming from ckpt-1, the last complete one", notes[0]), notes


def test_leftovers_older_than_the_checkpoint_restored_are_not_reported(datasets, complete, tmp_path):
    directory = tmp_path / "c"
    (directory / "ckpt-1_temp").mkdir(parents=True)
    (directory / TEMP.format(n=1)).write_bytes(b"x")  # a killed run's, overwritten since by a complete ckpt-1
    (directory / "checkpoint.tmp99").write_bytes(b"x")
    for rel in (DATA, INDEX, "checkpoint"):
        (directory / rel).write_bytes(complete[rel])
    result = train(datasets["mnist"], epochs=2, checkpoint_dir=str(directory), **RUN)
    assert result.resumed_from["epoch"] == 1 and _ckpt(result.notes) == []


def test_the_cli_says_so_on_stderr_and_in_json(datasets, complete, tmp_path):
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / DATA).write_bytes(complete[DATA])
    args = ["train", datasets["mnist"], "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16",
            "--val-split", "", "--checkpoint-dir", str(directory), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    note = f"incomplete checkpoint ckpt-1 in {directory} ignored (a run stopped while writing it left {DATA}): " \
           "training starts from the beginning"
    assert f"warning: {note}" in result.stderr.splitlines()
    assert _ckpt(json.loads(result.stdout)["notes"]) == [note]


@pytest.mark.slow
def test_killed_while_recording_its_first_checkpoint_then_rerun(datasets, tmp_path):
    # A real SIGKILL at the last moment of the first save: ckpt-1's files are written, the state file is not.
    directory = tmp_path / "c"
    args = ["train", datasets["mnist"], "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "16",
            "--val-split", "", "--checkpoint-dir", str(directory), "--seed", "0", "--json", "--quiet"]
    proc = start_gated("recording:1", args)
    try:
        held = wait_for_gate(proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert held and not (directory / "checkpoint").exists()
    rerun = subprocess.run([sys.executable, "-m", "tfrec.cli", *args], capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    result = json.loads(rerun.stdout)
    note = (f"incomplete checkpoint ckpt-1 in {directory} ignored (a run stopped while writing it left "
            f"{DATA}, {INDEX}): training starts from the beginning")
    assert result["resumed_from"] is None and _ckpt(result["notes"]) == [note]
    assert f"warning: {note}" in rerun.stderr.splitlines()
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
