"""The skip-corrupt reader: which part of a shard is intact, and its damaged records skipped and counted, in Python."""
from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import TfrecError
from .records import FRAMING_BYTES, HEADER_BYTES, READ_CHUNK_BYTES, file_checksum, masked_crc32c, open_stream
from .index import read_index
from .scan import scan_file

# tf.data's reader stops at a file's first bad record (DataLossError, which does not name the
# file; `tfrec verify` does), and ignore_errors() would silently drop the rest of that file. With
# make_dataset(skip_corrupt=True) each shard is first checked (check_shard: the framing scan, every
# CRC, or for a compressed shard its checksum in dataset.json), once per version of the file in a
# process. An intact shard is read by tf.data's own reader; a damaged one by iter_intact_records,
# which skips exactly the damaged records (resynchronising through the shard's .idx index) and
# counts them in a ReadStats; of a plain shard, only from its first damaged record on. The
# salvaging reader runs Python per record (0.45x the images/s of tf.data's on clean CIFAR, see
# benchmarks/skip_corrupt.py), so the clean case costs only the check.


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


def _iter_indexed(stream, path: str, index: np.ndarray, stats: ReadStats, first: int = 0,
                  pos: int = 0) -> Iterator[bytes]:
    for i, (offset, framed) in enumerate(index[first:].tolist(), first):
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


def _iter_unindexed(stream, path: str, stats: ReadStats, i: int = 0, offset: int = 0) -> Iterator[bytes]:
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


def _skip_to(stream, offset: int) -> None:
    """Moves a fresh stream on to `offset` in the uncompressed bytes (a seek where it can)."""
    if getattr(stream, "seekable", lambda: False)():
        stream.seek(offset)
        return
    while offset > 0 and (got := len(stream.read(min(offset, READ_CHUNK_BYTES)))):
        offset -= got


def iter_intact_records(path: str, compression: str, stats: ReadStats,
                        start: tuple[int, int] = (0, 0)) -> Iterator[bytes]:
    """Yields one shard's intact records, skipping damaged ones and counting them in `stats`.

    With the shard's .idx index (tfrec writes one per shard) a damaged record is skipped exactly,
    reading resumes at the next one, and a truncated or undecompressible tail is counted record by
    record. Without it, a bad data CRC skips one record, but a damaged length field or stream
    loses the rest of the file, counted as one.

    Args:
        start: (record index, stream offset) to begin at, where every record before is intact and
            ends (check_shard's ShardPlan): the records from there on are yielded and counted as a
            read from the start would yield and count them.
    """
    index = read_index(path + ".idx") if os.path.exists(path + ".idx") else None
    stream = open_stream(path, compression)
    first, offset = start
    try:
        if offset:
            _skip_to(stream, offset)
        if index is not None:
            yield from _iter_indexed(stream, path, index, stats, first, offset)
        else:
            yield from _iter_unindexed(stream, path, stats, first, offset)
    finally:
        stream.close()


# --------------------------------------------------------------------------- which part of a shard is intact


@dataclass(frozen=True)
class ShardPlan:
    """How skip_corrupt reads a shard: whole with tf.data's own reader (intact), or its first `index`
    records so and the rest with iter_intact_records, starting at (index, offset)."""

    intact: bool
    index: int = 0  # the first record the salvaging reader reads
    offset: int = 0  # its offset in the (uncompressed) stream


INTACT = ShardPlan(True)
SALVAGE_ALL = ShardPlan(False)
MAX_CHECKS = 1 << 16  # checks kept per process (a few hundred bytes each); all forgotten past it
_checks: dict[tuple, ShardPlan] = {}
_checks_lock = threading.Lock()


