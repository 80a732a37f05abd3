"""CRC32C arithmetic: masked CRCs of runs of records, shifting and combining CRCs with NumPy; file checksums."""
from __future__ import annotations

import functools
import struct
import zlib

import google_crc32c
import numpy as np

from .native import framing as _framing
from .records import FOOTER_BYTES, FRAMING_BYTES, MASK_DELTA, mask_crcs, masked_crc32c


# CRC32C values form the ring GF(2)[x]/P; appending n zero bytes multiplies by a constant, so it is a
# linear map of the 32-bit value. A map is stored as byte-sliced tables (4, 256) and applied to
# arrays through two 16-bit tables (2, 65536), which NumPy looks up twice as fast.

_BITS = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)


def _tables(columns: np.ndarray) -> np.ndarray:
    """Byte-sliced tables (4, 256) of the linear map whose image of bit k is columns[k]."""
    out = np.zeros((4, 256), np.uint32)
    for b in range(4):
        t = np.zeros(1, np.uint32)
        for bit in range(8):
            t = np.concatenate([t, t ^ columns[8 * b + bit]])
        out[b] = t
    return out


def _apply8(tables: np.ndarray, x: np.ndarray) -> np.ndarray:
    return tables[0][x & 0xFF] ^ tables[1][(x >> 8) & 0xFF] ^ tables[2][(x >> 16) & 0xFF] ^ tables[3][x >> 24]


@functools.lru_cache(maxsize=None)
def _shift_pow2(j: int) -> np.ndarray:
    """Tables of the map crc -> the CRC after appending 2**j zero bytes (linear part)."""
    if j == 0:
        zero = google_crc32c.value(b"\0")
        return _tables(np.array([google_crc32c.extend(int(b), b"\0") ^ zero for b in _BITS], np.uint32))
    half = _shift_pow2(j - 1)
    return _tables(_apply8(half, _apply8(half, _BITS)))


@functools.lru_cache(maxsize=256)
def _shift8(n: int) -> np.ndarray:
    """Byte-sliced tables of the map crc -> the CRC after appending n zero bytes."""
    cols, j = _BITS, 0
    while n:
        if n & 1:
            cols = _apply8(_shift_pow2(j), cols)
        n >>= 1
        j += 1
    return _tables(cols)


@functools.lru_cache(maxsize=256)
def _shift_lists(n: int) -> tuple[list[int], ...]:
    return tuple(t.tolist() for t in _shift8(n))


def combine_with_tables(crc_a: int, crc_b: int, len_b: int) -> int:
    """crc32c_combine without the compiled module: byte tables built per length (about 0.4 ms for a new
    length, then cached) and four lookups."""
    if not crc_a:
        return crc_b
    t0, t1, t2, t3 = _shift_lists(len_b)  # plain Python: a NumPy call costs more than the four lookups
    return t0[crc_a & 0xFF] ^ t1[(crc_a >> 8) & 0xFF] ^ t2[(crc_a >> 16) & 0xFF] ^ t3[crc_a >> 24] ^ crc_b


# crc32c_combine(crc_a, crc_b, len_b): the CRC32C of A + B from the CRC32C of A, of B, and the length
# of B (no pass over the bytes). Compiled where built (about 1 us for any length), else with tables.
crc32c_combine = _framing.combine if _framing is not None else combine_with_tables


@functools.lru_cache(maxsize=None)
def _word_tables() -> np.ndarray:
    """Byte-sliced tables of the linear part of the CRC32C of a 4-byte little-endian word."""
    k4 = google_crc32c.value(b"\0" * 4)
    return _tables(np.array([google_crc32c.value(struct.pack("<I", int(b))) ^ k4 for b in _BITS], np.uint32))


# Blocks combined per folding step, in one NumPy gather: 16 keeps each step's tables at 64 KiB,
# which come back into the cache faster after the scan's reads than 64's 256 KiB.
_RADIX = 16
_RADIX_OFFSETS = (np.arange(_RADIX * 4, dtype=np.intp) * 256).reshape(_RADIX, 4)


@functools.lru_cache(maxsize=64)  # 64 KiB each
def _radix_tables(block: int) -> np.ndarray:
    """Flat byte-sliced tables (R * 4 * 256): entry j shifts a CRC over (R - 1 - j) blocks of `block` bytes."""
    step, cols = _shift8(block), _BITS
    out = np.empty((_RADIX, 4, 256), np.uint32)
    for j in range(_RADIX - 1, -1, -1):
        out[j] = _tables(cols)
        cols = _apply8(step, cols)
    return out.reshape(-1)


