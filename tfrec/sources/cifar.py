"""CIFAR-10 and CIFAR-100 binary versions: folders or the .tar.gz archives as downloaded. Never pickles."""
from __future__ import annotations

import contextlib
import os
import re
import tarfile

import numpy as np

from ..errors import SourceError
from ..io.gunzip import INFLATE_ERRORS, open_gzip
from ..codec.schema import load_schema
from .model import SourceData, SourceOptions, SplitData, content_id
from ._checks import check_regular, open_regular, refuse_unlistable

_PIXELS = 32 * 32 * 3
_PICKLE_HINT = (
    "is CIFAR's 'python version', which is pickle data; tfrec never unpickles (it can run code). "
    "Download the binary version instead (cifar-10-binary.tar.gz / cifar-100-binary.tar.gz)"
)


def _read_into_one_buffer(paths: dict[str, str]) -> dict[str, np.ndarray]:
    """Reads files back to back into one buffer; returns name -> view (adjacent files can be joined free)."""
    for p in paths.values():
        check_regular(p)  # before their sizes are added up: a FIFO's 0 bytes would block its read
    sizes = {name: os.path.getsize(p) for name, p in paths.items()}
    buf = np.empty(sum(sizes.values()), np.uint8)
    out, offset = {}, 0
    for name, p in paths.items():
        view = buf[offset : offset + sizes[name]]
        with open_regular(p) as f:
            got = f.readinto(memoryview(view))
        if got != sizes[name]:
            raise SourceError(f"{p}: file changed while it was read ({got} of {sizes[name]} bytes)")
        out[name] = view
        offset += sizes[name]
    return out


def _joined(parts: list) -> np.ndarray | bytes:
    """The parts as one buffer: a free view when they already lie back to back, else a copy."""
    arrays = [p if isinstance(p, np.ndarray) else np.frombuffer(p, np.uint8) for p in parts]
    if len(arrays) == 1:
        return arrays[0]
    base = arrays[0].base
    adjacent = base is not None and all(
        a.base is base and a.__array_interface__["data"][0] == b.__array_interface__["data"][0] + b.nbytes
        for b, a in zip(arrays, arrays[1:])
    )
    if adjacent:
        start = arrays[0].__array_interface__["data"][0] - base.__array_interface__["data"][0]
        return base[start : start + sum(a.nbytes for a in arrays)]
    return np.concatenate(arrays)


def _load_files(path: str, wanted) -> tuple[dict[str, np.ndarray | bytes], dict[str, str]]:
    """Reads the CIFAR files whose base names `wanted(name)` accepts, from a folder tree or a .tar.gz.

    Returns:
        (base name -> bytes, base name -> where it was read: the file's path, or ARCHIVE:MEMBER).
    """
    found: dict[str, str] = {}
    archives = []
    if not os.path.isdir(path):  # an archive (or a FIFO named like one, refused when opened)
        archives = [path]
    else:
        for root, dirs, files in os.walk(path, onerror=refuse_unlistable):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                if name in ("data_batch_1", "test_batch", "train", "test") and not name.endswith(".bin"):
                    raise SourceError(f"{full} {_PICKLE_HINT}")
                if name.endswith((".tar.gz", ".tgz")):
                    archives.append(full)
                elif wanted(name) and name not in found:
                    found[name] = full
    if found:
        order = sorted(found, key=lambda n: (not n.startswith("data_batch_"), _batch_order(n), n))
        return _read_into_one_buffer({n: found[n] for n in order}), found
    loaded: dict[str, bytes] = {}
    where: dict[str, str] = {}
    for archive in archives:
        if "python" in os.path.basename(archive):
            raise SourceError(f"{archive} {_PICKLE_HINT}")
        try:
            with _open_archive(archive) as tar:
                total = 0
                for member in tar:
                    name = os.path.basename(member.name)
                    if member.isfile() and wanted(name) and name not in loaded:  # the first of a name, as in folders
                        total += _check_member(archive, member, name, total)
                        loaded[name] = tar.extractfile(member).read()
                        where[name] = f"{archive}:{member.name}"
                    elif member.isfile() and name in ("data_batch_1", "test_batch", "train", "test"):
                        raise SourceError(f"{archive}: member {member.name} {_PICKLE_HINT}")
        except (tarfile.TarError, OSError, EOFError, *INFLATE_ERRORS) as e:
            raise SourceError(f"{archive}: not a readable .tar.gz archive: {e}") from e
    return loaded, where


