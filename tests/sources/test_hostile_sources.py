"""Hostile source files (issue 23, items 1-9): sizes that overflow or lie, labels out of range,
files that are not regular, folders that cannot be listed, and decompression bombs under a memory cap.

Every fixture is built here at run time; the bombs are written in chunks, never held whole.
"""
from __future__ import annotations

import io
import math
import os
import re
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
import tracemalloc
import zipfile
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tfrec.demo import synth
from tfrec.errors import SourceError
from tfrec.io.gunzip import iter_gunzip
from tfrec.sources import SourceOptions
from tfrec.sources._checks import MAX_CLASS_ID, class_ids
from tfrec.sources.imagefolder import _WorkerOptions, make_image_record, read_image_folder
from tfrec.sources.mnist import read_idx
from tfrec.sources.npz import read_npz
from tfrec.write.convert import ConvertOptions, convert

QUIET = dict(progress=False, workers=1)
MiB = 1 << 20


def _idx(dims, payload: bytes = b"") -> bytes:
    return b"\x00\x00\x08" + bytes([len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def _gzip_zeros(path, head: bytes, zeros: int) -> None:
    """`head` then `zeros` zero bytes, gzipped and written in 1 MiB chunks (never held whole)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    block = bytes(MiB)
    with open(path, "wb") as f:
        f.write(comp.compress(head))
        for _ in range(zeros // MiB):
            f.write(comp.compress(block))
        f.write(comp.compress(bytes(zeros % MiB)))
        f.write(comp.flush())


def _mnist_folder(tmp_path, images: bytes, labels: bytes | None = None, gz: bool = False):
    """A folder with one train pair: the given images file and (by default) 10 good labels."""
    src = tmp_path / "mnist"
    src.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    (src / f"train-images-idx3-ubyte{suffix}").write_bytes(zlib.compress(images, wbits=31) if gz else images)
    (src / "train-labels-idx1-ubyte").write_bytes(labels if labels is not None else _idx((10,), bytes(10)))
    return src


def _fails(src, out, match, fmt="auto"):
    with pytest.raises(SourceError, match=match):
        convert(str(src), str(out), ConvertOptions(format=fmt, **QUIET))
    assert not os.path.exists(os.path.join(out, "dataset.json"))


# -- 1: IDX dimensions whose product passes 2^63 (or any size the file cannot hold)


@pytest.mark.parametrize("dims", [
    (1 << 22, 1 << 21, 1 << 21),          # 2^64: wrapped to 0 in int64
    (1 << 21, 1 << 21, 1 << 21),          # 2^63: wrapped negative
    (2**32 - 1, 2**32 - 1, 2**32 - 1),    # the largest an IDX header can say
    (3, 1 << 31, 1 << 31),
    (60000, 28, 28),                      # plausible, but not in a 16-byte file
], ids=["2^64", "2^63", "max", "3x2^62", "mnist-sized"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_dimensions_past_the_file_size_are_a_clean_error(tmp_path, dims, gz):
    src = _mnist_folder(tmp_path, _idx(dims), gz=gz)
    declared = 16 + math.prod(dims)
    if gz:
        match = rf"IDX header says dimensions {re.escape(str(dims))} \({declared} bytes with the header\), " \
                r"but a \d+-byte gzip file inflates to at most \d+ bytes"
    else:
        match = rf"IDX header says dimensions {re.escape(str(dims))} \({declared} bytes with the header\) " \
                r"but the file holds 16 bytes \(truncated\)"
    _fails(src, tmp_path / "o", "train-images-idx3-ubyte.*: " + match)


# -- 2: an IDX file declaring no images


@pytest.mark.parametrize("dims", [(0, 28, 28), (5, 0, 28), (5, 28, 0)])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_with_no_data_is_a_clean_error(tmp_path, dims, gz):
    src = _mnist_folder(tmp_path, _idx(dims), labels=_idx((dims[0],)), gz=gz)
    _fails(src, tmp_path / "o", rf"train-images-idx3-ubyte.*: IDX header says dimensions "
                                rf"{re.escape(str(dims))}, which hold no data")


def test_idx_labels_declaring_none_are_a_clean_error(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(_idx((0,)))
    with pytest.raises(SourceError, match=rf"{path}: IDX header says dimensions \(0,\), which hold no data \(0 items\)"):
        read_idx(str(path))


# -- 3, 7: labels checked in their own dtype (npz, Parquet; IDX labels are uint8 and always fit)

BAD_LABELS = [
    (np.uint64, 2**64 - 1), (np.uint64, 2**63), (np.int64, -1), (np.int64, -(2**63)),
    (np.int8, -128), (np.int32, -7),
]
GOOD_LABELS = [(np.uint64, 2), (np.uint64, 0), (np.uint8, 255), (np.int16, 3), (np.uint32, 2**31)]


def _dtype_id(v):
    return getattr(v, "__name__", str(v))


@pytest.mark.parametrize("dtype, value", BAD_LABELS, ids=lambda v: _dtype_id(v))
def test_class_ids_refuses_what_int64_cannot_hold_or_is_negative(dtype, value):
    labels = np.array([0, 1, value, 2], dtype=dtype)
    with pytest.raises(SourceError, match=rf"^where: record 2 has label {value} \({np.dtype(dtype).name}\); "
                                          rf"class ids must be 0 to {MAX_CLASS_ID} \(stored as int64\)"):
        class_ids(labels, "where")


@pytest.mark.parametrize("dtype, value", GOOD_LABELS, ids=lambda v: _dtype_id(v))
def test_class_ids_keeps_every_value_that_fits(dtype, value):
    labels = class_ids(np.array([1, value], dtype=dtype), "where")
    assert labels.dtype == np.int64 and labels.tolist() == [1, value]


def test_class_ids_names_the_first_bad_record_with_an_offset():
    with pytest.raises(SourceError, match=r"record 17 has label -1"):
        class_ids(np.array([5, -1, 3], np.int64), "where", first_row=16)


@pytest.mark.parametrize("dtype, value", BAD_LABELS, ids=lambda v: _dtype_id(v))
def test_npz_labels_out_of_range_are_refused(tmp_path, dtype, value):
    path = tmp_path / "a.npz"
    np.savez(path, x_train=np.zeros((3, 4, 4), np.uint8), y_train=np.array([0, value, 1], dtype=dtype))
    _fails(path, tmp_path / "o", rf"{path}: 'y_train': record 1 has label {value} \({np.dtype(dtype).name}\); "
                                 r"class ids must be 0 to")


@pytest.mark.parametrize("dtype, value", GOOD_LABELS[:3], ids=lambda v: _dtype_id(v))
def test_npz_labels_in_range_are_stored_as_they_are(tmp_path, dtype, value):
    from tfrec.codec.example import decode_example
    from tfrec.io import records
    from tfrec.io.dataset import open_dataset

    path = tmp_path / "a.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.array([value, 0], dtype=dtype))
    out = str(tmp_path / "o")
    convert(str(path), out, ConvertOptions(shuffle=False, **QUIET))
    rows = [decode_example(r.data) for p in open_dataset(out).shard_paths("train") for r in records.iter_records(p)]
    assert [r["label"][1][0] for r in rows] == [value, 0]


@pytest.mark.parametrize("arrow_type, value", [
    (pa.uint64(), 2**64 - 1), (pa.uint64(), 2**63), (pa.int64(), -5), (pa.int8(), -1),
], ids=["u64-max", "u64-2^63", "i64-neg", "i8-neg"])
@pytest.mark.parametrize("raw", [False, True], ids=["encoded", "raw-arrays"])
def test_parquet_labels_out_of_range_are_refused(tmp_path, arrow_type, value, raw):
    if raw:
        images = pa.array([[[1, 2], [3, 4]]] * 3, pa.list_(pa.list_(pa.uint8())))
    else:
        images = pa.array([b"\x89PNG not really"] * 3, pa.binary())
    table = pa.table({"image": images, "label": pa.array([1, value, 0], arrow_type)})
    path = tmp_path / "train.parquet"
    pq.write_table(table, path)
    _fails(path, tmp_path / "o", rf"{path}: column 'label': record 1 has label {value} \({arrow_type}\); "
                                 r"class ids must be 0 to")


def test_parquet_uint64_labels_in_range_convert(tmp_path):
    images = pa.array([[[1, 2], [3, 4]]] * 3, pa.list_(pa.list_(pa.uint8())))
    pq.write_table(pa.table({"image": images, "label": pa.array([0, 2, 1], pa.uint64())}), tmp_path / "train.parquet")
    result = convert(str(tmp_path / "train.parquet"), str(tmp_path / "o"), ConvertOptions(**QUIET))
    assert result["splits"]["train"]["records"] == 3
    assert result["schema"]["features"]["label"]["num_classes"] == 3


def test_parquet_with_no_rows_is_a_clean_error(tmp_path):
    images = pa.array([], pa.list_(pa.list_(pa.uint8())))
    pq.write_table(pa.table({"image": images, "label": pa.array([], pa.int64())}), tmp_path / "train.parquet")
    _fails(tmp_path / "train.parquet", tmp_path / "o", r"train.parquet: no rows")


# -- 4, 5: .npz members whose header promises more than the member holds


def _npy(array: np.ndarray, shape: tuple | None = None) -> bytes:
    """The .npy bytes of `array`, with the header's shape replaced by `shape` (the data left as it is)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    data = buf.getvalue()
    if shape is None:
        return data
    header_len = int.from_bytes(data[8:10], "little")
    header = data[10 : 10 + header_len].decode("latin1")
    header = re.sub(r"'shape': \([^)]*\)", f"'shape': {shape!r}", header)
    body = data[10 + header_len :]
    padded = header.rstrip("\n").rstrip(" ")
    total = 10 + len(padded) + 1
    padded += " " * (-total % 64) + "\n"
    return data[:8] + len(padded).to_bytes(2, "little") + padded.encode("latin1") + body


def _zip(path, members: dict[str, bytes], compression: int) -> None:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


COMPRESSIONS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["stored", "deflated"])
@pytest.mark.parametrize("shape", [(8, 6, 5), (4, 6, 6), (5, 6, 5)])
def test_npz_member_promising_more_bytes_than_it_holds(tmp_path, compression, shape):
    path = tmp_path / "a.npz"
    x = _npy(np.zeros((4, 6, 5), np.uint8), shape=shape)
    _zip(path, {"x_train.npy": x, "y_train.npy": _npy(np.zeros(4, np.int64))}, compression)
    need = math.prod(shape)
    _fails(path, tmp_path / "o", rf"{path}: member 'x_train.npy' declares shape {re.escape(str(shape))} uint8 "
                                 rf"\({need} bytes of data\) but holds {4 * 6 * 5} bytes")


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["stored", "deflated"])
@pytest.mark.parametrize("shape, dtype", [((10**6, 1000, 1000), np.uint8), ((2**40,), np.int64),
                                          ((2**62, 2**62), np.uint8)])
