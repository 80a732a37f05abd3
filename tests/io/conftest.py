"""Fixtures shared by the record-layer tests."""
from __future__ import annotations

import pytest

from tfrec.io import scan


@pytest.fixture(params=["compiled", "python"])
def walk(request):
    """Runs a test with the compiled walk over records of varying length, then with the Python one."""
    if request.param == "python":
        with scan.without_compiled():
            yield request.param
    else:
        assert scan._framing is not None, "tfrec/io/_framing.c was not built (pip install -e . needs a C compiler)"
        yield request.param
