"""ConvertOptions holds a SourceOptions; old keyword calls keep working; the run fingerprint is unchanged."""
from __future__ import annotations

import pickle
from dataclasses import fields, replace

import numpy as np
import pytest

from tfrec.codec.schema import load_schema
from tfrec.errors import SourceError, TfrecError
from tfrec.sources import SourceData, SourceOptions, SplitData
from tfrec.write import job
from tfrec.write.convert import ConvertOptions


def test_source_keywords_go_into_the_source_options():
    o = ConvertOptions(shards=2, resize=(8, 6), fit="pad", encode="png", quality=80, on_error="fail",
                       follow_symlinks=True, exif_transpose=False, max_pixels=1000, image_column="img",
                       label_column="lab", subset="digits", labels="none", schema="mnist")
    assert o.source == SourceOptions(resize=(8, 6), fit="pad", encode="png", quality=80, on_error="fail",
                                     follow_symlinks=True, exif_transpose=False, max_pixels=1000,
                                     image_column="img", label_column="lab", subset="digits", labels="none")
    assert (o.shards, o.schema) == (2, "mnist")  # the schema stays a name or path, loaded with the source
    # attribute reads of the old flat fields still work
    assert (o.resize, o.fit, o.encode, o.quality, o.max_pixels, o.labels) == ((8, 6), "pad", "png", 80, 1000, "none")


def test_a_source_options_can_be_given_and_keywords_override_it():
    src = SourceOptions(resize=(4, 4), quality=70)
    assert ConvertOptions(source=src).source is src
    o = ConvertOptions(source=src, quality=90, seed=3)
    assert o.source == SourceOptions(resize=(4, 4), quality=90) and o.seed == 3
    assert ConvertOptions() == ConvertOptions(source=SourceOptions())


def test_replace_and_pickle_keep_the_options():
    o = ConvertOptions(resize=(8, 8), shards=3)
    assert replace(o, seed=5) == ConvertOptions(resize=(8, 8), shards=3, seed=5)
    assert replace(o, quality=50).source.quality == 50
    assert pickle.loads(pickle.dumps(o)) == o
    assert [f.name for f in fields(ConvertOptions)].count("source") == 1
    assert not {f.name for f in fields(SourceOptions)} - {"schema"} & {f.name for f in fields(ConvertOptions)}


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(fit="squash"), TfrecError, r"unknown fit 'squash'; supported: stretch, crop, pad"),
    (dict(labels="maybe"), SourceError, r"unknown labels 'maybe'; supported: inferred, none"),
    (dict(quality=0), SourceError, r"quality must be between 1 and 100, not 0"),
    (dict(max_pixels=0), SourceError, r"max_pixels must be positive, not 0"),
    (dict(shards=0), TfrecError, r"--shards must be at least 1, not 0"),
    (dict(runner="spark"), TfrecError, r"unknown runner 'spark'; supported: local, beam"),
    (dict(format="tiff"), TfrecError, r"unknown format 'tiff'; supported: auto, mnist"),
])
def test_bad_values_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        ConvertOptions(**kwargs)


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'shard'"):
        ConvertOptions(shard=2)


# run_fingerprint decides whether --resume may reuse the shards of an interrupted conversion: these values
# were computed before ConvertOptions held a SourceOptions (tfrec's version pinned to 0.0.0+golden), so a
# conversion interrupted before that change still resumes after it.
GOLDEN_FINGERPRINTS = {
    ("arrays", "default"): "48ee01eccde990bb",
    ("arrays", "bytes_options"): "94e104fd75bf7f48",
    ("arrays", "source_options"): "99915d92d65bb0c1",
    ("arrays", "resize_crop"): "1fbda0e5467fd87b",
    ("arrays", "resize_pad_png"): "3e7cbbf8502eab95",
    ("arrays", "fit_without_resize"): "48ee01eccde990bb",
    ("arrays", "no_bytes_changed"): "48ee01eccde990bb",
    ("items", "default"): "0ebb99f4b355e4eb",
    ("items", "bytes_options"): "e3381eafa101d71b",
    ("items", "source_options"): "476cb91c9d68888d",
    ("items", "resize_crop"): "be2b809060277cfa",
    ("items", "resize_pad_png"): "87f47b012e12c55c",
    ("items", "fit_without_resize"): "0ebb99f4b355e4eb",
    ("items", "no_bytes_changed"): "0ebb99f4b355e4eb",
}
CASES = {
    "default": {},
    "bytes_options": dict(format="mnist", name="golden", compression="gzip", shuffle=False, seed=7),
    "source_options": dict(on_error="fail", follow_symlinks=True, exif_transpose=False, max_pixels=1000,
                           image_column="img", label_column="lab"),
    "resize_crop": dict(resize=(8, 6)),
    "resize_pad_png": dict(resize=(8, 6), fit="pad", encode="png", quality=80, shards=2),
    "fit_without_resize": dict(fit="stretch"),
    "no_bytes_changed": dict(workers=3, overwrite=True, progress=False, tfds_metadata=False, subset="digits"),
}


def _golden_source(kind: str) -> SourceData:
    if kind == "arrays":
        images = np.random.default_rng(0).integers(0, 256, (12, 28, 28, 1), dtype=np.uint8)
        labels = (np.arange(12) % 10).astype(np.int64)
        split = SplitData("train", labels, {"image": images, "label": labels})
        return SourceData("mnist", "golden", load_schema("mnist"), {"train": split})
    labels = np.array([0, 1, 0, 1, 2, 2], np.int64)
    items = [(i, f"c{label}/{i}.jpg", 100 + i, 1_600_000_000 + i) for i, label in enumerate(labels)]
    split = SplitData("train", labels, items=items, source_bytes=600)
    return SourceData("imagefolder", "golden", load_schema("imagefolder"), {"train": split})


@pytest.mark.parametrize("kind, case", sorted(GOLDEN_FINGERPRINTS))
def test_run_fingerprint_is_unchanged(kind, case, monkeypatch):
    monkeypatch.setattr(job, "__version__", "0.0.0+golden")
    source = _golden_source(kind)
    options = ConvertOptions(**CASES[case])
    plans = job.plan_splits(source, dict(source.splits), options.name or "golden", options)
    assert job.run_fingerprint(source, plans, options) == GOLDEN_FINGERPRINTS[kind, case]


def test_the_fingerprinted_options_are_marked_on_the_fields():
    # One list: the fields themselves say whether they change the records written (their metadata).
    marked = {f.name: f.metadata["fingerprint"] for cls in (ConvertOptions, SourceOptions) for f in fields(cls)
              if "fingerprint" in f.metadata}
    assert marked == {
        "format": True, "name": True, "compression": True, "shuffle": True, "seed": True, "resize": True,
        "fit": "resize", "encode": True, "quality": True, "on_error": True, "follow_symlinks": True,
        "exif_transpose": True, "max_pixels": True, "image_column": True, "label_column": True,
    }
