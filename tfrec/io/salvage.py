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
from .records import FRAMING_BYTES, HEADER_BYTES, READ_CHUNK_BYTES, file_checksum, masked_crc32c
from .index import check_index, read_index
from .inflate import INFLATE_INPUT_BYTES, _inflate_to_error
from .scan import MAX_RECORD_BYTES, FrameScanner, scan_file, valid_record_at

# tf.data's reader stops at a file's first bad record (DataLossError, which does not name the
# file; `tfrec verify` does), and ignore_errors() would silently drop the rest of that file. With
# make_dataset(skip_corrupt=True) each shard is first checked (check_shard: the framing scan, every
# CRC, or for a compressed shard its checksum in dataset.json), once per version of the file in a
# process. An intact shard is read by tf.data's own reader; a damaged one by iter_intact_records,
# which skips exactly the damaged records and counts them in a ReadStats: through the shard's .idx
# index where it can be trusted, else with the scanner's own walk (tfrec.io.scan: the records
# `tfrec verify` finds intact, the damaged ones counted as it counts them); of a plain shard, only
# from its first damaged record on. Neither allocates what a length field or an index line claims
# beyond the stream: reads stop at the end of the file (or of the inflated stream) and ask for at
# most READ_PIECE_BYTES at a time. The salvaging reader runs Python per record (0.45x the images/s of
# tf.data's on clean CIFAR, see benchmarks/skip_corrupt.py), so the clean case costs only the check.

READ_PIECE_BYTES = READ_CHUNK_BYTES  # the most one read asks of a stream, whatever a length or index line says


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


class _Stream:
    """A shard's record stream from some offset on, by offset, read forward in bounded pieces.

    A plain file is read with pread, a block of READ_PIECE_BYTES ahead, never past its size. A GZIP
    or ZLIB one is inflated here, into bytes [base, base + len(buf)) held until dropped; where it is
    damaged, every byte zlib inflates before the bad one is kept (tfrec.io.inflate's search, as
    `tfrec verify` does) before `error` says why it stopped. No read or inflate step yields more
    than READ_PIECE_BYTES, so a length field or index line claiming 2**64 bytes costs what the
    stream holds, never what it claims.
    """

    stopped = False  # (for inflate's search, which pushes what it inflates)

    def __init__(self, path: str, compression: str, start: int):
        self.compression = compression
        self.size = os.path.getsize(path) if compression == "none" else None  # the stream's size, where known
        self.error: Exception | None = None  # why inflating stopped early (a damaged stream)
        self.eof = False
        self.base, self.buf = 0, bytearray()
        self._block, self._block_at = b"", 0  # a plain file's last read
        self._file = open(path, "rb", buffering=0 if self.size is not None else -1)
        self._inflater = zlib.decompressobj(31 if compression == "gzip" else 15)
        self._input, self._compressed = b"", 0
        self.drop(start)

    def get(self, a: int, b: int) -> bytes:
        """Bytes [a, b) of the stream (base <= a); fewer where it ends, or stops inflating, first."""
        if self.size is not None:
            return self._pread(a, min(b, self.size))
        while not self.eof and self.base + len(self.buf) < b:
            self._inflate()
        with memoryview(self.buf) as view:
            return bytes(view[a - self.base : b - self.base])

    def ended(self, b: int) -> bool:
        """Whether the stream ends at offset b or before (as far as it could be read)."""
        if self.size is not None:
            return b >= self.size
        return self.eof and b >= self.base + len(self.buf)

    def drop(self, a: int) -> None:
        """Forgets the bytes before offset a (a compressed stream is inflated on to it)."""
        while a > self.base:
            if self.size is not None or (self.eof and not self.buf):
                self.base = a
            elif self.buf:
                k = min(a - self.base, len(self.buf))
                del self.buf[:k]
                self.base += k
            else:
                self._inflate()

    def push(self, data: bytes) -> None:
        self.buf += data

    def _pread(self, a: int, b: int) -> bytes:
        at = self._block_at
        if not (at <= a and b <= at + len(self._block)):
            n = max(b - a, min(READ_PIECE_BYTES, self.size - a))
            fd = self._file.fileno()
            self._block = b"".join(os.pread(fd, min(READ_PIECE_BYTES, a + n - p), p)
                                   for p in range(a, a + n, READ_PIECE_BYTES))
            self._block_at = at = a
        return self._block[a - at : b - at] if b > a else b""

    def _inflate(self) -> None:
        """Inflates the next piece onto buf; at the end of the stream sets eof, and error if it ends badly."""
        if not self._input:
            self._input = self._file.read(INFLATE_INPUT_BYTES)
            self._compressed += len(self._input)
            if not self._input:
                self.eof = True
                if not self._inflater.eof:
                    self.error = EOFError(f"the {self.compression} stream ends early, after {self._compressed} "
                                          "compressed bytes (truncated file?)")
                return
        if self._inflater.eof:  # bytes after the end of a stream: another gzip member, or garbage
            if self.compression != "gzip" or self._input[:2] != b"\x1f\x8b":
                at = self._compressed - len(self._input)
                follow = os.fstat(self._file.fileno()).st_size - at
                self.eof = True
                self.error = ValueError(f"{follow} bytes follow the end of the {self.compression} stream "
                                        f"(at compressed byte {at})")
                return
            self._inflater = zlib.decompressobj(31)
        before = self._inflater.copy()
        try:
            self.buf += self._inflater.decompress(self._input, READ_PIECE_BYTES)
        except zlib.error as e:
            _inflate_to_error(before, self._input, self)  # what lies before the bad byte
            self.eof, self.error = True, e
            return
        self._input = self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail

    def close(self) -> None:
        self._file.close()


