"""The layout's rules: TensorFlow stays out of the lower folders at import time; lower folders never import
higher ones; the import graph has no circle, imports inside functions, try and if blocks included; view/
takes from check/ only the names tfrec/check/__init__.py lists in __all__.

The checkers read source with ast and take the package's directory as an argument, so that the test of
each checker runs it on a synthetic package under tmp_path (nothing is written into tfrec)."""
from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import tfrec

ROOT = Path(tfrec.__file__).parent
# The dependency direction (DESIGN.md): each folder may import those before it, never those after.
ORDER = ["io", "codec", "sources", "write", "check", "access", "view", "read", "torch", "grain", "training", "bench",
         "demo"]
TF_FREE = ["io", "codec", "sources", "write", "check", "access", "view", "demo"]
# The frameworks' own folders: each imports its framework, and nothing else imports either one.
FRAMEWORK_FOLDERS = {"torch": "torch", "grain": "grain"}
# The backend packages of the higher folders that import a framework too (DESIGN.md: "PyTorch only in torch/ and
# the torch backend modules"); like the framework folders, they import no TensorFlow.
FRAMEWORK_BACKENDS = {"torch": ("tfrec.training.torch", "tfrec.bench.torch")}
# The trainer's framework-neutral modules: the CLI, the registries, the options and what both backends share.
TRAINING_NEUTRAL = ["tfrec.training.zoo", "tfrec.training.options", "tfrec.training.plan", "tfrec.training.result",
                    "tfrec.training.metrics", "tfrec.training.predictions", "tfrec.training.monitor",
                    "tfrec.training.frameworks", "tfrec.training.checkpoints", "tfrec.training.confusion"]
# Imports inside a function that reach a higher folder, which DESIGN.md allows by name ("verify --deep decodes
# with the reader's decoders, lazily"; inspect --augment shows the reader's augmentation): no circle, since
# nothing in read/ imports check/ (test_no_import_circle holds that).
LAZY_UPWARD = {("tfrec.check.verify", "tfrec.read.decode"), ("tfrec.check.inspect", "tfrec.read.pipeline")}


# ---------------------------------------------------------------- the checkers


@dataclass(frozen=True)
class Import:
    """One import statement's target module in a module, the names it takes, and whether it sits in a function."""

    module: str
    names: tuple[str, ...]  # `from M import a, b`: ("a", "b"); `import M`: ()
    in_function: bool
    line: int
    submodule: bool = False  # `from P import m` where P.m is a module: it is loaded too (beside P)


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package at `root` (a directory with __init__.py), by dotted name."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        out[".".join((package, *parts))] = path
    return out


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, module: str, modules: set[str] | None = None) -> list[Import]:
    """Every import in a module, wherever it sits (module body, try/if/with blocks, functions, classes).

    `from P import x` imports P; where P.x is one of `modules`, it imports the module P.x too.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend(Import(a.name, (), in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(child, module, is_package)
                found.append(Import(target, tuple(a.name for a in child.names), in_function, child.lineno))
                found.extend(Import(f"{target}.{a.name}", (), in_function, child.lineno, True) for a in child.names
                             if modules and f"{target}.{a.name}" in modules)
            visit(child, nested)

    visit(tree, False)
    return found


def import_graph(root: Path, package: str, *more: tuple[Path, str]) -> dict[str, dict[str, list[Import]]]:
    """module -> {each module of the package it imports -> the imports}, nested imports included; `more`
    packages ((root, name) pairs: tfrec.cli lives apart) join the graph."""
    modules = module_names(root, package)
    for other in more:
        modules.update(module_names(*other))
    graph: dict[str, dict[str, list[Import]]] = {}
    for name, path in modules.items():
        edges: dict[str, list[Import]] = {}
        for imp in imports_of(path, name, set(modules)):
            target = imp.module
            while target not in modules and "." in target:  # `from P.m import f` where P.m is a module
                target = target.rpartition(".")[0]
            if target in modules and target != name:
                edges.setdefault(target, []).append(imp)
        graph[name] = edges
    return graph


def find_circle(graph: dict[str, dict]) -> list[str]:
    """One import circle (a path back to its start), or [].

    A package's __init__ importing its own modules is not one: Python loads the package first, then the
    module, so a module's edge to a package that contains it is left out.
    """
    state: dict[str, int] = {}

    def edges(node: str) -> list[str]:
        return sorted(t for t in graph.get(node, ()) if not node.startswith(t + "."))

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in edges(node):
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


def folder_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ORDER) else ""


def upward_imports(root: Path, package: str, allowed: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Imports from a folder into a higher one (ORDER): anywhere outside functions, and inside functions too
    unless (module, target) is `allowed`."""
    bad = []
    for module, edges in import_graph(root, package).items():
        here = folder_of(module)
        if here not in ORDER:
            continue
        higher = set(ORDER[ORDER.index(here) + 1:])
        for target, imps in edges.items():
            for imp in imps:
                if folder_of(target) in higher and not (imp.in_function and (module, target) in allowed):
                    bad.append(f"{module} (line {imp.line}) imports {target}")
    return bad


