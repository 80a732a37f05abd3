"""Which framework trains: the backends `--framework` names, whether each is installed, the default, and the one an
exported model file needs (no framework is imported here)."""
from __future__ import annotations

import importlib.util
import os
import zipfile

from .options import FRAMEWORKS
from .zoo import TrainUsageError

PACKAGES = {"tf": "tensorflow", "torch": "torch", "jax": "jax"}  # what each backend imports
EXTRAS = {"tf": "tfrec[tf]", "torch": "tfrec[torch]", "jax": "tfrec[jax]"}  # what installs it
READY = ("tf", "torch", "jax")  # the backends this release has; asking for another gets a clear answer
TRAIN_READY = READY  # the backends of train, evaluate and predict


def installed(framework: str) -> bool:
    """Whether the framework's package can be found (it is not imported)."""
    try:
        return importlib.util.find_spec(PACKAGES[framework]) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a half-removed package
        return False


def default_framework() -> str:
    """TensorFlow when installed, else PyTorch, else JAX."""
    return next((f for f in FRAMEWORKS if installed(f)), "tf")


def require(framework: str | None, ready: tuple[str, ...] = READY) -> str:
    """The framework to run (`None`: default_framework()), checked to be one of `ready` (the backends the command
    has) and installed.

    Raises:
        TrainUsageError (exit code 2): an unknown name, one the command has not, or one not installed,
            naming the extra that installs it.
    """
    framework = framework or default_framework()
    if framework not in FRAMEWORKS:
        raise TrainUsageError(f"framework: expected one of {', '.join(FRAMEWORKS)}, found {framework!r}")
    if framework not in ready:
        raise TrainUsageError(f"--framework {framework} is not available in this release; "
                              f"use {' or '.join(f'--framework {f}' for f in ready)}")
    if not installed(framework):
        raise TrainUsageError(f"--framework {framework} needs {PACKAGES[framework]}, which is not installed: "
                              f"pip install '{EXTRAS[framework]}'")
    return framework


TORCH_SUFFIXES = (".pt", ".pth")


def model_framework(path: str) -> str:
    """The framework an exported model file needs: 'tf' for a .keras file (a zip with tfrec.json), 'torch' for
    a state-dict .pt (whose config JSON lies beside it), decided by the name, else by the content."""
    lower = path.lower()
    if lower.endswith(".keras"):
        return "tf"
    if lower.endswith(TORCH_SUFFIXES):
        return "torch"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return "tf"  # not a zip at all: the Keras loader's error names what it is
    if "tfrec.json" in names:
        return "tf"
    return "torch" if any(os.path.basename(n) == "data.pkl" for n in names) else "tf"
