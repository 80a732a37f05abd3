"""Names that moved to another module stay importable from the old one for a release, with a DeprecationWarning."""
from __future__ import annotations

import importlib
import warnings
from typing import Any, Mapping


def moved_attribute(module: str, moved: Mapping[str, str], name: str) -> Any:
    """The value of `module.name` from the module it moved to (a module's `__getattr__` calls this).

    Raises:
        AttributeError: `name` never lived in `module`.
    """
    if name not in moved:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new = moved[name]
    warnings.warn(f"{module}.{name} moved to {new}.{name}; import it from there (the old name goes in the next "
                  "release)", DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(new), name)