def test_npz_member_claiming_a_huge_shape_is_refused_before_reading(tmp_path, compression, shape, dtype):
    path = tmp_path / "a.npz"
    is_x = dtype == np.uint8
    member = _npy(np.zeros(10, dtype) if not is_x else np.zeros((1, 2, 2), dtype), shape=shape)
    other = _npy(np.zeros(10, np.int64)) if is_x else _npy(np.zeros((10, 2, 2), np.uint8))
    name = "x_train.npy" if is_x else "y_train.npy"
    _zip(path, {name: member, ("y_train.npy" if is_x else "x_train.npy"): other}, compression)
    assert path.stat().st_size < 2000
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=rf"{path}: member '{name}' declares shape {re.escape(str(shape))}"):
            read_npz(str(path), SourceOptions())
        assert tracemalloc.get_traced_memory()[1] < 4 * MiB
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["stored", "deflated"])
def test_npz_zip_entry_lying_about_its_size_is_refused(tmp_path, compression):
    # The central directory's uncompressed size says 2 GiB; the header matches it; the data is 200 bytes.
    path = tmp_path / "a.npz"
    member = _npy(np.zeros((1, 2, 2), np.uint8), shape=(2**31 // 4, 2, 2))
    _zip(path, {"x_train.npy": member, "y_train.npy": _npy(np.zeros(1, np.int64))}, compression)
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")  # the first central directory entry: x_train.npy
    data[at + 24 : at + 28] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    _fails(path, tmp_path / "o", rf"{path}: member 'x_train.npy' says it inflates to 2147483647 bytes but stores "
                                 r"\d+ (compressed )?bytes")


def test_npz_member_damaged_mid_data_is_a_clean_error(tmp_path):
    # The sizes agree, but the stored bytes fail the zip's CRC: the read error names the member.
    path = tmp_path / "a.npz"
    x = np.zeros((3, 64, 64), np.uint8)
    x[-1, -1, -8:] = range(1, 9)  # a mark near the end of the data, past what reading the header takes
    _zip(path, {"x_train.npy": _npy(x), "y_train.npy": _npy(np.zeros(3, np.int64))}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.index(bytes(range(1, 9)))
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    _fails(path, tmp_path / "o", rf"{path}: cannot read member 'x_train.npy': .*CRC")


@pytest.mark.parametrize("key", ["x_train", "y_train"])
def test_npz_with_no_records_is_a_clean_error(tmp_path, key):
    path = tmp_path / "a.npz"
    arrays = {"x_train": np.zeros((0, 4, 4), np.uint8), "y_train": np.zeros(0, np.int64)}
    np.savez(path, **arrays)
    _fails(path, tmp_path / "o", rf"{path}: 'x_train' holds 0 images")


# -- 6: files that are not regular files are never opened for a blocking read


class _Unblocker:
    """While running, opens any FIFO in `paths` for writing the moment a reader blocks on it, and closes it
    at once (the reader sees end of file). A reader that wrongly opens a FIFO therefore fails the test's
    assertions instead of hanging it; a reader that never opens one leaves `unblocked` empty."""

    def __init__(self, *paths):
        self.paths, self.unblocked, self.stop = [str(p) for p in paths], [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.02):
            for p in self.paths:
                try:
                    fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while no reader has it open
                except OSError:
                    continue
                os.close(fd)
                self.unblocked.append(p)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _image_folder(tmp_path):
    synth.write_image_folder(tmp_path / "src", n_per_class=2, seed=0, num_classes=2, size=8)
    return tmp_path / "src"


def _first_class(src):
    return sorted(p for p in src.iterdir() if p.is_dir())[0]


def test_a_fifo_in_a_class_folder_is_skipped_with_its_reason(tmp_path):
    src = _image_folder(tmp_path)
    special = _first_class(src) / "x.jpg"
    os.mkfifo(special)
    with _Unblocker(special) as watch:
        result = convert(str(src), str(tmp_path / "o"), ConvertOptions(**QUIET))
    assert watch.unblocked == []
    rel = os.path.relpath(special, src)
    assert {"path": rel, "reason": "not a regular file (FIFO); only regular files are read"} in result["skipped"]
    assert result["splits"]["train"]["records"] == 4


def test_a_device_in_a_class_folder_is_skipped_when_listed(tmp_path):
    # Listing only (no convert): before the fix a worker read /dev/zero without end, until the
    # machine ran out of memory, so this must fail at the listing, never by running the conversion.
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    src = _image_folder(tmp_path)
    special = _first_class(src) / "z.png"
    os.symlink("/dev/zero", special)  # followed with --follow-symlinks
    source = read_image_folder(str(src), SourceOptions(follow_symlinks=True))
    assert all(item[0] != str(special) for split in source.splits.values() for item in split.items)
    rel = os.path.relpath(special, src)
    assert {"path": rel, "reason": "not a regular file (character device); only regular files are read"} in source.skipped


def test_open_regular_refuses_devices_and_folders(tmp_path):
    from tfrec.sources._checks import open_regular

    for path, what in [("/dev/zero", "character device"), (str(tmp_path), "directory")]:
        if os.path.exists(path):
            with pytest.raises(SourceError, match=rf"^{re.escape(path)}: not a regular file \({what}\)"):
                open_regular(path)
    with pytest.raises(SourceError, match=r"missing: cannot read: No such file"):
        open_regular(str(tmp_path / "missing"))


def test_a_worker_handed_a_fifo_does_not_block(tmp_path):
    # The listing skips non-regular files; a file swapped for a FIFO after listing must not block either.
    fifo = tmp_path / "late.png"
    os.mkfifo(fifo)
    src = _image_folder(tmp_path)
    source = read_image_folder(str(src), SourceOptions())
    with _Unblocker(fifo) as watch:
        record, reason, _ = make_image_record((str(fifo), "late.png", 0, 0), source.make_record.keywords["options"])
    assert (record, reason, watch.unblocked) == (None, "not a regular file (FIFO); only regular files are read", [])


def _fifo_sources(tmp_path):
    """A FIFO under each name a reader opens: an IDX file, a CIFAR batch and archive, a Parquet file, an .npz."""
    mn = tmp_path / "mnist"
    synth.write_mnist(mn, n_train=10, n_test=5, seed=0)
    os.remove(mn / "train-images-idx3-ubyte")
    os.mkfifo(mn / "train-images-idx3-ubyte")
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    os.mkfifo(cifar / "data_batch_1.bin")
    pqdir = tmp_path / "pq"
    pqdir.mkdir()
    os.mkfifo(pqdir / "train.parquet")
    os.mkfifo(tmp_path / "a.npz")
    os.mkfifo(tmp_path / "cifar-10-binary.tar.gz")
    archive = tmp_path / "cifar-10-binary.tar.gz"
    return [(mn, "mnist", mn / "train-images-idx3-ubyte"), (cifar, "cifar10", cifar / "data_batch_1.bin"),
            (archive, "cifar10", archive),
            (pqdir, "parquet", pqdir / "train.parquet"), (tmp_path / "a.npz", "npz", tmp_path / "a.npz")]


def test_a_fifo_named_like_a_source_file_is_refused_without_blocking(tmp_path):
    for i, (src, fmt, fifo) in enumerate(_fifo_sources(tmp_path)):
        with _Unblocker(fifo) as watch:
            for how in (fmt, "auto"):
                _fails(src, tmp_path / f"o{i}", rf"{fifo}: not a regular file \(FIFO\); tfrec reads only regular files",
                       fmt=how)
        assert watch.unblocked == [], fmt


# -- 9: a subfolder that cannot be listed is reported, not dropped


def _deny_listing(monkeypatch, denied):
    """os.walk lists folders with os.scandir: make it fail for `denied` as a permission error would.
    (The tests run as root, where chmod 000 denies nothing; the unprivileged test below uses chmod.)"""
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) == os.path.abspath(denied):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def _nested(src):
    cls = _first_class(src)
    inner = cls / "private"
    inner.mkdir()
    (inner / "a.jpg").write_bytes(sorted(cls.glob("*.jpg"))[0].read_bytes())
    return cls, inner


def test_an_unlistable_subfolder_is_a_skipped_entry_with_its_reason(tmp_path, monkeypatch):
    src = _image_folder(tmp_path)
    _, inner = _nested(src)
    _deny_listing(monkeypatch, inner)
    result = convert(str(src), str(tmp_path / "o"), ConvertOptions(**QUIET))
    rel = os.path.relpath(inner, src)
    assert {"path": rel, "reason": "cannot list folder: Permission denied"} in result["skipped"]
    assert result["splits"]["train"]["records"] == 4


def test_an_unlistable_class_folder_is_reported(tmp_path, monkeypatch):
    src = _image_folder(tmp_path)
    cls = _first_class(src)
    _deny_listing(monkeypatch, cls)
    result = convert(str(src), str(tmp_path / "o"), ConvertOptions(**QUIET))
    assert {"path": cls.name, "reason": "cannot list folder: Permission denied"} in result["skipped"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root lists any folder: chmod 000 denies nothing")
def test_an_unreadable_subfolder_really_denied_is_reported(tmp_path):
    src = _image_folder(tmp_path)
    _, inner = _nested(src)
    os.chmod(inner, 0)
    try:
        try:
            os.listdir(inner)
            pytest.skip("chmod 000 does not deny listing here")
        except PermissionError:
            pass
        result = convert(str(src), str(tmp_path / "o"), ConvertOptions(**QUIET))
    finally:
        os.chmod(inner, stat.S_IRWXU)
    assert {"path": os.path.relpath(inner, src), "reason": "cannot list folder: Permission denied"} in result["skipped"]


@pytest.mark.parametrize("fmt", ["cifar10", "parquet"])
def test_an_unlistable_folder_in_other_sources_is_an_error(tmp_path, monkeypatch, fmt):
    src = tmp_path / "src"
    if fmt == "cifar10":
        synth.write_cifar10(src, n_train=10, n_test=5, seed=0, archive=False)
    else:
        pq.write_table(pa.table({"image": pa.array([[[1]]], pa.list_(pa.list_(pa.uint8()))),
                                 "label": pa.array([0])}), (src.mkdir() or src) / "train.parquet")
    inner = src / "more"
    inner.mkdir()
    _deny_listing(monkeypatch, inner)
    _fails(src, tmp_path / "o", rf"{inner}: cannot list folder: Permission denied", fmt=fmt)


# -- 8: decompression bombs: the header is read first and bounds what is inflated


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _raises_source_error(fn, match):
    def run():
        with pytest.raises(SourceError, match=match):
            fn()
    return run


def test_a_gzip_bomb_that_is_no_idx_is_refused_from_its_header(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_zeros(path, b"", 64 * MiB)
    peak = _peak_bytes(_raises_source_error(lambda: read_idx(str(path)), rf"{path}: unknown IDX type code 0x00"))
    assert peak < 4 * MiB, peak  # a few inflated chunks, not 64 MiB


def test_a_gzip_idx_inflating_past_its_header_stops_at_the_header_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_zeros(path, _idx((10, 28, 28)), 64 * MiB)
    match = rf"{path}: IDX header says dimensions \(10, 28, 28\) \(7856 bytes with the header\) but the file " \
            r"inflates to more than that \(trailing bytes\)"
    peak = _peak_bytes(_raises_source_error(lambda: read_idx(str(path)), match))
    assert peak < 4 * MiB, peak


def test_a_gzip_idx_inflating_short_of_its_header_is_truncated(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_zeros(path, _idx((10, 28, 28)), 1000)
    with pytest.raises(SourceError, match=r"\(7856 bytes with the header\) but the file inflates to 1016 bytes \(truncated\)"):
        read_idx(str(path))


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_still_reads_good_files(tmp_path, gz):
    images = np.arange(3 * 5 * 7, dtype=np.uint8).reshape(3, 5, 7)
    path = synth.write_idx(tmp_path / ("i.gz" if gz else "i"), images, gzip=gz)
    out = read_idx(path)
    assert out.shape == (3, 5, 7) and np.array_equal(out, images)


GZ = zlib.compress(bytes(range(256)) * 40, wbits=31)


@pytest.mark.parametrize("stream", [b"", GZ, GZ + b"\0\0" + GZ, zlib.compress(b"", wbits=31)],
                         ids=["empty file", "one member", "two members", "empty member"])
@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
def test_iter_gunzip_bounds_each_piece(stream, piece):
    import gzip

    pieces = list(iter_gunzip(io.BytesIO(stream), piece))
    assert b"".join(pieces) == gzip.decompress(stream)
    assert all(0 < len(p) <= piece for p in pieces)


@pytest.mark.parametrize("damage, error, match", [
    (lambda g: g[:-3], EOFError, "ended before"),
    (lambda g: g[:-8] + b"\0\0\0\0" + g[-4:], OSError, "damaged"),
    (lambda g: g + b"xyz", OSError, "after the end of the gzip data"),
])
def test_iter_gunzip_errors_match_gunzip(damage, error, match):
    from tfrec.io.gunzip import gunzip

    stream = damage(zlib.compress(b"abc" * 1000, wbits=31))
    with pytest.raises(error, match=match):
        list(iter_gunzip(io.BytesIO(stream), 64))
    with pytest.raises(error, match=match):
        gunzip(stream)


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read in pieces: what tarfile.addfile streams into an archive."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def _cifar_bomb(path, member: str, size: int) -> None:
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), MiB))


@pytest.mark.parametrize("member, size, what, limit", [
    ("data_batch_1.bin", 3073 * 21000, "CIFAR-10 batch file (10,000 records)", 3073 * 10000),
    ("test_batch.bin", 3073 * 10001, "CIFAR-10 batch file (10,000 records)", 3073 * 10000),
    ("batches.meta.txt", 2 * MiB, "CIFAR label names file", 1 * MiB),
])
def test_a_cifar_archive_member_larger_than_cifar_files_is_refused_from_its_header(tmp_path, member, size, what, limit):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    _cifar_bomb(archive, member, size)
    match = rf"{archive}: member cifar-10-batches-bin/{member} is {size} bytes; a {re.escape(what)} holds at most " \
            rf"{limit} bytes; extract the archive and give its folder to read larger files"
    peak = _peak_bytes(_raises_source_error(lambda: convert(str(archive), str(tmp_path / "o"), ConvertOptions(**QUIET)),
                                            match))
    assert peak < 8 * MiB, peak


def test_a_cifar_archive_adding_up_past_a_cifar_dataset_is_refused(tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for i in range(1, 8):  # 7 full batches: 70,000 records, 10,000 more than CIFAR-10 has
            info = tarfile.TarInfo(f"cifar-10-batches-bin/data_batch_{i}.bin")
            info.size = 3073 * 10000
            tar.addfile(info, io.BufferedReader(_Zeros(info.size), MiB))
    with pytest.raises(SourceError, match=rf"{archive}: its CIFAR members add up to more than \d+ bytes \(the 60,000 "
                                          r"records of a CIFAR dataset\) at member cifar-10-batches-bin/data_batch_7.bin"):
        convert(str(archive), str(tmp_path / "o"), ConvertOptions(**QUIET))


@pytest.mark.parametrize("name", ["test_batch.bin", "data_batch_1.bin"])
def test_an_empty_cifar_file_is_a_clean_error(tmp_path, name):
    synth.write_cifar10(tmp_path / "src", n_train=6, n_test=3, seed=0, batches=1)
    empty = next((tmp_path / "src").rglob(name))
    empty.write_bytes(b"")
    _fails(tmp_path / "src", tmp_path / "o", rf"{empty}: empty \(0 bytes\); a CIFAR file holds 3073-byte records")


def test_a_cifar_archive_repeating_a_member_reads_it_once(tmp_path):
    synth.write_cifar10(tmp_path / "src", n_train=6, n_test=3, seed=0, batches=1, archive=False)
    batch = next((tmp_path / "src").rglob("data_batch_1.bin"))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for top in ("a", "b"):
            tar.add(batch, f"{top}/data_batch_1.bin")
    result = convert(str(archive), str(tmp_path / "o"), ConvertOptions(**QUIET))
    assert result["splits"]["train"]["records"] == 6


# -- bounded memory: the bombs under an address-space cap, through the CLI, in a subprocess

_CAPPED = textwrap.dedent("""
    import resource, runpy, sys
    cap = int(sys.argv[1])
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    sys.argv = ["tfrec", "convert", *sys.argv[2:], "--quiet"]
    try:
        runpy.run_module("tfrec.cli", run_name="__main__")
    finally:
        if "tensorflow" in sys.modules:
            print("tensorflow was imported", file=sys.stderr)
        status = open("/proc/self/status").read()
        print("VmPeak", status.split("VmPeak:")[1].split()[0], file=sys.stderr)
""")
# One BLAS thread and two malloc arenas: the address space a process reserves then depends little
# on the machine's core count (each BLAS thread and arena reserves tens of MiB it may never touch).
_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2"}
BOMB_BYTES = 512 * MiB
CAP_MARGIN = 192 * MiB  # over what a tiny conversion reserves: well under what a bomb would need


def _capped(cap: int, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CAPPED, str(cap), *map(str, args)], env=_ENV,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """(source, what the error names) for each hostile case; built once, the gzip ones in chunks."""
    d = tmp_path_factory.mktemp("bombs")
    cases = {}
    gz = d / "gzip-bomb"
    gz.mkdir()
    _gzip_zeros(gz / "train-images-idx3-ubyte.gz", b"", BOMB_BYTES)
    (gz / "train-labels-idx1-ubyte").write_bytes(_idx((10,), bytes(10)))
    cases["gzip bomb (no IDX)"] = (gz, gz / "train-images-idx3-ubyte.gz")
    trailing = d / "gzip-trailing"
    trailing.mkdir()
    _gzip_zeros(trailing / "train-images-idx3-ubyte.gz", _idx((10, 28, 28)), BOMB_BYTES)
    (trailing / "train-labels-idx1-ubyte").write_bytes(_idx((10,), bytes(10)))
    cases["gzip IDX with 512 MiB of trailing bytes"] = (trailing, trailing / "train-images-idx3-ubyte.gz")
    huge = d / "idx-huge-dims"
    huge.mkdir()
    (huge / "train-images-idx3-ubyte").write_bytes(_idx((1 << 22, 1 << 21, 1 << 21)))
    (huge / "train-labels-idx1-ubyte").write_bytes(_idx((10,), bytes(10)))
    cases["IDX dims past 2^63"] = (huge, huge / "train-images-idx3-ubyte")
    claim = d / "idx-gzip-claims"
    claim.mkdir()
    (claim / "train-images-idx3-ubyte.gz").write_bytes(zlib.compress(_idx((2**31, 2**15, 2**15)), wbits=31))
    (claim / "train-labels-idx1-ubyte").write_bytes(_idx((10,), bytes(10)))
    cases["gzip IDX declaring 2^61 bytes"] = (claim, claim / "train-images-idx3-ubyte.gz")
    npz = d / "huge.npz"
    _zip(npz, {"x_train.npy": _npy(np.zeros((1, 2, 2), np.uint8), shape=(10**6, 1000, 1000)),
               "y_train.npy": _npy(np.zeros(10, np.int64))}, zipfile.ZIP_DEFLATED)
    cases["npz claiming 931 GiB"] = (npz, npz)
    cifar = d / "cifar-10-binary.tar.gz"
    _cifar_bomb(cifar, "data_batch_1.bin", 3073 * (BOMB_BYTES // 3073))
    cases["CIFAR archive with a 512 MiB member"] = (cifar, cifar)
    return cases


@pytest.fixture(scope="module")
def cap(tmp_path_factory):
    """The address-space cap: what converting a tiny good source reserves, plus CAP_MARGIN."""
    d = tmp_path_factory.mktemp("baseline")
    synth.write_mnist(d / "mnist", n_train=20, n_test=5, seed=0, gzip=True)
    run = _capped(0, d / "mnist", d / "out")
    assert run.returncode == 0, run.stderr
    assert "tensorflow was imported" not in run.stderr
    baseline = int(re.search(r"VmPeak (\d+)", run.stderr).group(1)) * 1024
    assert baseline + CAP_MARGIN < BOMB_BYTES, "the margin no longer separates a bomb from a normal run"
    good = _capped(baseline + CAP_MARGIN, d / "mnist", d / "out2")  # a good source converts under the cap
    assert good.returncode == 0, good.stderr
    return baseline + CAP_MARGIN


@pytest.mark.slow
@pytest.mark.parametrize("case", ["gzip bomb (no IDX)", "gzip IDX with 512 MiB of trailing bytes", "IDX dims past 2^63",
                                  "gzip IDX declaring 2^61 bytes", "npz claiming 931 GiB",
                                  "CIFAR archive with a 512 MiB member"])
def test_bombs_fail_cleanly_under_a_memory_cap(bombs, cap, tmp_path, case):
    src, named = bombs[case]
    run = _capped(cap, src, tmp_path / "out")
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert f"error: {named}: " in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr, run.stderr[-2000:]
    assert "tensorflow was imported" not in run.stderr