def public_names(init: Path) -> set[str]:
    """The names a package's __init__.py lists in __all__ (read, not imported)."""
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def private_reaches(root: Path, package: str, user: str, provider: str) -> list[str]:
    """Imports from folder `user` into folder `provider` that take anything but `from <package>.<provider> import
    NAME` with NAME in the provider's __all__ (a module inside it, or a name it does not list)."""
    allowed = public_names(root / provider / "__init__.py")
    modules = module_names(root, package)
    api = f"{package}.{provider}"
    bad = []
    for module, path in modules.items():
        if folder_of(module) != user:
            continue
        for imp in imports_of(path, module, set(modules)):
            if imp.submodule or (imp.module != api and not imp.module.startswith(api + ".")):
                continue
            if imp.module != api or not imp.names or not set(imp.names) <= allowed:
                names = f" ({', '.join(imp.names)})" if imp.names else ""
                bad.append(f"{module} (line {imp.line}) imports {imp.module}{names}")
    return bad


# ---------------------------------------------------------------- the rules, on tfrec


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


@pytest.mark.parametrize("folder", sorted(FRAMEWORK_FOLDERS))
def test_framework_folders_import_no_tensorflow(folder):
    pytest.importorskip(FRAMEWORK_FOLDERS[folder])
    test_folder_imports_no_tensorflow(folder)


def framework_imports(root: Path, package: str, framework: str, home: str, backends: tuple[str, ...] = ()) -> list[str]:
    """Imports of `framework` (the top-level package, anywhere in a module) outside the folder `home` and the
    `backends` packages (dotted names)."""
    bad = []
    for module, path in module_names(root, package).items():
        if folder_of(module) == home or any(module == b or module.startswith(b + ".") for b in backends):
            continue
        for imp in imports_of(path, module):
            if imp.module == framework or imp.module.startswith(framework + "."):
                bad.append(f"{module} (line {imp.line}) imports {imp.module}")
    return bad


@pytest.mark.parametrize("framework", sorted(FRAMEWORK_FOLDERS))
def test_a_framework_is_imported_only_in_its_folder(framework):
    # Grain is JAX's data loader: the jax backends may use it (the JAX bench's tutorial pipeline is Grain's).
    also = JAX_BACKENDS if framework == "grain" else ()
    assert framework_imports(ROOT, "tfrec", framework, FRAMEWORK_FOLDERS[framework],
                             FRAMEWORK_BACKENDS.get(framework, ()) + also) == []


# JAX (and Keras on its JAX backend) only in the jax backend packages; they import no TensorFlow either.
JAX_BACKENDS = ("tfrec.training.jax", "tfrec.bench.jax")


def test_jax_is_imported_only_in_its_backend_packages():
    assert framework_imports(ROOT, "tfrec", "jax", "jax", JAX_BACKENDS) == []  # no tfrec/jax/ folder: home is none


def test_the_jax_backend_packages_import_no_tensorflow():
    pytest.importorskip("jax")
    pytest.importorskip("keras")
    mods = [f"{b}.{m.name}" for b in JAX_BACKENDS
            for m in pkgutil.iter_modules([str(ROOT.joinpath(*b.split(".")[1:]))])]
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "import keras\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'), keras.backend.backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "KERAS_BACKEND": ""}).stdout
    assert len(mods) > 4 and out.split() == ["[]", "jax"], out


def test_the_backend_checker_allows_only_the_backend_package(tmp_path):
    files = {"__init__.py": "", "training/__init__.py": "", "training/torch/__init__.py": "",
             "training/torch/loop.py": "import torch\n", "training/torchy.py": "import torch\n"}
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    assert framework_imports(tmp_path / "pkg", "pkg", "torch", "torch", ("pkg.training.torch",)) == [
        "pkg.training.torchy (line 1) imports torch"]


def _tensorflow_loaded_by(mods: list[str]) -> list[str]:
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out.strip())


