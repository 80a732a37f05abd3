"""The framing scan of a GZIP or ZLIB TFRecord file: inflate in bounded pieces, push them to the scanner.

A damaged stream is scanned up to the bad byte, so verify reports every record before the damage
(as the skip-corrupt reader recovers them), then where decompression failed.
"""
from __future__ import annotations

import zlib

# Largest decompressed block taken from zlib per call: bounds memory on a decompression bomb.
INFLATE_CHUNK_BYTES = 16 << 20
INFLATE_INPUT_BYTES = 256 << 10


def scan_compressed(f, scanner, compression: str, size: int, summer, read_bytes: int) -> bool:
    """Inflates file f in bounded pieces into the FrameScanner; returns whether the stream ended cleanly."""
    inflater = zlib.decompressobj(31 if compression == "gzip" else 15)
    read = 0  # compressed bytes handed to the inflater so far
    raw = None
    while not scanner.stopped:
        raw = None  # see _scan_plain: free the last chunk before reading the next
        raw = f.read(read_bytes)
        if not raw:
            break
        summer.add(raw)
        for i in range(0, len(raw), INFLATE_INPUT_BYTES):
            data = raw[i : i + INFLATE_INPUT_BYTES]
            read += len(data)
            while data and not scanner.stopped:
                if inflater.eof:  # bytes after the end of a stream: another gzip member, or garbage
                    if compression != "gzip" or data[:2] != b"\x1f\x8b":
                        at = read - len(data)
                        return _fail(scanner, f"{size - at} bytes follow the end of the {compression} stream "
                                              f"(at compressed byte {at})")
                    inflater = zlib.decompressobj(31)
                before = inflater.copy()  # ~50 KB of state per call of up to 256 KiB input: cheap
                try:
                    scanner.push(inflater.decompress(data, INFLATE_CHUNK_BYTES))
                except zlib.error as e:
                    at = read - len(data) + _inflate_to_error(before, data, scanner)
                    return _fail(scanner, f"cannot decompress ({compression}) at compressed byte {at}: {e}")
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    if not inflater.eof and not scanner.stopped:
        return _fail(scanner, f"the {compression} stream ends early, after {read} compressed bytes (truncated file?)")
    scanner.close()
    return True


def _inflate_to_error(inflater, data: bytes, scanner) -> int:
    """After a zlib error, pushes everything zlib inflates before the bad byte; returns the bytes it took.

    zlib returns nothing from a call that fails, so the failed piece is fed again from a copy of the
    inflater taken before it, 4 KiB and then one byte at a time: the scanner then sees every record
    that lies before the damage (with a flipped bit in a gzip stream, often every record: only the
    stream's own CRC fails, at its end), as the skip-corrupt reader (tfrec.io.salvage) recovers them.
    """
    used = 0
    for step in (4096, 1):
        while used < len(data) and not scanner.stopped:
            trial = inflater.copy()
            try:
                out = trial.decompress(data[used : used + step])
            except zlib.error:
                break
            inflater = trial
            scanner.push(out)
            used += step
            if inflater.eof:
                return used - len(inflater.unused_data)
    return min(used, len(data))


def _fail(scanner, reason: str) -> bool:
    scanner.close()
    if not scanner.stopped:
        scanner.report(scanner.index, scanner.base, reason)
    return False
