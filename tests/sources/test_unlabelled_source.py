"""Image folders without labels (Keras' labels=None): a flat folder, --labels none, loose images beside class folders."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from tfrec.demo import synth
from tfrec.errors import SourceError, UsageError
from tfrec.sources import SourceOptions, detect_format, read_source


def write_flat(root, n: int = 5, fmt: str = "png", prefix: str = "img") -> list[str]:
    """n small images of different sizes directly in root; returns their names."""
    os.makedirs(root, exist_ok=True)
    names = []
    for i in range(n):
        name = f"{prefix}_{i}.{'jpg' if fmt == 'jpeg' else fmt}"
        Image.new("RGB", (10 + i, 8 + 2 * i), (40 * i, 100, 200)).save(os.path.join(root, name), fmt.upper())
        names.append(name)
    return names


def _classes(root, num_classes: int = 2, n_per_class: int = 3, splits=None) -> None:
    synth.write_image_folder(root, n_per_class=n_per_class, seed=0, num_classes=num_classes, size=(12, 10), fmt="png",
                             splits=splits)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "gif"])
@pytest.mark.parametrize("n", [1, 4])
def test_a_flat_folder_is_an_unlabelled_image_folder(tmp_path, fmt, n):
    names = write_flat(tmp_path / "flat", n, fmt)
    (tmp_path / "flat" / "notes.txt").write_text("not an image")
    assert detect_format(str(tmp_path / "flat")) == "imagefolder"
    source = read_source(str(tmp_path / "flat"))
    assert source.kind == "imagefolder" and source.labels == "none"
    assert source.schema.label is None and not any(f.kind == "class_label" for f in source.schema.features)
    assert [f.name for f in source.schema.features] == ["image", "height", "width", "format", "filename"]
    assert sorted(it[1] for it in source.splits["train"].items) == sorted(names)
    assert source.ignored_names == ("notes.txt",)
    assert any("no class folders: an unlabelled dataset" in n for n in source.notes)
    assert "unlabelled" in source.description


def test_flat_split_folders_are_unlabelled_splits(tmp_path):
    write_flat(tmp_path / "src" / "train", 4)
    write_flat(tmp_path / "src" / "test", 2)
    source = read_source(str(tmp_path / "src"))
    assert source.labels == "none" and source.schema.label is None
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 4, "test": 2}


@pytest.mark.parametrize("splits", [None, ("train", "val")])
def test_labels_none_lists_every_image_recursively(tmp_path, splits):
    _classes(tmp_path / "src", num_classes=3, n_per_class=2, splits=splits)
    base = tmp_path / "src" / "train" if splits else tmp_path / "src"
    write_flat(base, 2, prefix="loose")
    write_flat(base / "red_circle" / "deeper", 1, prefix="nested")
    source = read_source(str(tmp_path / "src"), options=SourceOptions(labels="none"))
    assert source.labels == "none" and source.schema.label is None
    train = sorted(it[1] for it in source.splits["train"].items)
    prefix = "" if splits is None else "train/"
    assert len(train) == 3 * 2 + 2 + 1
    assert f"{prefix}loose_0.png" in train and f"{prefix}red_circle/deeper/nested_0.png" in train
    if splits:
        assert len(source.splits["val"]) == 6
    assert any("--labels none" in n for n in source.notes)


def test_loose_images_beside_class_folders_are_left_out_and_listed(tmp_path):
    _classes(tmp_path / "src")
    loose = write_flat(tmp_path / "src", 7, prefix="loose")
    source = read_source(str(tmp_path / "src"))
    assert source.labels == "inferred" and len(source.schema.label.names) == 2
    assert len(source.splits["train"]) == 6
    assert all(not it[1].startswith("loose") for it in source.splits["train"].items)
    (warning,) = [w for w in source.warnings if "loose" in w]
    assert warning.startswith("left out 7 images directly in the source folder (not in a class folder)")
    assert "as Keras' labels='inferred' does" in warning and "--labels none" in warning
    assert all(n in warning for n in loose[:5]) and "and 2 more" in warning


def test_loose_images_in_a_split_folder_are_left_out_and_listed(tmp_path):
    _classes(tmp_path / "src", splits=("train", "test"))
    write_flat(tmp_path / "src" / "test", 1, prefix="loose")
    source = read_source(str(tmp_path / "src"))
    assert len(source.splits["test"]) == 6
    assert any(w.startswith("left out 1 image directly in test/ (not in a class folder)") and "test/loose_0.png" in w
               for w in source.warnings)


@pytest.mark.parametrize("labels", ["inferred", "none"])
def test_loose_images_beside_split_folders_are_left_out_and_listed(tmp_path, labels):
    _classes(tmp_path / "src", splits=("train", "test"))
    write_flat(tmp_path / "src", 2, prefix="loose")
    source = read_source(str(tmp_path / "src"), options=SourceOptions(labels=labels))
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 6, "test": 6}
    assert ("left out 2 images directly in the source folder (not in a train, val or test folder): loose_0.png, "
            "loose_1.png; move them into one to convert them") in source.warnings


def test_inferred_labels_match_keras_and_labels_none_matches_keras(tmp_path):
    keras_utils = pytest.importorskip("keras.utils")
    _classes(tmp_path / "src", num_classes=3, n_per_class=2)
    write_flat(tmp_path / "src", 3, prefix="loose")
    write_flat(tmp_path / "src" / "red_circle" / "deeper", 2, prefix="nested")
    for labels, keras_labels in (("inferred", "inferred"), ("none", None)):
        ds = keras_utils.image_dataset_from_directory(str(tmp_path / "src"), labels=keras_labels, shuffle=False,
                                                      batch_size=None, image_size=(8, 8), verbose=False)
        keras_files = sorted(os.path.relpath(p, tmp_path / "src") for p in ds.file_paths)
        source = read_source(str(tmp_path / "src"), options=SourceOptions(labels=labels))
        assert sorted(it[1] for it in source.splits["train"].items) == keras_files
        if labels == "inferred":
            assert list(source.schema.label.names) == ds.class_names


def test_no_images_at_all_is_still_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(SourceError, match="no class subfolders and no image files"):
        read_source(str(tmp_path / "empty"), "imagefolder")
    with pytest.raises(SourceError, match="cannot tell the format"):
        detect_format(str(tmp_path / "empty"))
    (tmp_path / "empty" / "sub").mkdir()
    with pytest.raises(SourceError, match="no image files"):
        read_source(str(tmp_path / "empty"), "imagefolder", SourceOptions(labels="none"))


def test_labels_none_is_for_image_folders_only(tmp_path):
    synth.write_mnist(tmp_path / "mnist", n_train=10, n_test=5, seed=0)
    with pytest.raises(UsageError, match="--labels none reads image folders; mnist"):
        read_source(str(tmp_path / "mnist"), options=SourceOptions(labels="none"))
    with pytest.raises(SourceError, match="unknown labels 'maybe'; supported: inferred, none"):
        SourceOptions(labels="maybe")


def test_labels_none_refuses_a_schema_with_a_class_label(tmp_path):
    write_flat(tmp_path / "flat", 2)
    from tfrec.codec.schema import load_schema

    with pytest.raises(SourceError, match="schema 'imagefolder' declares class label 'label'"):
        read_source(str(tmp_path / "flat"), options=SourceOptions(schema=load_schema("imagefolder")))


def test_unlabelled_split_data_has_placeholder_labels(tmp_path):
    write_flat(tmp_path / "flat", 3)
    split = read_source(str(tmp_path / "flat")).splits["train"]
    assert split.labels.dtype == np.int64 and not split.labels.any()
    assert all(it[2] is None for it in split.items)
