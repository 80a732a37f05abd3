"""Checks every source reader shares: class ids in range (in the dtype they were stored in), regular files only."""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

import numpy as np

from ..errors import SourceError

MAX_CLASS_ID = 2**63 - 1  # labels are stored as int64
# Deflate's most compact code is 2 bits for 258 repeated bytes: no gzip, zip or .npz member inflates
# to more than 1032 times its compressed size (zlib's "technical details" note).
MAX_INFLATE_RATIO = 1032

_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def class_ids(values: np.ndarray, where: str, first_row: int = 0) -> np.ndarray:
    """Integer labels as int64 class ids, each checked to be 0..MAX_CLASS_ID in its own dtype.

    A uint64 2^64-1 is compared as that number, not cast first to int64's -1.

    Args:
        values: one integer label a record.
        where: the file (and array or column) the labels came from, for the message.
        first_row: the record number of values[0], so that the message names the record in the file.

    Raises:
        SourceError: names the first record out of range, its label and dtype, and the range.
    """
    if not np.issubdtype(values.dtype, np.integer):
        raise SourceError(f"{where}: labels are {values.dtype}; expected integer class ids")
    if values.dtype.kind == "i":
        bad = values < 0
    elif np.iinfo(values.dtype).max > MAX_CLASS_ID:
        bad = values > np.array(MAX_CLASS_ID, values.dtype)  # compared as uint64, where it fits
    else:
        bad = None
    if bad is not None and bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise SourceError(f"{where}: record {first_row + r} has label {int(values[r])} ({values.dtype}); "
                          f"class ids must be 0 to {MAX_CLASS_ID} (stored as int64)")
    return values.astype(np.int64)


def file_kind(mode: int) -> str:
    """What a stat mode says a path is, in words ('regular file' when none of the special kinds)."""
    return next((name for test, name in _KINDS if test(mode)), "regular file")


def check_regular(path: str) -> None:
    """Refuses a path that is not a regular file (for readers that open it by name themselves).

    Raises:
        SourceError: says what the path is instead.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise SourceError(f"{path}: cannot read: {e.strerror or e}") from e
    if not stat.S_ISREG(mode):
        raise SourceError(f"{path}: not a regular file ({file_kind(mode)}); tfrec reads only regular files")


def refuse_unlistable(e: OSError) -> None:
    """An os.walk error handler for readers that need every file: without one, a folder that
    cannot be listed (permission denied) is passed over and its files dropped silently.

    Raises:
        SourceError: names the folder and the reason.
    """
    raise SourceError(f"{e.filename}: cannot list folder: {e.strerror}") from e


def open_regular(path: str) -> BinaryIO:
    """Opens a source file for binary reading, refusing anything but a regular file.

    The open itself cannot block: a FIFO opened without O_NONBLOCK waits for a writer forever,
    and a device (/dev/zero) would be read without end.

    Raises:
        SourceError: the path cannot be opened, or is not a regular file (says what it is).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise SourceError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SourceError(f"{path}: not a regular file ({file_kind(mode)}); tfrec reads only regular files")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
