"""Fast framing scan of TFRecord files: every record's CRCs checked, problems listed, resync after damage.

`records.iter_records` stops at the first bad record; this scanner keeps going, and it is fast
enough to check a dataset at close to the speed of reading it:

- Runs of equal-length records (MNIST, CIFAR: every record the same size) are checked with NumPy:
  the length fields and length CRCs at a fixed stride in one vector comparison, and all the data
  CRCs of the run at once through CRC linearity. The CRC32C of a run of records can be computed
  from each record's header, its stored data CRC and its footer, using crc(A+B) = shift(crc(A),
  len(B)) ^ crc(B); it is compared with the CRC32C of the run's bytes, one hardware pass over each
  buffer read (reads end on record boundaries, so a run is usually the whole buffer). In a file
  the check is deferred and made once per DEFER_RECORDS records across reads (the CRCs combine),
  so its tables stay in cache. A run whose CRCs all hold passes; otherwise its bytes are read
  again and each record is checked on its own to name the bad ones. One damaged record is always
  caught (exactly as its own CRC would catch it); several damaged records could cancel out only by
  a 2**-32 coincidence (identical damage in two records cannot cancel: their shifts differ).
- Records of varying length (encoded images) are found by a walk over their length fields, both
  CRCs of each checked as it goes: compiled (tfrec/io/_framing.c) where setup.py could build it,
  else in Python (length CRCs with NumPy, one google_crc32c call per record). On 2.6 KB records
  framing verification costs 82 ns per record above the read + CRC32C limit compiled, about 1 us
  in Python (benchmarks/verify.py, small-png). Both walks stop at the same record for the same
  reason; anything unusual goes to the record-by-record path, which names the problem.
- After a corrupt length field the scanner searches forward for the next offset whose length CRC
  and data CRC both hold, reports the bytes it skipped, and continues from there. So it does after
  a length field whose CRC holds but which lies: one that claims more than the rest of the file
  (or than a record can hold), or one whose data CRC fails while a valid record starts inside the
  bytes it claims. Only a claim past the end with no valid record after it is a truncated file.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
import struct
from dataclasses import dataclass, field
from typing import Callable

import google_crc32c
import numpy as np

from .native import framing as _framing  # the compiled walk, or None: the walk below then runs in Python
from . import crc as _crc
from .crc import CHECKSUMS, ChunkCrc, FileChecksum, crc32c_combine, masked_length_crcs, run_crc
from .inflate import scan_compressed
from ..errors import TfrecError
from .records import (
    FOOTER_BYTES,
    FRAMING_BYTES,
    HEADER_BYTES,
    compression_of,
    mask_crcs,
    masked_crc32c,
    normalize_compression,
)

# Plain files are read in chunks of about this size (rounded to whole records when they all have
# one size); 2-8 MiB measured alike in benchmarks/verify.py, 16 MiB was 1.5-3x slower (allocation).
SCAN_CHUNK_BYTES = 4 << 20
FIRST_READ_BYTES = 64 << 10  # enough to learn the record size; later reads end on record boundaries
# A run of equal-length records is checked with NumPy from this many records on; below it the
# per-call overhead of NumPy exceeds the per-record loop (about 0.5 us per record).
RUN_MIN_RECORDS = 16
# With a seekable file, runs are checked this many records at a time (from 16k records on the
# NumPy check gets slower per record: its arrays stop fitting in cache).
DEFER_RECORDS = 16384
# Records from this size on are checked through a NumPy view of the buffer, not a copied slice.
ZERO_COPY_BYTES = 4096
# A length field above this cannot start a record when resynchronising (TensorFlow itself cannot
# read records of 2 GiB or more into a tf.string).
MAX_RECORD_BYTES = 1 << 31

RecordCallback = Callable[[int, int, bytes], None]
# on_records(first index, stream offset of buf, buf, data starts, data ends, stride or 0): many records at once
BatchCallback = Callable[[int, int, bytes, np.ndarray, np.ndarray, int], None]
_LEN = struct.Struct("<Q")
_HEADER_BYTE_OFFSETS = np.arange(HEADER_BYTES, dtype=np.int64)
_FOOTER_BYTE_OFFSETS = np.arange(FOOTER_BYTES, dtype=np.int64)
_CRC = struct.Struct("<I")


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (record index and byte offset, when known) and what."""

    file: str
    record: int | None
    offset: int | None
    check: str  # framing, parse, decode or dataset
    reason: str

    def to_json(self) -> dict:
        return {"file": self.file, "record": self.record, "offset": self.offset, "check": self.check, "reason": self.reason}

    def __str__(self) -> str:
        where = [f"record {self.record}" if self.record is not None else "", f"byte {self.offset}" if self.offset is not None else ""]
        where = " at ".join(w for w in where if w)
        return f"{self.file}: {where}: {self.reason}" if where else f"{self.file}: {self.reason}"


