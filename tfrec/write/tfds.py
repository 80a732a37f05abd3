"""TensorFlow Datasets metadata beside the shards (dataset_info.json, features.json, label names), without TFDS.

`tfds.builder_from_directory(OUT)` needs three things besides the shards: `dataset_info.json` (the
DatasetInfo proto as JSON: name, version, file format, per split the shard lengths), `features.json`
(the FeaturesDict config: how to parse and decode each feature) and `{feature}.labels.txt` (class
names). The JSON layouts are the ones tensorflow-datasets 4.9 writes with
`tfds.folder_dataset.write_metadata`; tests/write/test_tfds.py loads the result with TFDS itself.
The shard names are already the TFDS template `{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}`.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import TfrecError
from ..codec.schema import FeatureSpec, Schema, schema_from_json
from ..io import fs
from ..io.manifest import read_manifest

DATASET_INFO = "dataset_info.json"
FEATURES = "features.json"
TFDS_VERSION = "1.0.0"  # the version TFDS's write_metadata gives a dataset whose folder is not named X.Y.Z
FILEPATH_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
_FEATURES = "tensorflow_datasets.core.features."
_DTYPES = {"int64": "int64", "float": "float32", "bytes": "string"}


def _shape(shape: tuple) -> dict:
    """TFDS's Shape proto as JSON: int64 dimensions as strings, -1 for unknown; {} for a scalar."""
    return {"dimensions": [str(-1 if d is None else d) for d in shape]} if shape else {}


def tfds_feature(f: FeatureSpec) -> dict | None:
    """One feature's TFDS connector config, or None when TFDS cannot describe it (a variable length)."""
    if f.kind == "image" and f.encoding == "raw":
        return {"pythonClassName": f"{_FEATURES}tensor_feature.Tensor",
                "tensor": {"shape": _shape(f.shape), "dtype": "uint8", "encoding": "bytes"}}
    if f.kind == "image":
        image: dict[str, Any] = {"shape": _shape(f.shape), "dtype": "uint8"}
        if f.encoding in ("png", "jpeg"):
            image["encodingFormat"] = f.encoding
        return {"pythonClassName": f"{_FEATURES}image_feature.Image", "image": image}
    if f.kind == "class_label":
        return {"pythonClassName": f"{_FEATURES}class_label_feature.ClassLabel",
                "classLabel": {"numClasses": str(f.num_classes)}}
    if f.kind == "text" and not f.shape:
        return {"pythonClassName": f"{_FEATURES}text_feature.Text", "text": {}}
    if f.value_count is None or (f.storage == "bytes" and f.shape):
        return None
    return {"pythonClassName": f"{_FEATURES}tensor_feature.Tensor",
            "tensor": {"shape": _shape(f.shape), "dtype": _DTYPES[f.storage], "encoding": "none"}}


def tfds_metadata(manifest: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The TFDS metadata files for a dataset.json: (file name -> text, features left out of features.json).

    Raises:
        TfrecError: compressed shards (TFDS reads plain TFRecords only) or shard names off the TFDS template.
    """
    name = manifest["name"]
    if manifest.get("compression", "none") not in (None, "none", ""):
        raise TfrecError(f"dataset {name!r} is {manifest['compression']}-compressed; TensorFlow Datasets reads "
                         "uncompressed TFRecords only (convert again with --compression none)")
    schema: Schema = schema_from_json(manifest["schema"], "dataset.json")
    features, left_out, files = {}, [], {}
    for f in schema.features:
        config = tfds_feature(f)
        if config is None:
            left_out.append(f.name)
            continue
        features[f.name] = config
        if f.kind == "class_label" and f.names:
            files[f"{f.name}.labels.txt"] = "".join(f"{n}\n" for n in f.names)
    splits = []
    for split, entry in manifest["splits"].items():
        n = len(entry["shards"])
        for i, shard in enumerate(entry["shards"]):
            want = f"{name}-{split}.tfrecord-{i:05d}-of-{n:05d}"
            if shard["file"] != want:
                raise TfrecError(f"shard {shard['file']!r} is not named as TFDS expects ({want!r})")
        splits.append({"name": split, "numBytes": str(entry["bytes"]), "filepathTemplate": FILEPATH_TEMPLATE,
                       "shardLengths": [str(s["records"]) for s in entry["shards"]]})
    info: dict[str, Any] = {
        "name": name,
        "description": (manifest.get("source") or {}).get("description", "") + f" (converted by tfrec {manifest.get('tfrec_version', '')})",
        "version": TFDS_VERSION,
        "fileFormat": "tfrecord",
        "splits": splits,
    }
    if "image" in features and "label" in features:
        info["supervisedKeys"] = {"tuple": {"items": [{"featureKey": "image"}, {"featureKey": "label"}]}}
    files[DATASET_INFO] = json.dumps(info, indent=2) + "\n"
    files[FEATURES] = json.dumps({"pythonClassName": f"{_FEATURES}features_dict.FeaturesDict",
                                  "featuresDict": {"features": features}}, indent=2) + "\n"
    return files, left_out


def tfds_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What write_tfds_metadata writes for a manifest, or why nothing (compressed shards), without writing."""
    try:
        files, left_out = tfds_metadata(manifest)
    except TfrecError as e:
        return {"files": [], "left_out": [], "skipped": str(e)}
    return {"files": sorted(files), "left_out": left_out}


def write_tfds_metadata(out: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Writes the TFDS metadata files into a dataset directory (each atomically); TFDS is not imported.

    Args:
        out: the dataset directory.
        manifest: its dataset.json contents (read from `out` when None).

    Returns:
        {"files": the files written, "left_out": features TFDS cannot describe (not in features.json)}.

    Raises:
        TfrecError: no dataset.json, compressed shards, shard names off the TFDS template, a failed write.
    """
    manifest = manifest if manifest is not None else read_manifest(out)
    files, left_out = tfds_metadata(manifest)
    try:
        for name, text in files.items():
            fs.write_atomic(fs.join(out, name), text.encode("utf-8"))  # a URL OUT too (io/fs.py)
    except OSError as e:
        raise TfrecError(f"{out}: cannot write TFDS metadata: {e.strerror}") from e
    return {"files": sorted(files), "left_out": left_out}


def remove_tfds_metadata(out: str) -> None:
    """Removes TFDS metadata files a previous conversion left in `out`."""
    for name in fs.listdir(out):
        if name in (DATASET_INFO, FEATURES) or name.endswith(".labels.txt"):
            fs.remove(fs.join(out, name))
