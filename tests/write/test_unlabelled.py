"""Unlabelled image folders end to end: convert (a flat folder, --labels none), verify, inspect, view and
make_dataset read the dataset; train and evaluate refuse it with exit code 2, saying why."""
from __future__ import annotations

import json
import os
import types
import warnings

import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.demo import synth

from ..sources.test_unlabelled_source import write_flat

NO_LABELS = "has no labels (converted from an unlabelled image folder)"


def _convert(*args: str):
    result = CliRunner().invoke(cli, ["convert", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory):
    """A flat folder of 6 PNGs of different sizes, converted with `tfrec convert` (2 shards): (out, summary)."""
    root = tmp_path_factory.mktemp("unlabelled")
    write_flat(root / "holiday", 6)
    result = _convert(str(root / "holiday"), str(root / "out"), "--shards", "2")
    return str(root / "out"), result.stdout


def test_a_flat_folder_converts_without_labels(unlabelled):
    out, summary = unlabelled
    assert "note: no class folders: an unlabelled dataset" in summary
    manifest = json.loads(open(os.path.join(out, "dataset.json")).read())
    assert manifest["label_names"] is None and manifest["source"]["labels"] == "none"
    assert list(manifest["schema"]["features"]) == ["image", "height", "width", "format", "filename"]
    assert manifest["splits"]["train"]["records"] == 6 and manifest["name"] == "holiday"
    info = json.loads(open(os.path.join(out, "dataset_info.json")).read())
    assert "supervisedKeys" not in info


def test_the_format_option_and_json_say_so_too(tmp_path):
    write_flat(tmp_path / "flat", 3)
    result = _convert(str(tmp_path / "flat"), str(tmp_path / "o"), "--format", "imagefolder", "--json")
    data = json.loads(result.stdout)
    assert data["label_names"] is None and data["source"]["labels"] == "none"
    assert any(n.startswith("no class folders: an unlabelled dataset") for n in data["notes"])


def test_verify_and_inspect_pass(unlabelled):
    out, _ = unlabelled
    result = CliRunner().invoke(cli, ["verify", out, "--deep"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["inspect", out, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (section,) = report["inputs"]
    assert report["problems"] == [] and section["records"] == 6 and section["source"]["labels"] == "none"
    assert "label" not in section["schema"]["features"]
    result = CliRunner().invoke(cli, ["inspect", out])
    assert result.exit_code == 0 and "image" in result.stdout


def test_the_viewer_shows_it(unlabelled):
    from ..view.conftest import get, serving

    out, _ = unlabelled
    with serving(out) as server:
        for target in ("/", "/?per=10", "/record?s=0&i=0", "/image?s=0&i=0", "/thumb?s=1&i=0"):
            status, _, body = get(server, target)
            assert status == 200, (target, body[:300])


def test_make_dataset_yields_images_only(unlabelled):
    tfrec = pytest.importorskip("tfrec")
    out, _ = unlabelled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = tfrec.make_dataset(out, "train", batch_size=4, image_size=(16, 12), shuffle=False)
    batches = list(ds)
    assert [tuple(b.shape) for b in batches] == [(4, 16, 12, 3), (2, 16, 12, 3)]


def _tiny_model(tmp_path) -> str:
    """A 3-channel, 2-class model exported as `tfrec train --export` writes one (no training needed)."""
    keras = pytest.importorskip("keras")
    from tfrec.training.export import export_model

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    plan = types.SimpleNamespace(model="lenet5", image_size=(16, 16), channels=3, num_classes=2,
                                 class_names=("a", "b"), path=str(tmp_path))
    path = str(tmp_path / "m.keras")
    export_model(model, path, plan)
    return path


def test_train_and_evaluate_are_usage_errors_that_say_why(unlabelled, tmp_path):
    out, _ = unlabelled
    result = CliRunner().invoke(cli, ["train", out, "--epochs", "1"])
    assert result.exit_code == 2, result.output
    assert f"{out} {NO_LABELS}; train needs a class_label feature" in result.output
    assert "convert a folder of class subfolders" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["evaluate", out, "--model", _tiny_model(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{out} {NO_LABELS}; evaluate needs a class_label feature" in result.output
    assert "tfrec predict" in result.output and "Traceback" not in result.output
    # refused before the model is opened: a model file that is not there is not what it complains of
    garbage = tmp_path / "not-a-model.keras"
    garbage.write_bytes(b"x")
    result = CliRunner().invoke(cli, ["evaluate", out, "--model", str(garbage)])
    assert result.exit_code == 2 and f"{NO_LABELS}; evaluate needs" in result.output, result.output


def test_train_in_python_raises_the_usage_error(unlabelled):
    pytest.importorskip("tensorflow")
    from tfrec.training.data import plan_data
    from tfrec.training.options import TrainOptions
    from tfrec.training.zoo import TrainUsageError

    out, _ = unlabelled
    with pytest.raises(TrainUsageError, match=r"has no labels \(converted from an unlabelled image folder\)"):
        plan_data(out, TrainOptions())


@pytest.mark.parametrize("splits", [None, ("train", "test")])
def test_labels_none_on_class_folders_gives_every_image_unlabelled(tmp_path, splits):
    synth.write_image_folder(tmp_path / "src", n_per_class=3, seed=0, num_classes=3, size=(12, 10), fmt="png",
                             splits=splits)
    result = _convert(str(tmp_path / "src"), str(tmp_path / "o"), "--labels", "none")
    assert "note: --labels none: every image under" in result.stdout
    manifest = json.loads((tmp_path / "o" / "dataset.json").read_text())
    assert manifest["label_names"] is None and "label" not in manifest["schema"]["features"]
    assert {k: v["records"] for k, v in manifest["splits"].items()} == {s: 9 for s in (splits or ("train",))}
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "o"), "--epochs", "1"])
    assert result.exit_code == 2 and NO_LABELS in result.output


def test_a_mixed_root_keeps_the_class_folders_and_lists_the_loose_images(tmp_path):
    synth.write_image_folder(tmp_path / "src", n_per_class=2, seed=0, num_classes=2, size=(12, 10), fmt="png")
    write_flat(tmp_path / "src", 2, prefix="loose")
    result = _convert(str(tmp_path / "src"), str(tmp_path / "o"))
    assert ("warning: left out 2 images directly in the source folder (not in a class folder), as Keras' "
            "labels='inferred' does: loose_0.png, loose_1.png; pass --labels none") in result.stdout
    manifest = json.loads((tmp_path / "o" / "dataset.json").read_text())
    assert manifest["splits"]["train"]["records"] == 4 and len(manifest["label_names"]) == 2
    assert manifest["source"]["labels"] == "inferred"
    assert any("loose_0.png" in w for w in manifest["warnings"])


def test_split_fractions_work_without_labels(tmp_path):
    write_flat(tmp_path / "flat", 10)
    result = _convert(str(tmp_path / "flat"), str(tmp_path / "o"), "--split", "train=0.8,val=0.2", "--json")
    data = json.loads(result.stdout)
    assert {k: v["records"] for k, v in data["splits"].items()} == {"train": 8, "val": 2}


def test_labels_option_in_help_and_checked():
    result = CliRunner().invoke(cli, ["convert", "--help"])
    assert "--labels [inferred|none]" in result.output and "labels=None" in result.output
    result = CliRunner().invoke(cli, ["convert", "x", "y", "--labels", "maybe"])
    assert result.exit_code == 2


def test_labels_none_on_another_format_is_a_usage_error(tmp_path):
    synth.write_mnist(tmp_path / "mnist", n_train=10, n_test=5, seed=0)
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "mnist"), str(tmp_path / "o"), "--labels", "none"])
    assert result.exit_code == 2
    assert "--labels none reads image folders; mnist keeps its labels in its files" in result.output
    assert not (tmp_path / "o" / "dataset.json").exists()


def test_resume_of_an_unlabelled_conversion_finishes_it_the_same(tmp_path):
    write_flat(tmp_path / "flat", 4)
    first = json.loads(_convert(str(tmp_path / "flat"), str(tmp_path / "o"), "--shards", "2", "--json").stdout)
    os.remove(tmp_path / "o" / "dataset.json")  # as if killed before the manifest
    again = json.loads(_convert(str(tmp_path / "flat"), str(tmp_path / "o"), "--shards", "2", "--json",
                                "--resume").stdout)
    assert again["splits"] == first["splits"] and again["source"]["labels"] == "none"