# The largest each member of a CIFAR archive can be (the official files' sizes), checked from the
# member's tar header before it is read: a small .tar.gz can declare and hold gigabytes of zeros.
_MEMBER_LIMITS = (
    (r"(data_batch_\d+|test_batch)\.bin", "CIFAR-10 batch file (10,000 records)", 10_000 * 3073),
    (r"train\.bin", "CIFAR-100 train.bin (50,000 records)", 50_000 * 3074),
    (r"test\.bin", "CIFAR-100 test.bin (10,000 records)", 10_000 * 3074),
    (r".*\.txt", "CIFAR label names file", 1 << 20),
)
_ARCHIVE_LIMIT = 60_000 * 3074 + (2 << 20)  # a whole CIFAR dataset: 60,000 records and its name files
_EXTRACT_HINT = "extract the archive and give its folder to read larger files"


def _check_member(archive: str, member: tarfile.TarInfo, name: str, total: int) -> int:
    """The member's size, refused (SourceError) past what such a CIFAR file, or the whole archive, can hold."""
    what, limit = next(((w, n) for pattern, w, n in _MEMBER_LIMITS if re.fullmatch(pattern, name)),
                       ("CIFAR file", _ARCHIVE_LIMIT))
    if member.size > limit:
        raise SourceError(f"{archive}: member {member.name} is {member.size} bytes; a {what} holds at most "
                          f"{limit} bytes; {_EXTRACT_HINT}")
    if total + member.size > _ARCHIVE_LIMIT:
        raise SourceError(f"{archive}: its CIFAR members add up to more than {_ARCHIVE_LIMIT} bytes (the 60,000 "
                          f"records of a CIFAR dataset) at member {member.name}; {_EXTRACT_HINT}")
    return member.size


@contextlib.contextmanager
def _open_archive(path: str):
    """The archive as a tarfile: a gzipped one through tfrec's fastest gzip reader, others as tarfile detects them."""
    with open_regular(path) as f:
        gzipped = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if not gzipped:
            with tarfile.open(fileobj=f, mode="r:*") as tar:
                yield tar
            return
        with open_gzip(f) as stream, tarfile.open(fileobj=stream, mode="r:") as tar:
            yield tar
            # tarfile stops at the tar's end marker: read on to the gzip trailer, so that its CRC-32 and
            # length are checked (content that inflates but is not what was written raises here)
            while stream.read(1 << 20):
                pass


def _records(name: str, data: bytes, label_bytes: int, num_classes: tuple[int, ...]) -> tuple[np.ndarray, list]:
    size = label_bytes + _PIXELS
    if not len(data):
        raise SourceError(f"{name}: empty (0 bytes); a CIFAR file holds {size}-byte records, and there is nothing to convert")
    if len(data) % size:
        other = 3074 if label_bytes == 1 else 3073
        hint = ""
        if len(data) % other == 0:
            hint = f"; it is a whole number of {other}-byte records: is it CIFAR-{'100' if label_bytes == 1 else '10'}?"
        raise SourceError(
            f"{name}: {len(data)} bytes is not a whole number of {size}-byte records "
            f"({len(data) // size} records and {len(data) % size} bytes over; cut mid-record?){hint}"
        )
    rows = np.frombuffer(data, np.uint8).reshape(-1, size)
    labels = [rows[:, i].astype(np.int64) for i in range(label_bytes)]
    for i, (lab, n) in enumerate(zip(labels, num_classes)):
        bad = np.flatnonzero(lab >= n)
        if bad.size:
            r = int(bad[0])
            raise SourceError(
                f"{name}: record {r} (byte offset {r * size + i}) has label {int(lab[r])}, but there are only "
                f"{n} classes{'; is this CIFAR-100 data read as CIFAR-10?' if label_bytes == 1 else ''}"
            )
    # The 3072 pixel bytes are the R, G and B planes, each 32x32 row-major: seen as HxWxC. A view,
    # not a copy: the converter gathers records in shard order from it, transposing on the way.
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _names(data) -> list[str] | None:
    if data is None:
        return None
    return [line.strip() for line in bytes(data).decode("utf-8", "replace").splitlines() if line.strip()]