# ---------------------------------------------------------------- the scanner


@dataclass(frozen=True)
class ScanResult:
    """What a scan of one file found: its records' offsets and framed lengths, its checksum, its problems."""

    path: str
    compression: str
    records: int
    stream_bytes: int  # bytes of the (uncompressed) record stream that were scanned
    file_bytes: int  # size on disk
    checksum: str | None  # "crc32c:%08x" (or crc32) of the bytes on disk; None if not asked or stopped early
    runs: np.ndarray = field(repr=False)  # (offset, framed length, count) of each run of equal-length records
    problems: tuple[Problem, ...] = ()
    complete: bool = True  # False when stopped by a record limit or the problem limit

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        """Each record's framed length (int64), built on first use: most callers never need it."""
        return np.repeat(self.runs[:, 1], self.runs[:, 2])

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        """Each record's stream offset (int64), as in .idx files."""
        counts = self.runs[:, 2]
        starts = np.repeat(self.runs[:, 0] - np.concatenate(([0], np.cumsum(counts)[:-1])) * self.runs[:, 1], counts)
        return starts + np.arange(len(starts), dtype=np.int64) * self.lengths  # offset + i * framed within a run


@dataclass
class _Pending:
    """A run of equal-length records whose headers were checked and whose data CRCs are yet to be."""

    index: int  # the first record's index
    offset: int  # the first record's stream offset
    length: int  # data bytes of each record
    footers: list[np.ndarray]  # the stored data CRCs, one array per read
    crc: int  # CRC32C of the run's bytes
    count: int

    @property
    def end(self) -> int:
        return self.offset + self.count * (self.length + FRAMING_BYTES)


@contextlib.contextmanager
def without_compiled():
    """Within it, scans run as an install without tfrec/io/_framing.c runs them: records of varying
    length walked in Python, CRCs combined with tables (tests and benchmarks compare the two)."""
    global _framing, crc32c_combine
    saved = _framing, crc32c_combine
    _framing, crc32c_combine = None, _crc.combine_with_tables
    _crc.crc32c_combine = _crc.combine_with_tables
    try:
        yield
    finally:
        _framing, crc32c_combine = saved
        _crc.crc32c_combine = saved[1]


@functools.lru_cache(maxsize=1024)
def _length_crc(length: int) -> int:
    return masked_crc32c(_LEN.pack(length))