def _version(path: str) -> tuple | None:
    """What tells one version of a file from another without reading it; None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _key(path: str, compression: str, expected: dict | None) -> tuple:
    entry = expected or {}
    return path, compression, entry.get("checksum"), entry.get("records"), _version(path), _version(path + ".idx")


def check_shard(path: str, compression: str, expected: dict | None = None) -> ShardPlan:
    """Which records of a shard tf.data's own reader can read, and where the salvaging reader must take over.

    A plain shard is scanned (tfrec.io.scan: both CRCs of every record) up to its first problem;
    the records before it are read fast, provided the shard's .idx (if any) lists them as the scan
    found them (the salvaging reader follows the index). A compressed shard is read fast only
    whole: when its bytes match dataset.json's checksum (`expected`, the shard's entry there; a
    CRC32C pass over the compressed bytes, and its index lists as many records), else when a scan
    (which inflates it) finds nothing wrong; a damaged one is salvaged whole, because both readers
    inflate ahead and lose what lies just before a bad byte. A shard that cannot be opened is
    salvaged whole, which fails as it always did.

    The answer is kept for the process per version of the shard and its index (device, inode,
    size, modification and change times), so later epochs and datasets check nothing again, and
    a shard rewritten since is checked again. A shard damaged while tf.data's reader reads it
    fails the pass with tf.errors.DataLossError (that reader checks every CRC too): never a
    damaged record, never a wrong count.
    """
    key = _key(path, compression, expected)
    if key[4] is None:
        return SALVAGE_ALL
    with _checks_lock:
        plan = _checks.get(key)
    if plan is not None:
        return plan
    plan = _check(path, compression, expected or {})
    if key[4:] == (_version(path), _version(path + ".idx")):  # not rewritten while it was checked
        with _checks_lock:
            if len(_checks) >= MAX_CHECKS:
                _checks.clear()
            _checks[key] = plan
    return plan


def known_intact(path: str, compression: str, expected: dict | None = None) -> bool:
    """Whether check_shard already found this version of the shard intact in this process (reads nothing)."""
    key = _key(path, compression, expected)
    with _checks_lock:
        return key[4] is not None and _checks.get(key) == INTACT


def forget_checks() -> None:
    """Forgets every check_shard answer of this process (benchmarks time the first read with it)."""
    with _checks_lock:
        _checks.clear()


def _check(path: str, compression: str, entry: dict) -> ShardPlan:
    try:
        index = read_index(path + ".idx") if os.path.exists(path + ".idx") else None
    except (OSError, TfrecError):
        return SALVAGE_ALL  # the salvaging reader reports it as it always did
    if compression != "none":
        return _check_compressed(path, compression, entry, index)
    scan = scan_file(path, "none", max_problems=1)
    first = scan.problems[0] if scan.problems else None
    if first is not None and (first.record is None or first.offset is None):
        return SALVAGE_ALL  # could not be read
    good = scan.records if first is None else first.record  # records before the first problem
    offsets, lengths = scan.offsets[:good], scan.lengths[:good]
    if index is not None:
        n = min(good, len(index))
        same = (index[:n, 0] == offsets[:n]) & (index[:n, 1] == lengths[:n])
        agreed = n if same.all() else int(np.argmin(same))
        if first is None and agreed == good == len(index):
            return INTACT
        good = agreed  # where the index and the records part, the salvaging reader follows the index
    elif first is None:
        return INTACT
    return ShardPlan(False, good, int(offsets[good - 1] + lengths[good - 1]) if good else 0)


def _check_compressed(path: str, compression: str, entry: dict, index: np.ndarray | None) -> ShardPlan:
    stored, records = entry.get("checksum"), entry.get("records")
    kind = str(stored).partition(":")[0]
    if kind in ("crc32c", "crc32"):
        if _file_checksum(path, kind) != stored:
            return SALVAGE_ALL
        if index is None or (len(index) == records and _contiguous(index)):
            return INTACT
    scan = scan_file(path, compression, max_problems=1)
    if scan.problems:
        return SALVAGE_ALL
    if index is None or (len(index) == scan.records and np.array_equal(index[:, 0], scan.offsets)
                         and np.array_equal(index[:, 1], scan.lengths)):
        return INTACT
    return SALVAGE_ALL


def _contiguous(index: np.ndarray) -> bool:
    """Whether index rows follow one another from offset 0, each at least a record's framing long."""
    if not len(index):
        return True
    ends = index[:, 0] + index[:, 1]
    return bool(index[0, 0] == 0 and (index[:, 1] >= FRAMING_BYTES).all() and (index[1:, 0] == ends[:-1]).all())


def _file_checksum(path: str, kind: str) -> str | None:
    """The file's checksum as dataset.json writes it (crc32c or crc32 of the bytes on disk); None if unreadable."""
    try:
        if kind == "crc32c":
            return file_checksum(path)
        crc = 0
        with open(path, "rb") as f:
            while chunk := f.read(READ_CHUNK_BYTES):
                crc = zlib.crc32(chunk, crc)
        return f"crc32:{crc:08x}"
    except OSError:
        return None
