"""The layout's rules: TensorFlow stays out of the lower folders at import time; lower folders never import higher ones."""
from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tfrec

ROOT = Path(tfrec.__file__).parent
# The dependency direction (DESIGN.md): each folder may import those before it, never those after.
ORDER = ["io", "codec", "sources", "write", "check", "view", "read", "training", "bench", "demo"]
TF_FREE = ["io", "codec", "sources", "write", "check", "view", "demo"]


def _modules(folder: str) -> list[str]:
    return [f"tfrec.{folder}"] + [f"tfrec.{folder}.{m.name}" for m in pkgutil.iter_modules([str(ROOT / folder)])]


@pytest.mark.parametrize("folder", TF_FREE)
def test_folder_imports_no_tensorflow(folder):
    mods = _modules(folder)
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras')))\n"
            "print(len(bad)); print(bad[:5])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "0", f"importing tfrec.{folder} loaded TensorFlow: {out[1]}"


def test_cli_and_package_import_no_tensorflow():
    code = "import sys, tfrec, tfrec.cli.main, tfrec.timing, tfrec._parallel; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def _imported_folders(path: Path) -> set[str]:
    """The tfrec folders a module imports at module level (imports inside functions are lazy and allowed)."""
    tree = ast.parse(path.read_text())
    here = path.relative_to(ROOT).parts
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[:-1])[: len(here) - node.level]
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts] if node.module else [base + [a.name] for a in node.names]
            else:
                names = [node.module.split(".")[1:]] if (node.module or "").startswith("tfrec.") else []
            found.update(p[0] for p in names if p)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("tfrec."))
    return found


@pytest.mark.parametrize("folder", [f for f in ORDER if (ROOT / f).is_dir()])
def test_lower_folders_never_import_higher_ones(folder):
    higher = set(ORDER[ORDER.index(folder) + 1:])
    for path in (ROOT / folder).glob("*.py"):
        bad = _imported_folders(path) & higher
        assert not bad, f"{path.relative_to(ROOT)} imports the higher folder(s) {sorted(bad)} at import time"


def test_rule_checker_sees_an_upward_import(tmp_path):
    # The checker must be able to fail: an io module importing from check is caught.
    (ROOT / "io" / "_tmp_upward.py").write_text("from ..check.verify import verify\n")
    try:
        assert "check" in _imported_folders(ROOT / "io" / "_tmp_upward.py")
    finally:
        (ROOT / "io" / "_tmp_upward.py").unlink()
