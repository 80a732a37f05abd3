"""Dropping files from the page cache, so that a timed read comes from storage, and checking that it did."""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from typing import Sequence

_PAGE = mmap.PAGESIZE


def resident_fraction(paths: Sequence[str]) -> float | None:
    """The share of the files' pages in the page cache (mincore), or None where it cannot be asked."""
    try:
        mincore = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).mincore
    except (OSError, AttributeError):
        return None
    resident = total = 0
    for path in paths:
        size = os.path.getsize(path)
        if not size:
            continue
        pages = (size + _PAGE - 1) // _PAGE
        vec = (ctypes.c_ubyte * pages)()
        # A private (copy-on-write) mapping is writable for ctypes, never written, and reads the file's cached pages.
        with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
            view = ctypes.c_char.from_buffer(m)
            ok = mincore(ctypes.c_void_p(ctypes.addressof(view)), ctypes.c_size_t(size), vec) == 0
            del view
        if not ok:
            return None
        resident += sum(v & 1 for v in vec)
        total += pages
    return resident / total if total else None


def drop_page_cache(paths: Sequence[str]) -> dict:
    """Evicts the files' pages from the page cache with posix_fadvise(POSIX_FADV_DONTNEED), file by file.

    Only these files are evicted (the machine-wide /proc/sys/vm/drop_caches would also empty other
    users' caches). Each file is fsynced first: dirty pages cannot be dropped.

    Returns:
        {"method", "resident_before", "resident_after"}: the share of the files' pages cached before
        and after (None where mincore is unavailable); method None when it was not possible here.
    """
    before = resident_fraction(paths)
    if not hasattr(os, "posix_fadvise"):
        return {"method": None, "resident_before": before, "resident_after": before}
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return {"method": "posix_fadvise(DONTNEED) per shard", "resident_before": before,
            "resident_after": resident_fraction(paths)}
