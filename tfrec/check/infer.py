"""Schema inference: a tfrec Schema guessed from sample records of TFRecord files tfrec did not write."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from ..codec.images import IMAGE_MAGIC, as_text, image_format, image_header  # noqa: F401  (their home before codec/)
from ..codec.schema import Schema, schema_from_json

_SHAPES_KEPT = 8  # distinct image shapes listed per feature
# A scalar int64 is taken as a class label when its name says so and its values lie in [0, this).
MAX_INFERRED_CLASSES = 50_000  # ImageNet-21k has 21,841 classes
_LABEL_NAME = re.compile(r"(^|[_/.-])(label|labels|class|target|category)$|label", re.IGNORECASE)


@dataclass(frozen=True)
class FeatureGuess:
    """What the samples show about one key: kind, value counts, value range, and what bytes look like."""

    name: str
    kind: str  # bytes, int64 or float, as stored
    present: int  # sampled records that have the key
    min_count: int
    max_count: int
    looks_like: str = ""  # bytes: jpeg, png, gif, bmp, webp, image (mixed formats), text, binary
    min_value: float | None = None  # int64/float: the smallest and largest value seen
    max_value: float | None = None
    image_shapes: tuple[tuple[int, int, int], ...] = ()  # distinct (height, width, channels) seen
    conflicts: tuple[str, ...] = ()  # other kinds the same key had in some records
    classes: tuple[int, tuple[str, ...] | None] | None = None  # (num_classes, names) from files beside the data

    @property
    def is_image(self) -> bool:
        return self.looks_like in ("jpeg", "png", "gif", "bmp", "webp", "image") and self.min_count == self.max_count == 1

    def is_class_label(self, records: int) -> bool:
        """A scalar int64 in every record, named like a label, with values in [0, MAX_INFERRED_CLASSES)
        (or one that the dataset's own metadata calls a class label)."""
        if self.kind != "int64" or not self.min_count == self.max_count == 1 or self.present != records:
            return False
        if self.classes is not None:
            return True
        in_range = self.min_value is not None and 0 <= self.min_value and self.max_value < MAX_INFERRED_CLASSES
        return in_range and bool(_LABEL_NAME.search(self.name))

    def to_json(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "present": self.present,
                               "values_per_record": [self.min_count, self.max_count]}
        if self.looks_like:
            out["looks_like"] = self.looks_like
        if self.min_value is not None:
            out["value_range"] = [self.min_value, self.max_value]
        if self.image_shapes:
            out["image_shapes"] = [list(s) for s in self.image_shapes]
        if self.conflicts:
            out["other_kinds"] = list(self.conflicts)
        return out

    def schema_feature(self, records: int) -> dict:
        """This key as a feature of the schemas/ JSON format."""
        if self.is_image:
            dims = list(zip(*self.image_shapes)) if self.image_shapes else [(), (), ()]
            shape = [d[0] if len(set(d)) == 1 else None for d in dims[:2]] if self.image_shapes else [None, None]
            channels = dims[2][0] if self.image_shapes and len(set(dims[2])) == 1 else 3
            encoding = self.looks_like if self.looks_like in ("jpeg", "png") else "encoded"
            return {"kind": "image", "encoding": encoding, "dtype": "uint8", "shape": shape + [channels]}
        if self.is_class_label(records):
            count, names = self.classes or (int(self.max_value) + 1, None)
            return {"kind": "class_label", "shape": [], "num_classes": count, **({"names": list(names)} if names else {})}
        kind = "text" if self.looks_like == "text" and self.max_count == 1 else self.kind
        if self.min_count == self.max_count and self.present == records:
            shape = [] if self.max_count == 1 else [self.max_count]
        else:
            shape = [None]  # varying counts or a key some records lack: read as a variable-length list
        return {"kind": kind, "shape": shape}


@dataclass(frozen=True)
class InferredSchema:
    """The guesses for every key seen in the samples, and the Schema they make."""

    records: int
    features: tuple[FeatureGuess, ...]

    def to_schema(self, name: str = "inferred") -> Schema:
        """A validated Schema (the schemas/ format), readable by tfrec's reader and verify."""
        doc = {
            "name": name,
            "description": f"inferred by tfrec inspect from {self.records} sample records",
            "features": {f.name: f.schema_feature(self.records) for f in self.features},
        }
        return schema_from_json(doc, f"<inferred {name}>")

    def notes(self) -> list[str]:
        """Things a person should look at before trusting the inferred schema."""
        out = []
        for f in self.features:
            if f.present < self.records:
                out.append(f"{f.name!r} is missing in {self.records - f.present} of {self.records} sampled records")
            if f.conflicts:
                out.append(f"{f.name!r} is {f.kind} in most records but {', '.join(f.conflicts)} in some")
            if f.is_class_label(self.records) and f.classes is None:
                out.append(f"{f.name!r} is taken as a class label with num_classes {int(f.max_value) + 1} (values "
                           f"{f.min_value}..{f.max_value} in the sample); if there are more classes, set num_classes "
                           "in the saved schema")
        return out

    def to_json(self) -> dict:
        return {"sampled_records": self.records, "features": [f.to_json() for f in self.features], "notes": self.notes()}


class SchemaInferrer:
    """Accumulates decoded Examples (name -> (kind, values)) and guesses each key's feature."""

    def __init__(self):
        self.records = 0
        self._kinds: dict[str, Counter] = {}
        self._counts: dict[str, list[int]] = {}
        self._range: dict[str, list[float]] = {}
        self._looks: dict[str, Counter] = {}
        self._shapes: dict[str, Counter] = {}

    def add(self, example: dict[str, tuple[str, list]]) -> None:
        self.records += 1
        for name, (kind, values) in example.items():
            self._kinds.setdefault(name, Counter())[kind] += 1
            counts = self._counts.setdefault(name, [len(values), len(values), 0])
            counts[0], counts[1], counts[2] = min(counts[0], len(values)), max(counts[1], len(values)), counts[2] + 1
            if kind in ("int64", "float") and values:
                lo, hi = min(values), max(values)
                rng = self._range.setdefault(name, [lo, hi])
                rng[0], rng[1] = min(rng[0], lo), max(rng[1], hi)
            elif kind == "bytes":
                self._add_bytes(name, values)

    def _add_bytes(self, name: str, values: list) -> None:
        looks = self._looks.setdefault(name, Counter())
        for v in values:
            fmt = image_format(v)
            looks[fmt or ("text" if as_text(v) is not None else "binary")] += 1
            if fmt and len(self._shapes.setdefault(name, Counter())) < 64:
                shape = image_header(v)
                if shape is not None:
                    self._shapes[name][shape] += 1

    def result(self, classes: dict[str, tuple[int, tuple[str, ...] | None]] | None = None) -> InferredSchema:
        """The guesses; `classes` (see class_labels_beside) gives class counts and names the files carry."""
        classes = classes or {}
        guesses = []
        for name in sorted(self._kinds):
            (kind, _), *others = self._kinds[name].most_common()
            lo, hi, present = self._counts[name]
            looks = self._looks.get(name, Counter())
            rng = self._range.get(name)
            guesses.append(FeatureGuess(
                name, kind, present, lo, hi, _looks_like(looks) if kind == "bytes" else "",
                rng[0] if rng else None, rng[1] if rng else None,
                tuple(s for s, _ in self._shapes.get(name, Counter()).most_common(_SHAPES_KEPT)),
                tuple(k for k, _ in others), classes.get(name),
            ))
        return InferredSchema(self.records, tuple(guesses))


def _looks_like(looks: Counter) -> str:
    if not looks:
        return ""
    images = {k: n for k, n in looks.items() if k not in ("text", "binary")}
    if sum(images.values()) == sum(looks.values()):
        return next(iter(images)) if len(images) == 1 else "image"
    if set(looks) == {"text"}:
        return "text"
    return "binary"


def infer_schema(examples: Iterable[dict[str, tuple[str, list]]],
                 classes: dict[str, tuple[int, tuple[str, ...] | None]] | None = None) -> InferredSchema:
    """Guesses every key's kind, value counts and content from decoded Examples (see SchemaInferrer).

    Args:
        examples: decoded Examples (name -> (kind, values)).
        classes: feature name -> (num_classes, names or None), from class_labels_beside.
    """
    inferrer = SchemaInferrer()
    for example in examples:
        inferrer.add(example)
    return inferrer.result(classes)


def class_labels_beside(files: Iterable[str]) -> dict[str, tuple[int, tuple[str, ...] | None]]:
    """Class labels that the files' own metadata declares: TensorFlow Datasets writes dataset_info.json
    (a ClassLabel's numClasses) and FEATURE.labels.txt (one class name per line) beside its shards.

    Returns:
        feature name -> (num_classes, class names or None); empty when there is no such metadata.
    """
    found: dict[str, tuple[int, tuple[str, ...] | None]] = {}
    for folder in dict.fromkeys(os.path.dirname(os.path.abspath(f)) for f in files):
        counts: dict[str, int] = {}
        try:
            with open(os.path.join(folder, "dataset_info.json"), encoding="utf-8") as fh:
                feats = json.load(fh).get("features", {}).get("featuresDict", {}).get("features", {})
            counts = {k: int(v["classLabel"]["numClasses"]) for k, v in feats.items()
                      if isinstance(v, dict) and "classLabel" in v}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass  # no metadata, or not TFDS's: nothing to add
        names = {}
        for entry in sorted(os.listdir(folder)):
            if entry.endswith(".labels.txt"):
                with open(os.path.join(folder, entry), encoding="utf-8", errors="replace") as fh:
                    names[entry[: -len(".labels.txt")]] = tuple(line.strip() for line in fh if line.strip())
        for key in set(counts) | set(names):
            n = names.get(key)
            count = counts.get(key, len(n) if n else 0)
            if count > 0 and (n is None or len(n) == count):
                found.setdefault(key, (count, n))
    return found


def schema_name(path: str) -> str:
    """A schema name from a TFRecord file name: 'mnist-train.tfrecord-00000-of-00001' -> 'mnist-train'."""
    base = os.path.basename(str(path).rstrip("/"))
    return base.split(".tfrecord")[0].split(".tfrec")[0].split(".")[0] or "inferred"

