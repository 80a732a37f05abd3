"""DALI-style index files: one `offset length` line per record, the framed length in bytes."""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import TfrecError

from .native import framing as _framing  # the compiled parser, or None


def read_index(path: str) -> np.ndarray:
    """Reads a .idx file into an int64 array (N, 2): offset, framed length.

    The compiled parser (tfrec/io/_framing.c) does it where built; else NumPy's text parser (0.5
    ms for 15,000 lines, 5x faster than splitting into Python strings). Anything either stops at
    is read again the slow way, which names the problem.

    Raises:
        TfrecError: the file is not `offset length` integer pairs.
    """
    with open(path, "rb") as f:
        text = f.read()
    if not text.strip():
        return np.zeros((0, 2), np.int64)
    if _framing is not None:
        values = np.empty(len(text) // 2 + 1, np.int64)  # each integer takes a digit and a separator
        n = _framing.parse_index(text, values)
        if n >= 0:
            if n % 2:
                raise TfrecError(f"{path}: odd number of integers; expected 'offset length' per line")
            return values[:n].reshape(-1, 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy warns, then stops, at the first non-integer
            values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (DeprecationWarning, ValueError):
        values = _parse_strictly(path, text)
    if values.size % 2:
        raise TfrecError(f"{path}: odd number of integers; expected 'offset length' per line")
    return values.reshape(-1, 2)


def _parse_strictly(path: str, text: bytes) -> np.ndarray:
    try:
        return np.array(text.split(), dtype=np.int64)
    except ValueError as e:
        raise TfrecError(f"{path}: not an index file (expected 'offset length' lines of integers)") from e
