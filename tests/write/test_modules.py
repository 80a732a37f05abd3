"""write/'s modules: no import circle (imports inside functions count), the shard machinery and the Beam glue in
one place each, and the names that moved still importable from their old modules (with a DeprecationWarning)."""
from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path

import pytest

import tfrec
from tests.test_layout import import_graph

ROOT = Path(tfrec.__file__).parent
LOW_FOLDERS = ("io", "codec", "sources", "write")


def _graph() -> dict[str, set[str]]:
    """write/'s and its lower folders' import graph, from the layout test's one walker (nested imports count;
    tests/test_layout.py checks the whole package for circles and proves the walker can fail)."""
    graph = import_graph(ROOT, "tfrec")
    low = {m for m in graph if m.count(".") >= 1 and m.split(".")[1] in LOW_FOLDERS}
    return {m: {t for t in graph[m] if t in low} for m in low}


def test_beam_runner_takes_nothing_from_the_local_runner():
    graph = _graph()
    assert "tfrec.write.convert" not in graph["tfrec.write.beam"]
    assert {"tfrec.write.shards", "tfrec.write.job", "tfrec.write.beam_glue"} <= graph["tfrec.write.beam"]
    assert "tfrec.write.shards" in graph["tfrec.write.convert"]


def test_beam_glue_needs_nothing_above_io():
    assert {m.split(".")[1] for m in _graph()["tfrec.write.beam_glue"]} <= {"io"}


@pytest.mark.parametrize("old, name, new", [
    ("tfrec.write.convert", "encode_chunk", "tfrec.write.shards"),
    ("tfrec.write.convert", "write_shard", "tfrec.write.shards"),
    ("tfrec.write.convert", "ShardUnit", "tfrec.write.shards"),
    ("tfrec.write.convert", "write_unit", "tfrec.write.shards"),
    ("tfrec.write.convert", "split_entry", "tfrec.write.shards"),
    ("tfrec.write.convert", "ITEM_CHUNK_RECORDS", "tfrec.write.shards"),
    ("tfrec.write.convert", "prepare", "tfrec.write.job"),
    ("tfrec.write.convert", "Prepared", "tfrec.write.job"),
    ("tfrec.write.convert", "plan_splits", "tfrec.write.job"),
    ("tfrec.write.convert", "run_fingerprint", "tfrec.write.job"),
    ("tfrec.write.convert", "read_options_source", "tfrec.write.job"),
    ("tfrec.write.convert", "interrupted_conversion", "tfrec.write.output"),
    ("tfrec.write.beam", "map_on_beam", "tfrec.write.beam_glue"),
    ("tfrec.write.beam", "beam_flags", "tfrec.write.beam_glue"),
    ("tfrec.write.beam", "import_beam", "tfrec.write.beam_glue"),
    ("tfrec.write.beam", "DIRECT_WORKERS", "tfrec.write.beam_glue"),
])
def test_moved_names_still_import_from_the_old_module(old, name, new):
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}"):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)


def test_the_public_names_import_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from tfrec.write.beam import convert_on_beam  # noqa: F401
        from tfrec.write.convert import ConvertOptions, convert  # noqa: F401


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        importlib.import_module("tfrec.write.convert").nothing_here
