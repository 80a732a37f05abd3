"""The skip-corrupt record reader: a shard's intact records, in Python, with the damaged ones counted."""
from __future__ import annotations

import os
import struct
import threading
import zlib
from typing import Iterator

import numpy as np

from .records import FRAMING_BYTES, HEADER_BYTES, masked_crc32c, open_stream
from .index import read_index

# tf.data's reader stops at a file's first bad record (DataLossError, which does not name the
# file; `tfrec verify` does), and ignore_errors() would silently drop the rest of that file. With
# make_dataset(skip_corrupt=True) each file is read by iter_intact_records instead, which skips
# exactly the damaged records (resynchronising through the shard's .idx index) and counts them in
# a ReadStats; it is slower, so it is a policy the caller turns on.


class ReadStats:
    """What skip_corrupt skipped: counts over everything read, and the distinct damaged records (thread-safe)."""

    MAX_LISTED = 100

    def __init__(self):
        self._lock = threading.Lock()
        self.records_skipped = 0  # every skip, counted again on each epoch that meets it
        self.bytes_skipped = 0
        self.damaged: dict[tuple[str, int], dict] = {}

    def skip(self, path: str, index: int, offset: int, reason: str, records: int = 1, nbytes: int = 0) -> None:
        with self._lock:
            self.records_skipped += records
            self.bytes_skipped += nbytes
            if (path, index) not in self.damaged and len(self.damaged) < self.MAX_LISTED:
                self.damaged[(path, index)] = {"path": path, "index": index, "offset": offset,
                                               "records": records, "reason": reason}

    def to_json(self) -> dict:
        with self._lock:
            return {"records_skipped": self.records_skipped, "bytes_skipped": self.bytes_skipped,
                    "damaged": list(self.damaged.values())}

    def __repr__(self) -> str:
        return f"ReadStats(records_skipped={self.records_skipped}, damaged={len(self.damaged)})"


def _read_exact(stream, n: int) -> bytes:
    out = stream.read(n)
    while len(out) < n:
        more = stream.read(n - len(out))
        if not more:
            break
        out += more
    return out


def _length_ok(header: bytes) -> bool:
    return struct.unpack_from("<I", header, 8)[0] == masked_crc32c(header[:8])


def _check_framed(buf: bytes, expected_len: int) -> str | None:
    """Why a framed record is damaged, or None if both CRCs hold."""
    if not _length_ok(buf) or struct.unpack_from("<Q", buf)[0] != expected_len:
        return "length CRC mismatch"
    if struct.unpack_from("<I", buf, len(buf) - 4)[0] != masked_crc32c(buf[HEADER_BYTES:-4]):
        return "data CRC mismatch"
    return None


_STREAM_ERRORS = (OSError, EOFError, zlib.error)  # what a damaged GZIP/ZLIB stream raises


def _iter_indexed(stream, path: str, index: np.ndarray, stats: ReadStats) -> Iterator[bytes]:
    pos = 0
    for i, (offset, framed) in enumerate(index.tolist()):
        why = "truncated file"
        try:
            if offset > pos:
                _read_exact(stream, offset - pos)
            buf = _read_exact(stream, framed)
        except _STREAM_ERRORS as e:
            buf, why = b"", f"cannot decompress ({e})"
        pos = offset + len(buf)
        if len(buf) < framed:
            stats.skip(path, i, offset, f"{why}: {len(index) - i} records lost", len(index) - i)
            return
        reason = _check_framed(buf, framed - FRAMING_BYTES)
        if reason:
            stats.skip(path, i, offset, reason, 1, framed)
        else:
            yield buf[HEADER_BYTES:-4]


def _iter_unindexed(stream, path: str, stats: ReadStats) -> Iterator[bytes]:
    i = offset = 0
    try:
        while header := _read_exact(stream, HEADER_BYTES):
            if len(header) < HEADER_BYTES or not _length_ok(header):
                stats.skip(path, i, offset, "damaged length field: without an .idx index the rest of the file is lost")
                return
            (length,) = struct.unpack_from("<Q", header)
            buf = header + _read_exact(stream, length + 4)
            if len(buf) < length + FRAMING_BYTES:
                stats.skip(path, i, offset, "truncated record at the end of the file", 1, len(buf))
                return
            if _check_framed(buf, length):
                stats.skip(path, i, offset, "data CRC mismatch", 1, len(buf))
            else:
                yield buf[HEADER_BYTES:-4]
            i, offset = i + 1, offset + len(buf)
    except _STREAM_ERRORS as e:
        stats.skip(path, i, offset, f"cannot decompress ({e}): the rest of the file is lost")


def iter_intact_records(path: str, compression: str, stats: ReadStats) -> Iterator[bytes]:
    """Yields one shard's intact records, skipping damaged ones and counting them in `stats`.

    With the shard's .idx index (tfrec writes one per shard) a damaged record is skipped exactly,
    reading resumes at the next one, and a truncated or undecompressible tail is counted record by
    record. Without it, a bad data CRC skips one record, but a damaged length field or stream
    loses the rest of the file, counted as one.
    """
    index = read_index(path + ".idx") if os.path.exists(path + ".idx") else None
    stream = open_stream(path, compression)
    try:
        if index is not None:
            yield from _iter_indexed(stream, path, index, stats)
        else:
            yield from _iter_unindexed(stream, path, stats)
    finally:
        stream.close()