def _fold(rows: np.ndarray, block: int) -> np.ndarray:
    """Per row, the CRC of k blocks of `block` bytes laid end to end, from the k blocks' CRCs.

    Groups of R blocks are combined in one gather: crc(B0 + ... + B[R-1]) = XOR_j shift(crc(Bj), (R - 1 - j) * block).
    """
    rows = np.asarray(rows, np.uint32)
    while rows.shape[-1] > 1:
        if rows.shape[-1] <= _RADIX:  # the last step: one group, no padding (the last m shifts of the tables)
            m = rows.shape[-1]
            index = np.ascontiguousarray(rows).view(np.uint8).reshape(rows.shape + (4,)) + _RADIX_OFFSETS[_RADIX - m:]
            parts = np.take(_radix_tables(block), index)
            return np.bitwise_xor.reduce(parts.reshape(rows.shape[:-1] + (-1,)), axis=-1)
        pad = -rows.shape[-1] % _RADIX
        if pad:  # empty blocks in front change nothing: crc('' + X) = crc(X)
            rows = np.concatenate([np.zeros(rows.shape[:-1] + (pad,), np.uint32), rows], axis=-1)
        groups = np.ascontiguousarray(rows).reshape(rows.shape[:-1] + (-1, _RADIX))
        # the bytes of each CRC value, little-endian: byte b indexes table b (TFRecord is little-endian)
        index = groups.view(np.uint8).reshape(groups.shape + (4,)) + _RADIX_OFFSETS
        parts = np.take(_radix_tables(block), index)
        rows = np.bitwise_xor.reduce(parts.reshape(groups.shape[:-1] + (-1,)), axis=-1)
        block *= _RADIX
    return rows[..., 0]


@functools.lru_cache(maxsize=64)
def _run_constant(length: int, count: int) -> int:
    """The part of a run's CRC that is the same for every run of `count` records of `length` bytes."""
    header = struct.pack("<Q", length)
    header += struct.pack("<I", masked_crc32c(header))
    k4 = google_crc32c.value(b"\0" * 4)
    const = crc32c_combine(google_crc32c.value(header), k4, length + FOOTER_BYTES)
    return int(_fold(np.full(count, const, np.uint32), length + FRAMING_BYTES))


def _invert(columns: np.ndarray) -> np.ndarray:
    """Columns of the inverse of an invertible GF(2) map given by its columns (Gaussian elimination)."""
    pairs = [[int(c), 1 << k] for k, c in enumerate(columns.tolist())]  # (image, preimage)
    for bit in range(32):
        pivot = next(i for i in range(bit, 32) if pairs[i][0] >> bit & 1)
        pairs[bit], pairs[pivot] = pairs[pivot], pairs[bit]
        for i in range(32):
            if i != bit and pairs[i][0] >> bit & 1:
                pairs[i][0] ^= pairs[bit][0]
                pairs[i][1] ^= pairs[bit][1]
    return np.array([p[1] for p in pairs], np.uint32)


def _slice_table(columns: np.ndarray) -> np.ndarray:
    """Table (2**len(columns)) of the linear map, restricted to the bits whose images are `columns`."""
    t = np.zeros(1, np.uint32)
    for c in columns:
        t = np.concatenate([t, t ^ c])
    return t