class FrameScanner:
    """Checks the framing of a record stream fed to it in chunks; collects offsets, lengths and problems.

    `push` takes the stream in pieces of any size; `close` reports what is left at the end
    (a truncated record, trailing bytes). `on_record(index, offset, data)` is called for each
    record whose CRCs hold; with `on_records` as well, records checked together (a run, or records
    of varying length that all hold) go to `on_records` in one call instead. Offsets are in the
    uncompressed stream, as in .idx files.
    """

    def __init__(self, path: str, on_record: RecordCallback | None = None, max_problems: int = 100,
                 limit: int | None = None, reread: Callable[[int, int], bytes] | None = None,
                 on_records: BatchCallback | None = None):
        self.path = str(path)
        self.on_record = on_record
        self.on_records = on_records if on_record is not None else None
        # reread(offset, size) gives back bytes already scanned (a seekable file): runs of equal-length
        # records are then checked across reads, once per DEFER_RECORDS, and re-read only when one fails.
        self.reread = reread
        self.max_problems = max_problems
        self.limit = limit
        self.index = 0  # the next record's index
        self.base = 0  # stream offset of the first byte not yet consumed
        self.want = 0  # bytes needed from `base` on to check the next record (0: any amount)
        self.stride = 0  # framed length of the last good record
        self.problems: list[Problem] = []
        self.stopped = limit is not None and limit <= 0
        self._leftover = b""
        # (offset, framed length, count), merged when contiguous; or (k, 3) arrays of such rows (from _clean)
        self._runs: list = []
        # (offset, index, claimed length or None) of a bad header while resynchronising: None for a
        # length CRC that fails, the length for one whose CRC holds but which claims too much
        self._bad: tuple[int, int, int | None] | None = None
        self.stream_bytes: int | None = None  # the record stream's size, when known (a plain file)
        self._pending: _Pending | None = None  # a run whose CRC check is deferred
        self._view: np.ndarray | None = None  # the buffer being scanned, as uint8 (see _feed)
        self._starts: np.ndarray | None = None  # the compiled walk's output, kept between reads
        self._chunk_crc: ChunkCrc | None = None  # the buffer being scanned's ChunkCrc, if any (see _feed)

    # -- driving

    def read_size(self) -> int:
        """How many bytes to read from `base` on: whole records when they all have one size, at least `want`.

        The first read is small: it learns the record size, so later reads end on record boundaries
        and each run check can use the CRC of the whole buffer.
        """
        default = SCAN_CHUNK_BYTES
        size = default if self.index else FIRST_READ_BYTES
        if self.stride and self.stride <= default:
            size = self.stride * (default // self.stride)
        return max(size, self.want, 1)

    def scan(self, buf: bytes, final: bool, crc: "int | ChunkCrc | None" = None) -> int:
        """Checks the records that lie complete in buf, which starts at stream offset `base`.

        Args:
            buf: the stream from `base` on (a caller that can seek re-reads what was not consumed).
            final: buf reaches the end of the stream; a record cut short is reported.
            crc: the CRC32C of buf, or a ChunkCrc that computes it once when asked, when the
                caller has it (a run check that covers the whole buffer then needs no pass of its own).

        Returns:
            The bytes consumed; `base` moves on by as much.
        """
        return self._feed(buf, final, crc)

    def push(self, chunk: bytes) -> None:
        """Scans the next piece of a stream that cannot be re-read; keeps what is not consumed."""
        if self.stopped or not chunk:
            return
        buf = self._leftover + chunk if self._leftover else chunk
        used = self._feed(buf, False, None)
        self._leftover = buf[used:] if used < len(buf) else b""

    def close(self) -> None:
        """Ends a pushed stream: whatever is left is a truncated record or trailing bytes."""
        if not self.stopped:
            self._feed(self._leftover, True, None)
        self._leftover = b""

    def report(self, record: int | None, offset: int | None, reason: str, check: str = "framing") -> None:
        self.flush()  # problems of a deferred run come first: they lie earlier in the stream
        if len(self.problems) >= self.max_problems:
            return
        self.problems.append(Problem(self.path, record, offset, check, reason))
        if len(self.problems) >= self.max_problems:
            self.stopped = True

    def result(self, compression: str, file_bytes: int, checksum: str | None) -> ScanResult:
        self.flush()
        parts, tuples = [], []  # _runs holds (offset, framed, count) tuples and (k, 3) blocks from _clean
        for run in self._runs + [None]:
            if isinstance(run, tuple):
                tuples.append(run)
                continue
            if tuples:
                parts.append(np.fromiter(itertools.chain.from_iterable(tuples), np.int64, 3 * len(tuples)).reshape(-1, 3))
                tuples = []
            if run is not None:
                parts.append(run)
        runs = np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)
        return ScanResult(self.path, compression, self.index, self.base, file_bytes, checksum, runs,
                          tuple(self.problems), complete=not self.stopped)

    # -- bookkeeping

    def _add(self, offset: int, framed: int, count: int) -> None:
        last = self._runs[-1] if self._runs else None
        if isinstance(last, tuple) and last[1] == framed and last[0] + last[1] * last[2] == offset:
            self._runs[-1] = (last[0], framed, last[2] + count)
        else:
            self._runs.append((offset, framed, count))
        self.index += count
        self.stride = framed
        if self.limit is not None and self.index >= self.limit:
            self.stopped = True

    # -- scanning

    def _feed(self, buf: bytes, final: bool, crc: "int | ChunkCrc | None") -> int:
        """Checks the records that lie complete in buf; returns the bytes consumed."""
        pos, n = 0, len(buf)
        self.want = 0
        self._chunk_crc = crc if isinstance(crc, ChunkCrc) else None
        # Records checked one by one take their CRC through a NumPy view: no copy of the bytes.
        self._view = np.frombuffer(buf, np.uint8) if self.on_record is None and n >= ZERO_COPY_BYTES else None
        while not self.stopped and pos < n:
            if self._bad is not None:
                pos, found = self._resync(buf, pos, final)
                if not found:
                    break
                continue
            if n - pos < HEADER_BYTES:
                if not final:
                    self.want = HEADER_BYTES
                    break
                self.report(self.index, self.base + pos,
                            f"{n - pos} trailing bytes: too short for a record header (12 bytes)")
                pos = n
                break
            (length,) = _LEN.unpack_from(buf, pos)
            framed = length + FRAMING_BYTES
            if framed == self.stride and n - pos >= framed * RUN_MIN_RECORDS:
                k = self._run(buf, pos, length, crc)
                if k:
                    pos += k * framed
                    continue
            if (self.on_record is None or self.on_records is not None) and self.limit is None:
                moved = self._clean(buf, pos)  # the common case, in a tight loop
                if moved != pos:
                    pos = moved
                    continue
            step = self._one(buf, pos, length, final)
            if not step:
                break
            pos += step
        self._view = self._chunk_crc = None  # holding on to the buffer would make the next read's allocation page-fault
        self.base += pos
        return pos

    def _one(self, buf: bytes, pos: int, length: int, final: bool) -> int:
        """Checks the record at pos; returns the bytes to advance (0: more data needed)."""
        offset, n = self.base + pos, len(buf)
        if _length_crc(length) != _CRC.unpack_from(buf, pos + 8)[0]:
            self._bad = (offset, self.index, None)
            return 1  # the resync search starts at the next byte
        framed = length + FRAMING_BYTES
        if n - pos < framed:
            past_end = self.stream_bytes is not None and offset + framed > self.stream_bytes
            if not final and not past_end and length < MAX_RECORD_BYTES:
                self.want = framed
                return 0
            # a claim past the end (or beyond any record): truncation, unless a valid record follows
            self._bad = (offset, self.index, length)
            return 1
        end = pos + HEADER_BYTES + length
        view = self._view
        data = view[pos + HEADER_BYTES : end] if view is not None and length >= ZERO_COPY_BYTES else buf[pos + HEADER_BYTES : end]
        if masked_crc32c(data) != _CRC.unpack_from(buf, end)[0]:
            # damaged data, or a length that lies: then a valid record starts inside what it claims
            q, whole = self._next_valid(buf, pos + 1, pos + framed, final)
            if q is not None and not whole:
                self.want = q - pos + _LEN.unpack_from(buf, q)[0] + FRAMING_BYTES
                return 0
            if q is not None:
                self.report(self.index, offset, _lying_length(length, offset, self.base + q))
                self.index += 1
                self.stride = 0
                return q - pos
            self.report(self.index, offset, "data CRC mismatch (the record's bytes are damaged)")
        elif self.on_record is not None:
            self.on_record(self.index, offset, data)
        self._add(offset, framed, 1)
        return framed

    def _clean(self, buf: bytes, pos: int) -> int:
        """Checks records of varying length from pos on while all is well; returns the new pos.

        A Python walk over the length fields finds where the records start; their length CRCs are
        then checked with NumPy, and their data CRCs with one hardware call each on a view (no
        copy). It stops, leaving the record to `_one`, at anything else: a bad CRC, a record cut off
        by the end of buf, or the start of a run of RUN_MIN_RECORDS records of one length (`_run`'s).
        """
        if _framing is not None:
            return self._clean_native(buf, pos)
        n, unpack_len = len(buf), _LEN.unpack_from
        starts, p, last = [], pos, n - HEADER_BYTES  # each record's framing starts at buf[starts[i]]
        append, prev, run = starts.append, self.stride, 1
        while p <= last:
            framed = unpack_len(buf, p)[0] + FRAMING_BYTES
            if p + framed > n:
                break
            if framed == prev:
                run += 1
                if run >= RUN_MIN_RECORDS:  # leave the run (and the records of it walked so far) to `_run`
                    cut = max(0, len(starts) + 1 - run)
                    p = starts[cut] if cut < len(starts) else p
                    del starts[cut:]
                    break
            else:
                prev, run = framed, 1
            append(p)
            p += framed
        if not starts:
            return pos
        view = np.frombuffer(buf, np.uint8)
        framing = np.array(starts + [p], np.int64)  # where each record's framing starts, then the end
        data_at, data_end = framing[:-1] + HEADER_BYTES, framing[1:] - FOOTER_BYTES
        # one gather: each record's 12 header bytes (length field, its masked CRC), then its 4 footer bytes
        frame = view[np.concatenate([data_at[:, None] - HEADER_BYTES + _HEADER_BYTE_OFFSETS,
                                     data_end[:, None] + _FOOTER_BYTE_OFFSETS], axis=1)]
        words = frame[:, 8:].copy().view("<u4")  # (m, 2): length CRC, data CRC as stored
        good = masked_length_crcs(frame[:, :8]) == words[:, 0]
        m = len(starts) if good.all() else int(np.argmin(good))  # a bad length field: `_one` takes it from there
        value = google_crc32c.value
        sizes = data_end[:m] - data_at[:m]
        # each record's data is buf[a + 12 : b - 4] for consecutive framing starts a, b
        pairs = zip(starts[:m], starts[1 : m + 1] if m < len(starts) else starts[1:] + [p])
        if m and sizes.min() >= ZERO_COPY_BYTES:
            crcs = [value(view[a + HEADER_BYTES : b - FOOTER_BYTES]) for a, b in pairs]
        elif m and sizes.max() < ZERO_COPY_BYTES:  # a small record is cheaper to copy than to view
            crcs = [value(buf[a + HEADER_BYTES : b - FOOTER_BYTES]) for a, b in pairs]
        else:
            crcs = [value(view[a + HEADER_BYTES : b - FOOTER_BYTES] if b - a - FRAMING_BYTES >= ZERO_COPY_BYTES
                          else buf[a + HEADER_BYTES : b - FOOTER_BYTES]) for a, b in pairs]
        good = mask_crcs(np.array(crcs, np.uint32)) == words[:m, 1]
        if not good.all():
            m = int(np.argmin(good))  # `_one` reports it
        return self._accept(buf, pos, framing[: m + 1])

    def _clean_native(self, buf: bytes, pos: int) -> int:
        """`_clean` through the compiled walk (tfrec/io/_framing.c): the same stops, the same records."""
        need = (len(buf) - pos) // FRAMING_BYTES + 1
        if self._starts is None or len(self._starts) < need:
            self._starts = np.empty(max(need, 1024), np.int64)  # untouched pages cost nothing
        chunk = self._chunk_crc  # with a file checksum to make: the walk's one pass gives the CRC of its span
        span = chunk is not None and chunk.wanted and chunk.buf is buf
        m, end, _, crc = _framing.walk(buf, pos, self.stride, RUN_MIN_RECORDS, self._starts, span)
        if span:
            chunk.note(pos, end, crc)
        return self._accept(buf, pos, self._starts[: m + 1]) if m else pos

    def _accept(self, buf: bytes, pos: int, framing: np.ndarray) -> int:
        """Takes the checked records whose framing starts at framing[:-1] (framing[-1]: where the last ends)."""
        m = len(framing) - 1
        if not m:
            return pos
        data_at, data_end = framing[:-1] + HEADER_BYTES, framing[1:] - FOOTER_BYTES
        block = np.empty((m, 3), np.int64)  # one run entry per record, as _add would make them
        block[:, 0] = framing[:-1] + self.base
        block[:, 1] = np.diff(framing)
        block[:, 2] = 1
        self._runs.append(block)
        if self.on_records is not None:
            self.on_records(self.index, self.base, buf, data_at, data_end, 0)
        self.index += m
        self.stride = int(block[-1, 1])
        return int(framing[-1])

    def _run(self, buf: bytes, pos: int, length: int, crc: "int | ChunkCrc | None") -> int:
        """Checks the run of records of this length that starts at pos with NumPy; returns its count.

        `crc` is the CRC32C of the whole of buf, when the caller has it.
        """
        framed = length + FRAMING_BYTES
        k = (len(buf) - pos) // framed
        if self.limit is not None:
            k = min(k, self.limit - self.index)
        if k <= 0:
            return 0
        # each header: the 8-byte length, then its 4-byte CRC (two 1-D strided compares: 3x faster than one 2-D)
        lengths = np.ndarray((k,), "<u8", buf, pos, (framed,))
        crcs = np.ndarray((k,), "<u4", buf, pos + 8, (framed,))
        if not ((lengths == length).all() and (crcs == _length_crc(length)).all()):
            k = int(np.argmin((lengths == length) & (crcs == _length_crc(length))))
            if k < RUN_MIN_RECORDS:
                return 0
        end = pos + k * framed
        footers = np.ndarray((k,), "<u4", buf, pos + HEADER_BYTES + length, (framed,)).astype(np.uint32)
        if crc is not None and end == len(buf) and pos < end - pos:  # the buffer's CRC covers the run
            whole = crc if isinstance(crc, int) else crc.value()
            # crc(buf) = shift(crc(buf[:pos]), len) ^ crc(run): copying the short prefix beats the run.
            actual = whole if pos == 0 else crc32c_combine(google_crc32c.value(buf[:pos]), whole, end - pos)
        else:
            actual = google_crc32c.value(np.frombuffer(buf, np.uint8, end - pos, pos))
        if self.reread is not None and self.on_record is None:
            self._defer(self.base + pos, length, footers, actual, k)
        else:
            bad = run_crc(length, footers) != actual
            if not bad and self.on_records is not None:
                starts = pos + HEADER_BYTES + np.arange(k, dtype=np.int64) * framed
                self.on_records(self.index, self.base, buf, starts, starts + length, framed)
            elif bad or self.on_record is not None:
                self._each(buf, pos, length, k, footers, bad)
        self._add(self.base + pos, framed, k)
        return k

    def _defer(self, offset: int, length: int, footers: np.ndarray, crc: int, count: int) -> None:
        """Adds a checked-header run to the pending one (or starts one); checks it once it is long enough.

        Checking up to DEFER_RECORDS records at a time costs a third less than checking each read:
        the CRC tables stay in cache, and NumPy's per-call costs are paid once.
        """
        p = self._pending
        if p is not None and (p.length != length or p.end != offset):
            self.flush()
            p = None
        if p is None:
            self._pending = _Pending(self.index, offset, length, [footers], crc, count)
        else:
            p.footers.append(footers)
            p.crc = crc32c_combine(p.crc, crc, count * (length + FRAMING_BYTES))
            p.count += count
        if self._pending.count >= DEFER_RECORDS:
            self.flush()

    def flush(self) -> None:
        """Checks the deferred run, if any; names its bad records (re-reading its bytes) when it fails."""
        p, self._pending = self._pending, None
        if p is None:
            return
        footers = np.concatenate(p.footers) if len(p.footers) > 1 else p.footers[0]
        if run_crc(p.length, footers) == p.crc:
            return
        framed = p.length + FRAMING_BYTES
        step = max(1, SCAN_CHUNK_BYTES // framed)
        for first in range(0, p.count, step):
            n = min(step, p.count - first)
            buf = self.reread(p.offset + first * framed, n * framed)
            for i in range(n):
                start = i * framed + HEADER_BYTES
                if masked_crc32c(buf[start : start + p.length]) != int(footers[first + i]):
                    self.report(p.index + first + i, p.offset + (first + i) * framed,
                                "data CRC mismatch (the record's bytes are damaged)")
                    if self.stopped:
                        return

    def _each(self, buf: bytes, pos: int, length: int, k: int, footers: np.ndarray, check: bool) -> None:
        """Visits the k records of a run one by one: checks their data CRCs if asked, calls on_record."""
        framed = length + FRAMING_BYTES
        for i, stored in enumerate(footers.tolist()):
            start = pos + i * framed + HEADER_BYTES
            data = buf[start : start + length]
            if check and masked_crc32c(data) != stored:
                self.report(self.index + i, self.base + pos + i * framed, "data CRC mismatch (the record's bytes are damaged)")
                if self.stopped:
                    return
            elif self.on_record is not None:
                self.on_record(self.index + i, self.base + pos + i * framed, data)

    def _resync(self, buf: bytes, pos: int, final: bool) -> tuple[int, bool]:
        """Searches from pos for the next offset where both CRCs hold; returns (position, found)."""
        n = len(buf)
        q, whole = self._next_valid(buf, pos, n - HEADER_BYTES + 1, final)
        if q is not None and whole:
            self._end_resync(self.base + q)
            return q, True
        if q is not None:  # a candidate runs past the end of buf: read on from it
            self.want = _LEN.unpack_from(buf, q)[0] + FRAMING_BYTES
            return q, False
        if final:
            self._end_resync(None, self.base + n)
            return n, False
        return max(pos, n - HEADER_BYTES + 1), False

    @staticmethod
    def _next_valid(buf: bytes, start: int, stop: int, final: bool) -> tuple[int | None, bool]:
        """The first q in [start, stop) where a record whose length and data CRCs both hold starts.

        Returns (q, True); (q, False) when the candidate at q runs past the end of buf and buf is
        not the end of the stream (more is needed to tell); (None, True) when there is none.
        """
        n, p, window = len(buf), start, 4096
        stop = min(stop, n - HEADER_BYTES + 1)
        while p < stop:
            w = min(window, stop - p)
            lens = np.ndarray((w,), "<u8", buf, p, (1,))
            heads = np.ndarray((w,), "<u4", buf, p + 8, (1,))
            cand = np.flatnonzero(lens < MAX_RECORD_BYTES)
            if cand.size:
                uniq, inverse = np.unique(lens[cand], return_inverse=True)
                expected = np.array([_length_crc(int(u)) for u in uniq.tolist()], np.uint32)[inverse]
                for h in cand[heads[cand] == expected].tolist():
                    q, length = p + h, int(lens[h])
                    end = q + HEADER_BYTES + length
                    if end + FOOTER_BYTES > n:
                        if final:
                            continue
                        return q, False
                    if masked_crc32c(buf[q + HEADER_BYTES : end]) == _CRC.unpack_from(buf, end)[0]:
                        return q, True
            p += w
            window = min(window * 4, 1 << 20)
        return None, True

    def _end_resync(self, found: int | None, end: int | None = None) -> None:
        offset, index, length = self._bad
        self._bad = None
        what = "length CRC mismatch (corrupt length field, or not TFRecord data)"
        if found is None:
            after = end - offset - HEADER_BYTES
            if length is None:
                self.report(index, offset, f"{what}; no valid record in the {end - offset} bytes to the end")
            elif after < length + FOOTER_BYTES:
                self.report(index, offset, _truncation(length, after))
            else:  # it fits, but no reader takes a record this long
                self.report(index, offset, f"length field says {length} bytes, more than a TFRecord can hold "
                                           f"(under {MAX_RECORD_BYTES} bytes); no valid record in the {end - offset} "
                                           "bytes to the end")
            return
        if length is None:
            self.report(index, offset, f"{what}; skipped {found - offset} bytes to the next valid record at byte {found}")
        else:
            self.report(index, offset, _lying_length(length, offset, found))
        self.index = index + 1  # assumes the damaged stretch held one record
        self.stride = 0


def valid_record_at(buf: bytes, pos: int = 0) -> bool:
    """Whether a record that the resync search would accept starts at buf[pos] and lies whole in buf: a length
    under MAX_RECORD_BYTES and both CRCs holding (tfrec.io.salvage asks it where a length and an .idx line differ)."""
    q, whole = FrameScanner._next_valid(buf, pos, pos + 1, True)
    return q == pos and whole


def _lying_length(length: int, offset: int, found: int) -> str:
    return (f"length field says {length} bytes (its CRC holds), but a valid record starts at byte {found}, "
            f"within them: a corrupt length field; skipped {found - offset} bytes to it")


def _truncation(length: int, after_header: int) -> str:
    """What a record cut off by the end of the stream lacks: some of its data, or only its data CRC."""
    if after_header >= length:
        missing = FOOTER_BYTES - (after_header - length)
        return (f"truncated record: its {length} data bytes are all there, but {missing} of the "
                f"{FOOTER_BYTES} bytes of its data CRC are missing")
    return (f"truncated record: length field says {length} bytes, only {after_header} follow the header "
            f"(and the {FOOTER_BYTES}-byte data CRC after them is missing)")


# ---------------------------------------------------------------- files


def scan_file(path: str, compression: str | None = "auto", on_record: RecordCallback | None = None,
              max_problems: int = 100, limit: int | None = None, checksum: str | None = None,
              on_records: BatchCallback | None = None) -> ScanResult:
    """Checks every record of a TFRecord file (plain, GZIP or ZLIB), optionally with the file's checksum.

    Args:
        path: the file.
        compression: 'none', 'gzip', 'zlib', or 'auto'/None to detect it from the first bytes.
        on_record: called as on_record(index, offset, data) for each record whose CRCs hold.
        on_records: with on_record, takes the records checked together in one call (see FrameScanner).
        max_problems: stop after this many problems.
        limit: stop after this many records.
        checksum: also checksum the bytes on disk: 'crc32c' (what dataset.json stores), 'crc32'
            (zlib's CRC-32), or None.

    Returns:
        A ScanResult; problems are listed in it, never raised.
    """
    path = str(path)
    if checksum not in CHECKSUMS:
        raise TfrecError(f"unknown checksum {checksum!r}; expected one of {', '.join(k for k in CHECKSUMS if k)}")
    scanner = FrameScanner(path, on_record, max_problems, limit, on_records=on_records)
    summer = FileChecksum(checksum)
    try:
        comp = None if compression in (None, "auto") else normalize_compression(compression)
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            comp = comp or compression_of(os.pread(f.fileno(), 64, 0))
            done = _scan_plain(f, scanner, summer, size) if comp == "none" else scan_compressed(f, scanner, comp, size, summer, SCAN_CHUNK_BYTES)
    except OSError as e:
        scanner.report(None, None, f"cannot read: {e.strerror or e}")
        return scanner.result(compression or "auto", 0, None)
    return scanner.result(comp, size, summer.text() if done and not scanner.stopped else None)


def _scan_plain(f, scanner: FrameScanner, summer: FileChecksum, size: int) -> bool:
    # Seek back to the first unconsumed byte instead of carrying it over: joining a partial record
    # to the next chunk costs a fresh multi-megabyte allocation and copy per chunk.
    def reread(offset: int, n: int) -> bytes:
        f.seek(offset)
        return f.read(n)

    scanner.reread = reread
    scanner.stream_bytes = size
    chunk = None
    while not scanner.stopped and scanner.base < size:
        if f.tell() != scanner.base:
            f.seek(scanner.base)
        # Drop the last chunk before reading the next: with two multi-megabyte buffers alive, the
        # allocator hands back fresh memory each time and every read page-faults (3x slower reads).
        chunk = crc = None
        chunk = f.read(min(scanner.read_size(), size - scanner.base))
        if not chunk:
            break
        # computed only if a run check or the checksum wants it; the compiled walk notes the parts it has
        crc = ChunkCrc(chunk, wanted=summer.kind == "crc32c")
        start, final = scanner.base, scanner.base + len(chunk) >= size
        scanner.scan(chunk, final, crc)
        summer.add(chunk, start, crc)
    chunk = crc = None
    scanner.flush()
    return summer.end >= size