def _length_ok(header: bytes) -> bool:
    return struct.unpack_from("<I", header, 8)[0] == masked_crc32c(header[:8])


def _data_ok(buf: bytes) -> bool:
    return struct.unpack_from("<I", buf, len(buf) - 4)[0] == masked_crc32c(buf[HEADER_BYTES:-4])


class _Walk(FrameScanner):
    """The scanner's walk (tfrec.io.scan), its intact records kept to be yielded and its problems counted
    in a ReadStats as skipped records: exactly the records `tfrec verify` finds intact and damaged."""

    def __init__(self, path: str, stats: ReadStats, index: int, offset: int, size: int | None):
        super().__init__(path, self._record, max_problems=1, on_records=self._records)
        self.index, self.base, self.stream_bytes = index, offset, size
        self.stats = stats
        self.out: list[bytes] = []
        self._open: tuple[int, int, str] | None = None  # the last problem, until where its bytes end is known

    def _record(self, index: int, offset: int, data: bytes) -> None:
        self._close(offset)
        self.out.append(bytes(data))

    def _records(self, first: int, base: int, buf: bytes, starts: np.ndarray, ends: np.ndarray, stride: int) -> None:
        self._close(base + int(starts[0]) - HEADER_BYTES)
        self.out.extend(buf[a:b] for a, b in zip(starts.tolist(), ends.tolist()))

    def report(self, record: int | None, offset: int | None, reason: str, check: str = "framing") -> None:
        self._close(offset)
        self._open = (record, offset, reason.removesuffix(" (the record's bytes are damaged)"))

    def _close(self, end: int) -> None:
        if self._open is not None:
            index, offset, reason = self._open
            self._open = None
            self.stats.skip(self.path, index, offset, reason, 1, max(0, end - offset))

    def lost(self, error: BaseException) -> None:
        """The stream stopped inflating: the record being read, and the rest of the file, are counted as one."""
        index, offset = (self._bad[1], self._bad[0]) if self._bad is not None else (self.index, self.base)
        self._close(offset)
        self.stats.skip(self.path, index, offset, f"cannot decompress ({error}): the rest of the file is lost")

    def finish(self) -> None:
        """The walk reached the end of the stream: the last problem's bytes end there."""
        self._close(self.base)

    def take(self) -> list[bytes]:
        out, self.out = self.out, []
        return out


def _walk(data: _Stream, path: str, stats: ReadStats, index: int, offset: int) -> Iterator[bytes]:
    """The records from (index, offset) on, as the scanner finds them (resynchronising after damage)."""
    walk = _Walk(path, stats, index, offset, data.size)
    while True:
        buf = data.get(walk.base, walk.base + walk.read_size())
        ended = data.ended(walk.base + len(buf))
        walk.scan(buf, ended and data.error is None)
        yield from walk.take()
        if ended:
            break
        data.drop(walk.base)
    if data.error is not None:
        walk.lost(data.error)
    walk.finish()


_LIES = "the index line lies"


def _against_line(data: _Stream, offset: int, framed: int, head: bytes) -> str | None:
    """Why the record an index line points at is damaged, judged by its header (None: not by it, or no
    header there), or _LIES where a valid record of another length starts there: the line lies, not the record."""
    if len(head) < HEADER_BYTES:
        return None
    if not _length_ok(head):
        return "length CRC mismatch"
    (length,) = struct.unpack_from("<Q", head)
    if length == framed - FRAMING_BYTES:
        return None
    end = offset + length + FRAMING_BYTES
    if length < MAX_RECORD_BYTES and (data.size is None or end <= data.size) and valid_record_at(data.get(offset, end)):
        return _LIES
    return f"length field says {length} bytes, its index line {framed - FRAMING_BYTES}: a corrupt length field"


