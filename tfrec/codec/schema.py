"""Example schemas: load and validate the JSON files, derive the encoder and the tf.io parse spec."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Mapping

import numpy as np

from ..errors import SchemaError
from .example import encode_example

# kind -> how it is stored in the Example
STORAGE = {"image": "bytes", "class_label": "int64", "int64": "int64", "float": "float", "bytes": "bytes", "text": "bytes"}
IMAGE_ENCODINGS = ("raw", "png", "jpeg", "encoded")  # encoded: any format tf.io.decode_image reads
ENCODED_FORMATS = ("jpeg", "png", "bmp", "gif", "webp")
IMAGE_DTYPES = ("uint8",)
_FEATURE_KEYS = {"kind", "shape", "dtype", "encoding", "num_classes", "names", "description"}


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its kind, shape (None for a variable dimension) and kind-specific details."""

    name: str
    kind: str
    shape: tuple = ()
    dtype: str = ""
    encoding: str = ""
    num_classes: int | None = None
    names: tuple[str, ...] | None = None
    description: str = ""

    @property
    def storage(self) -> str:
        """The Example kind it is stored as: 'bytes', 'int64' or 'float'."""
        return STORAGE[self.kind]

    @property
    def value_count(self) -> int | None:
        """Values per record: 1 for images and scalars, the product of a fixed shape, None if variable."""
        if self.kind == "image" or not self.shape:
            return 1
        if any(d is None for d in self.shape):
            return None
        return int(np.prod(self.shape))

    def to_json(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind, "shape": list(self.shape)}
        for key in ("dtype", "encoding", "description"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.num_classes is not None:
            out["num_classes"] = self.num_classes
        if self.names is not None:
            out["names"] = list(self.names)
        return out


@dataclass(frozen=True)
class Schema:
    """A dataset's Example layout: the single source of the encoder, the parse spec and verify's checks."""

    name: str
    features: tuple[FeatureSpec, ...]
    description: str = ""
    source: str = field(default="<inline>", compare=False)

    def __getitem__(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(f.name == name for f in self.features)

    @property
    def label(self) -> FeatureSpec | None:
        """The `label` feature, if the schema has one."""
        return self["label"] if "label" in self else None

    @property
    def image(self) -> FeatureSpec | None:
        """The `image` feature, else the first feature of kind image (the detection schemas' `image/encoded`)."""
        if "image" in self:
            return self["image"]
        return next((f for f in self.features if f.kind == "image"), None)

    def to_json(self) -> dict:
        """The schema in the `schemas/*.json` format."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["features"] = {f.name: f.to_json() for f in self.features}
        return out

    def with_class_names(self, names: list[str] | None, feature: str = "label",
                         num_classes: int | None = None) -> "Schema":
        """A copy whose class-label feature carries these class names and their count.

        With `names` None the feature has no names and `num_classes` classes.
        """
        count = len(names) if names is not None else num_classes
        named = tuple(names) if names is not None else None
        feats = tuple(replace(f, names=named, num_classes=count) if f.name == feature else f for f in self.features)
        return replace(self, features=feats)

    def with_image(self, **changes: Any) -> "Schema":
        """A copy with the image feature changed (e.g. shape or encoding after --resize/--encode)."""
        feats = tuple(replace(f, **changes) if f.kind == "image" else f for f in self.features)
        return replace(self, features=feats)

    def encode(self, sample: Mapping[str, Any]) -> bytes:
        """Serializes one sample as a tf.train.Example, checking it against the schema.

        Raises:
            SchemaError: a feature is missing or has the wrong number of values.
        """
        values = {}
        for f in self.features:
            if f.name not in sample:
                raise SchemaError(f"sample has no feature {f.name!r} (schema {self.name!r} declares it)")
            v = sample[f.name]
            if f.kind == "image" and isinstance(v, np.ndarray):
                v = np.ascontiguousarray(v, dtype=np.uint8).tobytes()
            count = 1 if isinstance(v, (bytes, str, int, float, np.integer, np.floating)) else np.size(v)
            if f.value_count is not None and count != f.value_count:
                raise SchemaError(f"feature {f.name!r}: expected {f.value_count} values, found {count}")
            values[f.name] = (f.storage, v)
        return encode_example(values)

    def parse_spec(self) -> dict:
        """The `tf.io.parse_example` feature spec (imports TensorFlow)."""
        import tensorflow as tf

        dtypes = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
        spec = {}
        for f in self.features:
            dtype = dtypes[f.storage]
            count = f.value_count
            if count is None:
                spec[f.name] = tf.io.VarLenFeature(dtype)
            elif f.kind == "image" or not f.shape:
                spec[f.name] = tf.io.FixedLenFeature([], dtype)
            else:
                spec[f.name] = tf.io.FixedLenFeature(list(f.shape), dtype)
        return spec


def _err(source: str, where: str, expected: str, found: Any) -> SchemaError:
    return SchemaError(f"{source}: {where}: expected {expected}, found {found!r}")


def _parse_feature(source: str, name: str, d: Any) -> FeatureSpec:
    where = f"features.{name}"
    if not isinstance(d, dict):
        raise _err(source, where, "an object", d)
    unknown = set(d) - _FEATURE_KEYS
    if unknown:
        raise _err(source, f"{where}.{sorted(unknown)[0]}", f"one of the keys {sorted(_FEATURE_KEYS)}", sorted(unknown)[0])
    kind = d.get("kind")
    if kind not in STORAGE:
        raise _err(source, f"{where}.kind", f"one of {', '.join(STORAGE)}", kind)
    shape = d.get("shape", [])
    if not isinstance(shape, list) or not all(s is None or (isinstance(s, int) and s > 0) for s in shape):
        raise _err(source, f"{where}.shape", "a list of positive integers or null", shape)
    spec = FeatureSpec(name=name, kind=kind, shape=tuple(shape), description=str(d.get("description", "")))
    if kind == "image":
        if len(shape) != 3 or shape[2] not in (1, 3, 4):
            raise _err(source, f"{where}.shape", "[height, width, channels] with channels 1, 3 or 4", shape)
        enc = d.get("encoding")
        if enc not in IMAGE_ENCODINGS:
            raise _err(source, f"{where}.encoding", f"one of {', '.join(IMAGE_ENCODINGS)}", enc)
        if enc == "raw" and None in shape:
            raise _err(source, f"{where}.shape", "a fixed shape for raw images", shape)
        dtype = d.get("dtype", "uint8")
        if dtype not in IMAGE_DTYPES:
            raise _err(source, f"{where}.dtype", f"one of {', '.join(IMAGE_DTYPES)}", dtype)
        return replace(spec, encoding=enc, dtype=dtype)
    if kind == "class_label":
        if shape:
            raise _err(source, f"{where}.shape", "[] (one label per record)", shape)
        names = d.get("names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise _err(source, f"{where}.names", "a list of strings", names)
        num = d.get("num_classes", len(names) if names else None)
        if not isinstance(num, int) or num < 1:
            raise _err(source, f"{where}.num_classes", "a positive integer", num)
        if names is not None and len(names) != num:
            raise _err(source, f"{where}.names", f"{num} names (num_classes)", f"{len(names)} names")
        return replace(spec, num_classes=num, names=tuple(names) if names else None)
    for key in ("encoding", "num_classes", "names"):
        if key in d:
            raise _err(source, f"{where}.{key}", f"no {key!r} for kind {kind!r}", d[key])
    return spec


def schema_from_json(d: Any, source: str = "<inline>") -> Schema:
    """Builds and validates a Schema from its JSON object.

    Raises:
        SchemaError: names the file and the field that is wrong, what was expected and found.
    """
    if not isinstance(d, dict):
        raise _err(source, "top level", "a JSON object", type(d).__name__)
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise _err(source, "name", "a non-empty string", name)
    feats = d.get("features")
    if not isinstance(feats, dict) or not feats:
        raise _err(source, "features", "a non-empty object of feature name -> spec", feats)
    features = tuple(_parse_feature(source, k, v) for k, v in feats.items())
    return Schema(name=name, features=features, description=str(d.get("description", "")), source=source)


def builtin_schemas() -> list[str]:
    """Names of the schemas shipped in `schemas/`."""
    return sorted(p.name[:-5] for p in resources.files("tfrec.schemas").iterdir() if p.name.endswith(".json"))


def _is_path(name_or_path: str) -> bool:
    """A schema argument names a file when it ends in .json or holds a path separator; else a built-in first."""
    return name_or_path.endswith(".json") or os.sep in name_or_path or (os.altsep or os.sep) in name_or_path


def load_schema(name_or_path: str) -> Schema:
    """Loads a built-in schema by name (`mnist`) or a user's schema file by path.

    A built-in name wins over a file or folder of the same name in the current directory unless the
    argument is written as a path: it ends in `.json` or holds a `/` (`./mnist`). Any other existing
    file is read as a schema file; a directory never is.

    Raises:
        SchemaError: unknown name (lists the built-in ones), unreadable file, bad JSON, bad field.
    """
    name_or_path = str(name_or_path)
    if not _is_path(name_or_path) and name_or_path in builtin_schemas():
        source = f"schemas/{name_or_path}.json"
        text = resources.files("tfrec.schemas").joinpath(f"{name_or_path}.json").read_text("utf-8")
    elif _is_path(name_or_path) or os.path.exists(name_or_path):
        source = name_or_path
        if os.path.isdir(name_or_path):
            raise SchemaError(f"{source}: is a directory, not a schema file (a JSON file or a built-in name: "
                              f"{', '.join(builtin_schemas())})")
        try:
            with open(name_or_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise SchemaError(f"{source}: cannot read schema: {e.strerror}") from e
    else:
        raise SchemaError(f"unknown schema {name_or_path!r}; built-in schemas: {', '.join(builtin_schemas())}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    return schema_from_json(data, source)