def _batch_order(name: str) -> int:
    m = re.search(r"(\d+)", name)
    return int(m.group(1)) if m else 0


def read_cifar10(path: str, options: SourceOptions) -> SourceData:
    """Reads CIFAR-10's data_batch_N.bin (train) and test_batch.bin (test) with batches.meta.txt.

    Raises:
        SourceError: a file that is not a whole number of 3073-byte records, labels over 9, no files.
    """
    files, where = _load_files(path, lambda n: re.fullmatch(r"data_batch_\d+\.bin|test_batch\.bin|batches\.meta\.txt", n))
    train = sorted((n for n in files if n.startswith("data_batch_")), key=_batch_order)
    splits = {}
    for split, names in (("train", train), ("test", ["test_batch.bin"] if "test_batch.bin" in files else [])):
        if not names:
            continue
        for n in names:
            _records(where[n], files[n], 1, (10,))  # checks each file, naming it
        data = _joined([files[n] for n in names])
        images, (labels,) = _records(path, data, 1, (10,))
        splits[split] = SplitData(
            split, labels, {"image": images, "label": labels}, source_bytes=len(data), content_id=content_id(data)
        )
    if not splits:
        if _load_files(path, lambda n: n in ("train.bin", "test.bin"))[0]:
            raise SourceError(f"{path}: looks like CIFAR-100 (train.bin, test.bin); use --format cifar100")
        raise SourceError(f"{path}: no CIFAR-10 binary files (data_batch_N.bin, test_batch.bin) or cifar-10-binary.tar.gz")
    schema = options.schema or load_schema("cifar10")
    names = _names(files.get("batches.meta.txt"))
    if names and len(names) == 10:
        schema = schema.with_class_names(names)
    return SourceData("cifar10", f"CIFAR-10 binary version from {os.path.abspath(path)}", schema, splits)


def read_cifar100(path: str, options: SourceOptions) -> SourceData:
    """Reads CIFAR-100's train.bin and test.bin (coarse and fine label bytes) with the label name files.

    Raises:
        SourceError: a file that is not a whole number of 3074-byte records, labels out of range, no files.
    """
    files, where = _load_files(path, lambda n: n in ("train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"))
    splits = {}
    for split in ("train", "test"):
        name = f"{split}.bin"
        if name in files:
            images, (coarse, fine) = _records(where[name], files[name], 2, (20, 100))
            splits[split] = SplitData(
                split, fine, {"image": images, "label": fine, "coarse_label": coarse},
                source_bytes=len(files[name]), content_id=content_id(files[name]),
            )
    if not splits:
        raise SourceError(f"{path}: no CIFAR-100 binary files (train.bin, test.bin) or cifar-100-binary.tar.gz")
    schema = options.schema or load_schema("cifar100")
    fine, coarse = _names(files.get("fine_label_names.txt")), _names(files.get("coarse_label_names.txt"))
    if fine and len(fine) == 100:
        schema = schema.with_class_names(fine)
    if coarse and len(coarse) == 20:
        schema = schema.with_class_names(coarse, feature="coarse_label")
    return SourceData("cifar100", f"CIFAR-100 binary version from {os.path.abspath(path)}", schema, splits)