def _iter_indexed(data: _Stream, path: str, index: np.ndarray, stats: ReadStats, first: int,
                  pos: int) -> Iterator[bytes]:
    """The records the index lists from line `first` (at `pos`) on, each damaged one skipped exactly; the
    scanner's walk takes over where the index lies (a valid record where a line says otherwise) or ends early."""
    n = len(index)
    for i, (offset, framed) in enumerate(index[first:].tolist(), first):
        data.drop(offset)
        buf = data.get(offset, offset + max(HEADER_BYTES, min(framed, READ_PIECE_BYTES)))  # a claim: a piece at a time
        why = _against_line(data, offset, framed, buf[:HEADER_BYTES])
        if why is _LIES:
            yield from _walk(data, path, stats, i, offset)
            return
        if len(buf) < framed:
            buf = data.get(offset, offset + framed)  # no more than the stream holds
        if len(buf) < framed:
            cause = f"cannot decompress ({data.error})" if data.error is not None else "truncated file"
            stats.skip(path, i, offset, f"{cause}: {n - i} record{'s' if n - i > 1 else ''} lost", n - i)
            return
        if why is None and not _data_ok(buf):
            why = "data CRC mismatch"
        if why:
            stats.skip(path, i, offset, why, 1, framed)
        else:
            yield buf[HEADER_BYTES:-4]
        pos = offset + framed
    if data.get(pos, pos + 1):  # records the index does not list
        yield from _walk(data, path, stats, n, pos)


def _trusted_index(path: str) -> np.ndarray | None:
    """The shard's .idx index where its lines can be records, one after another from byte 0 (check_index;
    lines past a plain file's end are a truncated file's, checked as they are read); else None."""
    if not os.path.exists(path + ".idx"):
        return None
    try:
        index = check_index(read_index(path + ".idx"), path + ".idx")
    except (OSError, TfrecError):
        return None
    return index if _contiguous(index) else None


def iter_intact_records(path: str, compression: str, stats: ReadStats,
                        start: tuple[int, int] = (0, 0)) -> Iterator[bytes]:
    """Yields one shard's intact records, skipping damaged ones and counting them in `stats`.

    With the shard's .idx index (tfrec writes one per shard) a damaged record is skipped exactly,
    reading resumes at the next one, and a truncated or undecompressible tail is counted record by
    record. Without one, or where the index lies (a line that cannot be a record, or a valid
    record where a line says another length), the scanner's walk reads on: the records `tfrec
    verify` finds intact, each damaged stretch counted as one record, after a corrupt or lying
    length field too. Nothing a length field or index line claims is read past the stream's end.

    Args:
        start: (record index, stream offset) to begin at, where every record before is intact and
            ends (check_shard's ShardPlan): the records from there on are yielded and counted as a
            read from the start would yield and count them.
    """
    index = _trusted_index(path)
    first, offset = start
    data = _Stream(path, compression, offset)
    try:
        if index is not None and first <= len(index) and (first == len(index) or index[first, 0] == offset):
            yield from _iter_indexed(data, path, index, stats, first, offset)
        else:
            yield from _walk(data, path, stats, first, offset)
    finally:
        data.close()


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
    index = _trusted_index(path)  # an index the salvaging reader does not trust, it does not follow
    if compression != "none":
        return _check_compressed(path, compression, entry, index)
    scan = scan_file(path, "none", max_problems=1)
    first = scan.problems[0] if scan.problems else None
    if first is not None and (first.record is None or first.offset is None):
        return SALVAGE_ALL  # could not be read
    good = scan.records if first is None else first.record  # records before the first problem
    offsets, lengths = scan.offsets[:good], scan.lengths[:good]
    if index is not None:
        agreed = _agreed(index, offsets, lengths)
        # Where the index misdescribes a record the scan found intact, the salvaging reader leaves it for
        # the scanner's walk, as the scan went on; where it lists records past the scan's, it follows it.
        if first is None and (agreed < good or agreed == good == len(index)):
            return INTACT
        good = agreed
    elif first is None:
        return INTACT
    return ShardPlan(False, good, int(offsets[good - 1] + lengths[good - 1]) if good else 0)


def _agreed(index: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> int:
    """How many of the index's first lines say what the scan found (offset and framed length)."""
    n = min(len(offsets), len(index))
    same = (index[:n, 0] == offsets[:n]) & (index[:n, 1] == lengths[:n])
    return n if same.all() else int(np.argmin(same))


def _check_compressed(path: str, compression: str, entry: dict, index: np.ndarray | None) -> ShardPlan:
    # An intact stream is read as tf.data reads it unless its index lists more records than it holds
    # (the salvaging reader would count those as a truncated file's): see _check.
    stored, records = entry.get("checksum"), entry.get("records")
    kind = str(stored).partition(":")[0]
    if kind in ("crc32c", "crc32"):
        if _file_checksum(path, kind) != stored:
            return SALVAGE_ALL
        if index is None or (isinstance(records, int) and len(index) <= records):
            return INTACT
    scan = scan_file(path, compression, max_problems=1)
    if scan.problems:
        return SALVAGE_ALL
    if index is None or _agreed(index, scan.offsets, scan.lengths) < scan.records or len(index) == scan.records:
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
