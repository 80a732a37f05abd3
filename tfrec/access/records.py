"""Records by global index: one pread per record (or per run of neighbouring records in a batch), CRCs checked.

RecordSource is the one random-access reader of tfrec's shards (the PyTorch and Grain adapters read
through it): record i of a split is found by the cumulative shard counts (numpy.searchsorted) and the
shard's offsets table; it opens each shard once per process, lazily, and reads with os.pread, so one
source can be shared by threads and handed to worker processes (pickling drops the file descriptors;
a forked child opens its own).
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import Sequence

import numpy as np

from ..errors import CorruptRecordError, TfrecError
from ..io.records import FOOTER_BYTES, FRAMING_BYTES, HEADER_BYTES, masked_crc32c
from ..io.salvage import ReadStats
from ..io.scan import Problem
from .shards import ShardRef, check_table, offsets_table

# A batch's records that lie within this many bytes of each other are read with one pread (the gap read
# into a scratch buffer). Measured on shuffled 3 KiB CIFAR records (50k in 8 shards, batch 256, CPU time):
# 117k records/s with no gap read, 113k at 4 KiB, 108k at 16 KiB, 94k at 64 KiB: a system call costs less
# than reading and allocating a gap of more than a page.
COALESCE_GAP_BYTES = 4 << 10
COALESCE_MAX_BYTES = 16 << 20  # one pread never asks for more than this (plus one record)
MAP_SHARDS = True  # fixed-layout batches copy records out of read-only mappings of the shards (read_rows)
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX")) if hasattr(os, "sysconf") else 1024  # buffers per os.preadv


def unframe(buf: bytes | memoryview, path: str, index: int, offset: int, check_crc: bool = True) -> bytes:
    """The payload of one framed record (`buf` holds exactly it, as its index line sizes it), its CRCs checked.

    Raises:
        CorruptRecordError: truncated, a CRC that does not hold, or a length field that disagrees with the index.
    """
    framed = len(buf)
    if framed < FRAMING_BYTES:
        raise CorruptRecordError(path, index, offset, f"truncated: {framed} bytes where a record has at least 16")
    (length,) = struct.unpack_from("<Q", buf)
    if check_crc and masked_crc32c(bytes(buf[:8])) != struct.unpack_from("<I", buf, 8)[0]:
        raise CorruptRecordError(path, index, offset, "length CRC mismatch (corrupt record, or a wrong .idx)")
    if length + FRAMING_BYTES != framed:
        raise CorruptRecordError(path, index, offset, f"length field says {length} bytes; the index says {framed - 16}")
    data = bytes(buf[HEADER_BYTES:framed - FOOTER_BYTES])
    if check_crc and masked_crc32c(data) != struct.unpack_from("<I", buf, framed - FOOTER_BYTES)[0]:
        raise CorruptRecordError(path, index, offset, "data CRC mismatch")
    return data


class RecordSource:
    """Serialized records by global index over shards (a split, or foreign files): `len`, `[i]`, `get_many`.

    Args:
        shards: the shards, in order; record i is in the first shard whose cumulative count passes i.
        tables: offsets tables already found (foreign files); the others are read from `.idx` on first use.
        problems: damage found while finding the tables (records left out of them).
        check_crc: check both CRCs of every record read (default; off only for trusted data).
        skip_corrupt: a damaged record is skipped (get returns None, get_many leaves it out) and counted in
            `stats`, instead of raising CorruptRecordError.
    """

    def __init__(self, shards: Sequence[ShardRef], tables: dict[int, np.ndarray] | None = None,
                 problems: Sequence[Problem] = (), check_crc: bool = True, skip_corrupt: bool = False):
        self.shards = tuple(shards)
        self.check_crc = check_crc
        self.skip_corrupt = skip_corrupt
        self.stats = ReadStats()
        self._ends = np.cumsum([s.records for s in self.shards], dtype=np.int64)
        self._tables = dict(tables or {})
        self._problems = tuple(problems)
        if self._problems and not skip_corrupt:
            p = self._problems[0]
            raise CorruptRecordError(p.file, p.record if p.record is not None else -1, p.offset or 0, p.reason)
        for p in self._problems:
            self.stats.skip(p.file, p.record if p.record is not None else -1, p.offset or 0, p.reason)
        self._fds: dict[int, int] = {}
        self._maps: dict[int, np.ndarray] = {}  # shard -> the file mapped read-only (fixed-layout batches)
        self._pid = os.getpid()

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"] = {}  # file descriptors belong to a process; the receiver opens its own
        state["_maps"] = {}
        state["stats"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.stats = ReadStats()
        self._pid = os.getpid()

    def close(self) -> None:
        """Closes the shards this process opened."""
        fds, self._fds = self._fds, {}
        self._maps = {}  # unmapped when the last batch gathered from it is gone
        if self._pid == os.getpid():
            for fd in fds.values():
                os.close(fd)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # ------------------------------------------------------------ locating

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, index in the shard) of each global record index. Raises IndexError outside [0, len)."""
        indices = np.asarray(indices, np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            bad = int(indices[(indices < 0) | (indices >= len(self))][0])
            raise IndexError(f"record {bad} is outside [0, {len(self)})")
        shard = np.searchsorted(self._ends, indices, side="right")
        starts = np.concatenate(([0], self._ends))[shard]
        return shard, indices - starts

    def table(self, k: int) -> np.ndarray:
        """Shard k's (offset, framed length) table: found on first use in this process."""
        table = self._tables.get(k)
        if table is None:
            problems: list[Problem] = []
            table = offsets_table(self.shards[k].path, problems)
            if problems and not self.skip_corrupt:
                p = problems[0]
                raise CorruptRecordError(p.file, p.record if p.record is not None else -1, p.offset or 0, p.reason)
            for p in problems:
                self.stats.skip(p.file, p.record if p.record is not None else -1, p.offset or 0, p.reason)
            table = check_table(table, self.shards[k]) if not problems else table
            self._tables[k] = table
        return table

    def _fd(self, k: int) -> int:
        if self._pid != os.getpid():  # a forked child: the parent's descriptors share its file offsets
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(k)
        if fd is None:
            try:
                opened = os.open(self.shards[k].path, os.O_RDONLY)
            except OSError as e:
                raise TfrecError(f"{self.shards[k].path}: cannot open: {e.strerror or e}") from e
            # threads sharing a source (Grain's, the viewer's) may open a shard at once: keep one, close the rest
            fd = self._fds.setdefault(k, opened)
            if fd != opened:
                os.close(opened)
        return fd

    # ------------------------------------------------------------ reading

    def __getitem__(self, i: int) -> bytes | None:
        return self.get_many([i])[0]

    def get_many(self, indices: Sequence[int] | np.ndarray) -> list[bytes | None]:
        """The payloads of records, in the order asked; reads are sorted by offset and neighbours coalesced.

        A damaged record is None with skip_corrupt (and counted in `stats`).

        Raises:
            CorruptRecordError: a damaged record (without skip_corrupt), naming shard, record and byte offset.
            IndexError: an index outside [0, len).
        """
        shards, local, spans = self.spans(indices)
        out: list[bytes | None] = [None] * len(shards)
        for k in np.unique(shards).tolist():
            rows = np.flatnonzero(shards == k)
            inside = spans[rows, 1] >= 0
            for r in rows[~inside]:  # past a scanned table that lost damaged records (skip_corrupt)
                self.stats.skip(self.shards[k].path, int(local[r]), -1, "not found by the framing scan")
            rows = rows[inside]
            order = rows[np.argsort(spans[rows, 0], kind="stable")]
            for run in _runs(spans[order]):
                self._read_run(k, order[run], local, spans, out)
        return out

    def spans(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shard number, index in the shard, (offset, framed length)) of each record; (-1, -1) past a
        scanned table that lost damaged records.

        Raises:
            IndexError: an index outside [0, len).
        """
        shards, local = self.locate(np.asarray(indices, np.int64))
        spans = np.full((len(shards), 2), -1, np.int64)
        for k in np.unique(shards).tolist():
            rows = np.flatnonzero(shards == k)
            table = self.table(k)
            rows = rows[local[rows] < len(table)]
            spans[rows] = table[local[rows]]
        return shards, local, spans

    def read_rows(self, shards: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """Framed records of one length, read straight into the rows of an (n, framed) uint8 matrix.

        The rows are in the order given; reads are sorted by offset and neighbours coalesced, one
        os.preadv per run (gaps between records go to a scratch buffer). Nothing is checked here: a
        row past the end of its file is left short (zeros), so a check of its framing fails.

        With MAP_SHARDS (the default) each shard is mapped read-only once and a batch's rows of it are
        copied out with one NumPy fancy index instead (no system call per record: a shuffled batch's
        reads cost about half of one preadv each); where a shard cannot be mapped, os.preadv.
        """
        n = len(spans)
        framed = int(spans[0, 1]) if n else 0
        rows = np.empty((n, framed), np.uint8)
        flat = memoryview(rows).cast("B") if n and framed else None
        for k in np.unique(shards).tolist():
            mine = np.flatnonzero(shards == k)
            if MAP_SHARDS and framed and self._gather_mapped(k, mine, spans, rows):
                continue
            order = mine[np.argsort(spans[mine, 0], kind="stable")]
            runs = _runs(spans[order])
            if len(runs) == 1:
                self._read_into(k, order, spans, rows)
                continue
            fd, rows_at, offsets = self._fd(k), order.tolist(), spans[order, 0].tolist()
            for run in runs:
                if run.stop - run.start > 1:
                    self._read_into(k, order[run], spans, rows)
                    continue
                # a record alone (a shuffled batch's usual case): one preadv straight into its row
                r, offset = rows_at[run.start], offsets[run.start]
                try:
                    got = os.preadv(fd, [flat[r * framed:(r + 1) * framed]], offset)
                except OSError as e:
                    raise CorruptRecordError(self.shards[k].path, -1, offset, f"cannot read: {e.strerror or e}") from e
                if got < framed:  # past the end of the file: a row that fails every check
                    rows[r] = 0
        return rows

    def _mapped(self, k: int) -> np.ndarray | None:
        """Shard k's bytes, mapped read-only (None: it cannot be mapped, e.g. empty); mapped again when the
        file's size changed since (so no row is copied from past its end)."""
        if self._pid != os.getpid():
            self._maps = {}
        fd = self._fd(k)
        size = os.fstat(fd).st_size
        data = self._maps.get(k)
        if data is None or len(data) != size:
            try:
                data = np.frombuffer(mmap.mmap(fd, size, prot=mmap.PROT_READ), np.uint8)
            except (OSError, ValueError):  # an empty file, or one mmap refuses: read it with preadv
                return None
            self._maps[k] = data
        return data

    def _gather_mapped(self, k: int, mine: np.ndarray, spans: np.ndarray, rows: np.ndarray) -> bool:
        """Copies the records of `mine` from shard k's mapping into their rows; False where it has none."""
        data = self._mapped(k)
        if data is None:
            return False
        framed = rows.shape[1]
        offsets = spans[mine, 0]
        inside = (offsets >= 0) & (offsets + framed <= len(data))
        if not inside.any():
            rows[mine] = 0  # past the end of the file: rows that fail every check
            return True
        windows = np.lib.stride_tricks.as_strided(data, (len(data) - framed + 1, framed), (1, 1), writeable=False)
        if inside.all():
            rows[mine] = windows[offsets]
        else:
            rows[mine[inside]] = windows[offsets[inside]]
            rows[mine[~inside]] = 0
        return True

    def _read_into(self, k: int, rows: np.ndarray, spans: np.ndarray, out: np.ndarray) -> None:
        framed, first = out.shape[1], int(spans[rows[0], 0])
        n = len(rows)
        if (np.diff(rows) == 1).all() and (spans[rows, 0] == first + framed * np.arange(n)).all():
            pieces = [(first, memoryview(out[rows[0]:rows[0] + n]).cast("B"))]  # records in order: one buffer
            again: list = []
        else:
            pieces, again = _pieces(rows, spans, out)
        for at in range(0, len(pieces), _IOV_MAX):
            chunk = pieces[at:at + _IOV_MAX]
            try:
                got = os.preadv(self._fd(k), [b for _, b in chunk], chunk[0][0])
            except OSError as e:
                raise CorruptRecordError(self.shards[k].path, -1, chunk[0][0], f"cannot read: {e.strerror or e}") from e
            if got < sum(len(b) for _, b in chunk):  # past the end of the file: rows that fail every check
                out[rows] = 0
                return
        for r, src in again:
            out[r] = out[src] if src is not None else 0  # 0: an overlapping span (a wrong index) fails the checks

    def _read_run(self, k: int, rows: np.ndarray, local: np.ndarray, spans: np.ndarray, out: list) -> None:
        path = self.shards[k].path
        start = int(spans[rows[0], 0])
        stop = int((spans[rows, 0] + spans[rows, 1]).max())
        try:
            buf = memoryview(os.pread(self._fd(k), stop - start, start))
        except OSError as e:
            raise CorruptRecordError(path, int(local[rows[0]]), start, f"cannot read: {e.strerror or e}") from e
        for r in rows.tolist():
            offset, framed = int(spans[r, 0]), int(spans[r, 1])
            piece = buf[offset - start: offset - start + framed]
            try:
                if len(piece) < framed:
                    raise CorruptRecordError(path, int(local[r]), offset, f"truncated: {len(piece)} of {framed} "
                                             f"bytes remain in the file")
                out[r] = unframe(piece, path, int(local[r]), offset, self.check_crc)
            except CorruptRecordError as e:
                if not self.skip_corrupt:
                    raise
                self.stats.skip(e.path, e.index, e.offset, e.reason, nbytes=framed)


def _pieces(rows: np.ndarray, spans: np.ndarray, out: np.ndarray) -> tuple[list, list]:
    """os.preadv's (file offset, buffer) pieces of an offset-sorted run: each row, a scratch buffer per gap;
    and (row, row read) of records asked twice."""
    pieces, seen, again, reach = [], {}, [], int(spans[rows[0], 0])
    for r in rows.tolist():
        offset = int(spans[r, 0])
        if offset < reach:  # the same record twice in a batch: copied after the read
            again.append((r, seen.get(offset)))
            continue
        if offset > reach:
            pieces.append((reach, bytearray(offset - reach)))
        pieces.append((offset, memoryview(out[r])))
        seen[offset], reach = r, offset + out.shape[1]
    return pieces, again


def _runs(spans: np.ndarray) -> list[slice]:
    """Slices of offset-sorted (offset, length) rows that one read each covers: a new read where the gap to
    the bytes already covered passes COALESCE_GAP_BYTES, or where a read would pass COALESCE_MAX_BYTES."""
    if not len(spans):
        return []
    starts = spans[:, 0]
    reach = np.maximum.accumulate(starts + spans[:, 1])
    breaks = (np.flatnonzero(starts[1:] - reach[:-1] > COALESCE_GAP_BYTES) + 1).tolist()
    runs = []
    for a, b in zip([0, *breaks], [*breaks, len(spans)]):
        if b - a == 1 or reach[b - 1] - starts[a] <= COALESCE_MAX_BYTES:
            runs.append(slice(a, b))
            continue
        while a < b:
            c = a + 1 + int(np.searchsorted(reach[a + 1:b] - starts[a], COALESCE_MAX_BYTES, side="right"))
            runs.append(slice(a, c))
            a = c
    return runs