@functools.lru_cache(maxsize=None)
def _merge_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of word^-1 . shift(4) . rotl15 on bits 0-10, 11-21 and 22-31 of (masked - delta).

    Unmasking is crc = rotl15(masked - delta); the rotation is linear, so it is folded into the
    tables. Three 11-bit tables (24 KiB) beat two 16-bit ones (512 KiB): the scan's reads push
    tables out of the cache, and the small ones come back quickly.
    """
    word_inverse = _tables(_invert(_apply8(_word_tables(), _BITS)))
    rotl15 = (_BITS << np.uint32(15)) | (_BITS >> np.uint32(17))
    columns = _apply8(word_inverse, _apply8(_shift8(FOOTER_BYTES), rotl15))
    return _slice_table(columns[:11]), _slice_table(columns[11:22]), _slice_table(columns[22:])


def run_crc(length: int, footers: np.ndarray) -> int:
    """The CRC32C that a run of records of one data length must have if every stored data CRC holds.

    crc(header + data + footer) = shift(crc(header), L + 4) ^ shift(crc(data), 4) ^ word(footer),
    and every map is a multiplication in the same ring, so they commute: each record's claimed
    data CRC is merged into its footer word, the words are folded over the run in one pass, and
    `word` is applied once at the end.

    Args:
        length: the data length of every record in the run.
        footers: the stored (masked) data CRC of each record, as uint32.
    """
    u = footers - np.uint32(MASK_DELTA)  # the claimed data CRC is rotl15(u)
    t0, t1, t2 = _merge_tables()
    merged = np.take(t0, u & 0x7FF) ^ np.take(t1, (u >> 11) & 0x7FF) ^ np.take(t2, u >> 22) ^ footers
    folded = _apply8(_word_tables(), np.uint32(_fold(merged, length + FRAMING_BYTES)))
    return int(folded) ^ _run_constant(length, len(footers))


@functools.lru_cache(maxsize=None)
def _length_tables() -> tuple[np.ndarray, int]:
    """Byte-sliced tables (8 * 256, flat) of the linear part of the CRC32C of an 8-byte word, and its constant."""
    zero = google_crc32c.value(bytes(8))
    out = np.empty((8, 256), np.uint32)
    for b in range(8):
        out[b] = [google_crc32c.value(bytes(b) + bytes([v]) + bytes(7 - b)) ^ zero for v in range(256)]
    return out.reshape(-1), zero


_LENGTH_OFFSETS = np.arange(8, dtype=np.intp) * 256


def masked_length_crcs(fields: np.ndarray) -> np.ndarray:
    """The masked CRC32C that TFRecord stores after each 8-byte length field; fields is (n, 8) uint8."""
    tables, zero = _length_tables()
    crc = np.bitwise_xor.reduce(np.take(tables, fields + _LENGTH_OFFSETS), axis=1) ^ np.uint32(zero)
    return mask_crcs(crc)


class ChunkCrc:
    """The CRC32C of a buffer, computed on first use and kept.

    A scan that computes the CRC of part of the buffer anyway (the compiled walk over records of
    varying length does, when `wanted`) notes it; the value is then put together from those parts
    and a pass over the rest only.
    """

    __slots__ = ("buf", "wanted", "_value", "_parts")

    def __init__(self, buf: bytes, wanted: bool = False):
        self.buf, self.wanted, self._value, self._parts = buf, wanted, None, []

    def note(self, start: int, end: int, crc: int) -> None:
        """Records that buf[start:end] has CRC32C `crc` (parts never overlap)."""
        if self._value is None and end > start:
            self._parts.append((start, end, crc))

    def value(self) -> int:
        if self._value is None:
            if not self._parts:
                self._value = google_crc32c.value(self.buf)
                return self._value
            view, total, at = np.frombuffer(self.buf, np.uint8), 0, 0
            for start, end, crc in sorted(self._parts) + [(len(self.buf), len(self.buf), 0)]:
                if start > at:  # a gap between the noted parts
                    total = crc32c_combine(total, google_crc32c.value(view[at:start]), start - at)
                total, at = crc32c_combine(total, crc, end - start), end
            self._value = total
        return self._value


# Checksums of a file's bytes on disk: dataset.json stores CRC32C ('crc32c:%08x', what ShardWriter
# writes); zlib's CRC-32 ('crc32:%08x') is accepted too, for manifests that carry it.
CHECKSUMS = (None, "crc32", "crc32c")


class FileChecksum:
    """A running checksum of a file's bytes; CRC32C is combined from the chunk CRCs the scan has anyway."""

    def __init__(self, kind: str | None):
        self.kind, self.value, self.end = kind, 0, 0

    def add(self, chunk: bytes, start: int = -1, crc32c: "ChunkCrc | None" = None) -> None:
        """Adds chunk, which starts at file offset `start` (-1: where the last one ended); skips overlap."""
        skip = max(0, self.end - start) if start >= 0 else 0
        if skip >= len(chunk) or not self.kind:
            self.end = max(self.end, start + len(chunk))
            return
        if self.kind == "crc32":
            self.value = zlib.crc32(memoryview(chunk)[skip:], self.value)
        else:
            c = google_crc32c.value(chunk) if crc32c is None else crc32c.value()
            if skip:  # c(chunk) = shift(c(head), len(tail)) ^ c(tail); the overlap is the short head
                c = crc32c_combine(google_crc32c.value(chunk[:skip]), c, len(chunk) - skip)
            self.value = crc32c_combine(self.value, c, len(chunk) - skip)
        self.end += len(chunk) - skip

    def text(self) -> str | None:
        return f"{self.kind}:{self.value:08x}" if self.kind else None
