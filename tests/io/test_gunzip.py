"""gunzip: the same bytes and the same kinds of errors as gzip.decompress, with zlib and with ISA-L."""
import gzip
import zlib

import pytest

from tfrec.io import gunzip as gunzip_module
from tfrec.io.gunzip import gunzip

try:
    from isal import isal_zlib
except ImportError:  # the `fast` extra; the dev extra installs it
    isal_zlib = None

INFLATERS = [zlib] + ([isal_zlib] if isal_zlib else [])
DATA = bytes(range(256)) * 300
GOOD = gzip.compress(DATA, mtime=0)


def test_backend_is_isal_when_installed():
    assert gunzip_module.BACKEND == ("isal" if isal_zlib else "zlib")


@pytest.mark.parametrize("inflater", INFLATERS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("stream", [GOOD, GOOD + GOOD, GOOD + b"\0" * 8 + GOOD, b"", gzip.compress(b"", mtime=0)],
                         ids=["one member", "two members", "zero padding", "empty file", "empty member"])
def test_same_bytes_as_gzip(inflater, stream):
    assert gunzip(stream, inflater) == gzip.decompress(stream)


@pytest.mark.parametrize("inflater", INFLATERS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("stream, error, match", [
    (GOOD[:-20], EOFError, "ended before"),
    (GOOD[:-3], EOFError, "ended before"),
    (GOOD[:-8] + b"\0\0\0\0" + GOOD[-4:], gzip.BadGzipFile, "damaged"),  # CRC32
    (GOOD[:-4] + b"\0\0\0\0", gzip.BadGzipFile, "damaged"),  # length
    (GOOD[:30] + b"\xff" * 10 + GOOD[40:], gzip.BadGzipFile, "damaged"),
    (GOOD + b"xyz", gzip.BadGzipFile, "3 bytes after the end"),
    (b"hello", gzip.BadGzipFile, "not gzip"),
], ids=["truncated", "no trailer", "bad crc", "bad length", "bad deflate data", "trailing garbage", "not gzip"])
def test_errors_are_gzips_own(inflater, stream, error, match):
    with pytest.raises(error, match=match):
        gunzip(stream, inflater)
    with pytest.raises((EOFError, OSError, zlib.error)):  # gzip.decompress fails on each one too
        gzip.decompress(stream)