def test_the_trainers_neutral_modules_import_no_framework():
    code = ("import importlib, sys\n"
            f"for m in {TRAINING_NEUTRAL!r}: importlib.import_module(m)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'torch', 'jax', 'grain'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("framework", sorted(FRAMEWORK_BACKENDS))
def test_backend_packages_import_no_tensorflow(framework):
    pytest.importorskip(framework)
    assert (ROOT / "training" / framework).is_dir()
    for backend in FRAMEWORK_BACKENDS[framework]:
        folder = ROOT.joinpath(*backend.split(".")[1:])
        if not folder.is_dir():  # a backend package of bench/ that this tree does not have yet
            continue
        mods = [backend] + [f"{backend}.{m.name}" for m in pkgutil.iter_modules([str(folder)])]
        assert len(mods) > 1 and _tensorflow_loaded_by(mods) == [], backend


def test_the_framework_checker_sees_a_stray_import(tmp_path):
    (tmp_path / "pkg" / "access").mkdir(parents=True)
    (tmp_path / "pkg" / "torch").mkdir()
    for name, text in {"__init__.py": "", "access/__init__.py": "def f():\n    import torch.utils\n",
                       "torch/__init__.py": "import torch\n"}.items():
        (tmp_path / "pkg" / name).write_text(text)
    assert framework_imports(tmp_path / "pkg", "pkg", "torch", "torch") == ["pkg.access (line 2) imports torch.utils"]


# A meta path finder that refuses TensorFlow, installed before anything else runs.
_NO_TENSORFLOW = """
import sys
class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith(("tensorflow.", "keras")):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, _Refuse())
"""


def test_a_torch_epoch_runs_where_tensorflow_cannot_be_imported(datasets):
    pytest.importorskip("torch")
    code = _NO_TENSORFLOW + f"""
try:
    import tensorflow
    raise SystemExit("tensorflow imported")
except ImportError:
    pass
import tfrec.torch, tfrec.grain
for fmt in ("cifar10", "imagefolder"):
    lo = tfrec.torch.loader({datasets!r}[fmt], split="train", batch_size=8, shuffle=True, num_workers=1)
    n = sum(len(y) for _, y in lo)
    src = tfrec.grain.source({datasets!r}[fmt], split="train")
    assert n == len(src) == sum(1 for i in range(len(src)) if src[i] is not None), (fmt, n)
print("ok", sorted(m for m in sys.modules if m.startswith("tensorflow")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok []"


def test_cli_and_package_import_no_tensorflow():
    code = ("import sys, tfrec, tfrec.cli.main, tfrec.timing, tfrec._parallel; tfrec.ReadOptions; tfrec.open_dataset; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_lower_folders_never_import_higher_ones():
    assert upward_imports(ROOT, "tfrec", LAZY_UPWARD) == []


def test_no_import_circle():
    import tfrec.cli

    graph = import_graph(ROOT, "tfrec", (Path(tfrec.cli.__file__).parent, "tfrec.cli"))
    assert any(m.startswith("tfrec.cli.") for m in graph) and find_circle(graph) == []


def test_view_takes_only_checks_public_names():
    assert private_reaches(ROOT, "tfrec", "view", "check") == []
    assert {"verify", "inspect", "VerifyOptions", "InspectOptions"} <= public_names(ROOT / "check" / "__init__.py")


def test_the_public_names_of_check_import():
    import tfrec.check

    for name in tfrec.check.__all__:
        assert getattr(tfrec.check, name) is not None


# ---------------------------------------------------------------- the checkers can fail


@pytest.fixture
def synthetic(tmp_path) -> Path:
    """A package `pkg` under tmp_path that breaks each rule once, in ways that hid from the old checker."""
    files = {
        "__init__.py": "",
        "io/__init__.py": "",
        "io/low.py": "import os\n\n\ndef later():\n    from ..check.verify import helper  # closes a circle, lazily\n",
        "check/__init__.py": "from .verify import verify\n\n__all__ = ['verify']\n",
        "check/verify.py": ("from ..io import low\n\ntry:\n    from ..view import shown  # upward, inside try\n"
                            "except ImportError:\n    pass\n\n\ndef verify():\n    pass\n\n\ndef helper():\n    pass\n"),
        "view/__init__.py": "",
        "view/shown.py": ("from ..check import verify\nif True:\n    from ..check.verify import helper\n"
                          "from pkg.check import nothing_public\n\n\ndef f():\n    import pkg.check.verify\n"),
        "view/fine.py": "from ..check import verify\nfrom . import shown\n",
    }
    root = tmp_path / "pkg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_imports_are_seen_wherever_they_sit(synthetic):
    found = imports_of(synthetic / "view" / "shown.py", "pkg.view.shown")
    assert [(i.module, i.names, i.in_function) for i in found] == [
        ("pkg.check", ("verify",), False), ("pkg.check.verify", ("helper",), False),
        ("pkg.check", ("nothing_public",), False), ("pkg.check.verify", (), True)]
    graph = import_graph(synthetic, "pkg")
    assert set(graph["pkg.view.fine"]) == {"pkg.check", "pkg.check.verify", "pkg.view", "pkg.view.shown"}


def test_the_circle_checker_sees_a_circle_closed_inside_a_function(synthetic):
    assert find_circle(import_graph(synthetic, "pkg")) == ["pkg.check.verify", "pkg.io.low", "pkg.check.verify"]
    assert find_circle({"a": {"b": []}, "b": {}}) == []


def test_the_order_checker_sees_an_upward_import_inside_try(synthetic):
    bad = upward_imports(synthetic, "pkg")
    assert "pkg.check.verify (line 4) imports pkg.view.shown" in bad
    assert "pkg.io.low (line 5) imports pkg.check.verify" in bad  # inside a function, not allowed by name
    assert "pkg.io.low (line 5) imports pkg.check.verify" not in upward_imports(
        synthetic, "pkg", {("pkg.io.low", "pkg.check.verify")})


def test_the_api_checker_sees_internals_and_unlisted_names(synthetic):
    assert private_reaches(synthetic, "pkg", "view", "check") == [
        "pkg.view.shown (line 3) imports pkg.check.verify (helper)",
        "pkg.view.shown (line 4) imports pkg.check (nothing_public)",
        "pkg.view.shown (line 8) imports pkg.check.verify",
    ]
