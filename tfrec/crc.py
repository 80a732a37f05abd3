"""CRC32C arithmetic: masked CRCs of runs of records, shifting and combining CRCs with NumPy."""
from __future__ import annotations

import functools
import struct

import google_crc32c
import numpy as np

from .records import FOOTER_BYTES, FRAMING_BYTES, masked_crc32c

# The constant TensorFlow adds when masking a CRC (as in records.masked_crc32c).
_MASK_DELTA = 0xA282EAD8

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


def _wide(tables: np.ndarray) -> np.ndarray:
    """16-bit tables (2, 65536) from byte-sliced ones: entry hi*256+lo = t[hi] ^ t[lo]."""
    return np.stack([np.bitwise_xor.outer(tables[1], tables[0]).ravel(),
                     np.bitwise_xor.outer(tables[3], tables[2]).ravel()])


@functools.lru_cache(maxsize=48)  # 512 KiB each; a dataset of one record size uses about 20
def _shift16(n: int) -> np.ndarray:
    return _wide(_shift8(n))


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    """Shifts CRC values over n appended bytes: crc(A + B) = _shift(crc(A), len(B)) ^ crc(B)."""
    if x.size < 64:  # building the wide tables costs more than a few slow lookups
        return _apply8(_shift8(n), x)
    t = _shift16(n)
    return np.take(t[0], x & 0xFFFF) ^ np.take(t[1], x >> 16)


def crc32c_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """The CRC32C of A + B from the CRC32C of A, of B, and the length of B (no pass over the bytes)."""
    return int(_shift(np.array([crc_a], np.uint32), len_b)[0]) ^ crc_b


@functools.lru_cache(maxsize=None)
def _word_tables() -> np.ndarray:
    """Byte-sliced tables of the linear part of the CRC32C of a 4-byte little-endian word."""
    k4 = google_crc32c.value(b"\0" * 4)
    return _tables(np.array([google_crc32c.value(struct.pack("<I", int(b))) ^ k4 for b in _BITS], np.uint32))


def _unmask(masked: np.ndarray) -> np.ndarray:
    x = (masked - np.uint32(_MASK_DELTA)).astype(np.uint32)
    return (x << np.uint32(15)) | (x >> np.uint32(17))


_RADIX = 64  # blocks combined per folding step: one NumPy gather per step instead of six tree levels
_RADIX_OFFSETS = (np.arange(_RADIX * 4, dtype=np.intp) * 256).reshape(_RADIX, 4)


@functools.lru_cache(maxsize=16)
def _radix_tables(block: int) -> np.ndarray:
    """Flat byte-sliced tables (64 * 4 * 256): entry j shifts a CRC over (63 - j) blocks of `block` bytes."""
    step, cols = _shift8(block), _BITS
    out = np.empty((_RADIX, 4, 256), np.uint32)
    for j in range(_RADIX - 1, -1, -1):
        out[j] = _tables(cols)
        cols = _apply8(step, cols)
    return out.reshape(-1)


def _fold(rows: np.ndarray, block: int) -> np.ndarray:
    """Per row, the CRC of k blocks of `block` bytes laid end to end, from the k blocks' CRCs.

    Groups of 64 blocks are combined in one gather: crc(B0 + ... + B63) = XOR_j shift(crc(Bj), (63 - j) * block).
    """
    rows = np.asarray(rows, np.uint32)
    while rows.shape[-1] > 1:
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
    const = int(_shift(np.array([google_crc32c.value(header)], np.uint32), length + FOOTER_BYTES)[0]) ^ k4
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


@functools.lru_cache(maxsize=None)
def _merge_tables() -> np.ndarray:
    """16-bit tables of word^-1 . shift(4): folds a record's stored data CRC into its footer word."""
    word_inverse = _tables(_invert(_apply8(_word_tables(), _BITS)))
    return _wide(_tables(_apply8(word_inverse, _apply8(_shift8(FOOTER_BYTES), _BITS))))


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
    claimed = _unmask(footers)
    t = _merge_tables()
    merged = np.take(t[0], claimed & 0xFFFF) ^ np.take(t[1], claimed >> 16) ^ footers
    folded = _apply8(_word_tables(), np.uint32(_fold(merged, length + FRAMING_BYTES)))
    return int(folded) ^ _run_constant(length, len(footers))
