"""write/'s modules: no import circle (imports inside functions count), the shard machinery and the Beam glue in
one place each, and the names that moved still importable from their old modules (with a DeprecationWarning)."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import warnings
from pathlib import Path

import pytest

import tfrec

ROOT = Path(tfrec.__file__).parent
LOW_FOLDERS = ("io", "codec", "sources", "write")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str = "") -> set[str]:
    """Every tfrec module `path` (module `name`) imports, anywhere in it (inside functions, try and if blocks too)."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tfrec."))
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module or ""
            if base.startswith("tfrec"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)  # `from . import shards` names a module
    return found


def _graph() -> dict[str, set[str]]:
    paths = [p for folder in LOW_FOLDERS for p in (ROOT / folder).glob("*.py")]
    modules = {_module_name(p): p for p in paths}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle in `graph` (as a path back to its start), or []."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return []


def test_no_import_circle_below_check():
    assert _cycle(_graph()) == []


def test_the_circle_finder_sees_a_circle_and_a_nested_import(tmp_path):
    # The check must be able to fail: a lazy import inside a function closes the circle as much as one at the top.
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from .convert import convert\n\n"
                      "try:\n    import tfrec.check.verify\nexcept ImportError:\n    pass\n")
    assert _imports(module, "tfrec.write.m") >= {"tfrec.write.convert", "tfrec.check.verify"}
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


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
