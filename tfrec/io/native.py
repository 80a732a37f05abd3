"""The compiled helpers of tfrec/io/_framing.c, or None where setup.py could not build them (no C compiler).

Every user keeps a Python path that gives the same results; tests run both.
"""
try:
    from . import _framing as framing
except ImportError:  # pragma: no cover - depends on the install
    framing = None
