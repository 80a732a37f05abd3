"""Paths that may be URLs: one filesystem layer (fsspec) for gs://, s3://, memory://; local paths stay on os.

Why fsspec, and why also inside Beam workers (rather than Beam's own `FileSystems`): the local
runner, the Beam workers, `verify`, `inspect` and the reader all go through these few functions,
so a shard is written, published and checked by one code path whichever runs it. fsspec covers
more stores than Beam's FileSystems (memory:// for tests, any fsspec protocol), works without
Beam installed, and Beam's FileSystems has no atomic "publish under the final name" either.

Local paths (no `scheme://`, or file://) never touch fsspec: `open`, `os.replace`, `os.pread`
stay the fast paths they were. A URL goes through fsspec, imported only then.

Atomic publish on object stores: a rename there is a copy and a delete, so writers write the
whole object under a hidden temporary name (`.NAME.tmp-PID`, which no shard glob matches) and
only then move it to its final name; an object appears under its final name complete or not
at all. `dataset.json` is still published last.
"""
from __future__ import annotations

import builtins
import glob as _glob
import hashlib
import os
import posixpath
import shutil
import tempfile
from typing import IO, Any

from ..errors import TfrecError

# Which extra installs the filesystem for a protocol (the rest are fsspec's built-ins or plugins).
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


def is_url(path: Any) -> bool:
    """True for `scheme://...` paths other than file:// (and not Windows drive letters)."""
    text = str(path)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.isidentifier() and scheme != "file"


def protocol(path: str) -> str:
    """The URL scheme ('s3', 'gs', 'memory'), or 'file' for a local path."""
    return str(path).partition("://")[0] if is_url(path) else "file"


def _local(path: Any) -> str:
    text = str(path)
    return text[len("file://"):] if text.startswith("file://") else text


def filesystem(url: str):
    """The fsspec filesystem for a URL and the path inside it.

    Raises:
        TfrecError: fsspec, or the protocol's package, is not installed (the message names the extra).
    """
    proto = protocol(url)
    extra = EXTRAS.get(proto)
    try:
        import fsspec

        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        hint = f"pip install 'tfrec[{extra}]'" if extra else f"install the fsspec filesystem for {proto}://"
        raise TfrecError(f"{url}: reading {proto}:// paths needs {hint} ({e})") from e
    except ValueError as e:  # fsspec: "Protocol not known"
        raise TfrecError(f"{url}: {e}") from e


def join(base: str, *names: str) -> str:
    """os.path.join for local paths, '/'-joined for URLs."""
    return posixpath.join(base, *names) if is_url(base) else os.path.join(base, *names)


def open(path: str, mode: str = "rb", **kwargs) -> IO:  # noqa: A001 - the module's verb
    """Opens a local path with the builtin open, a URL through fsspec."""
    if not is_url(path):
        return builtins.open(_local(path), mode, **kwargs)
    fs, inner = filesystem(path)
    return fs.open(inner, mode, **kwargs)


def _either(path: str, local, remote: str):
    """local(the path) for a local path, else the fsspec filesystem's method `remote` on the URL."""
    if not is_url(path):
        return local(_local(path))
    fs, inner = filesystem(path)
    return getattr(fs, remote)(inner)


def exists(path: str) -> bool:
    return _either(path, os.path.exists, "exists")


def isfile(path: str) -> bool:
    return _either(path, os.path.isfile, "isfile")


def isdir(path: str) -> bool:
    return _either(path, os.path.isdir, "isdir")


def getsize(path: str) -> int:
    return int(_either(path, os.path.getsize, "size"))


def listdir(path: str) -> list[str]:
    """The names (not paths) in a directory or under a URL prefix, sorted."""
    if not is_url(path):
        return sorted(os.listdir(_local(path)))
    fs, inner = filesystem(path)
    try:
        entries = fs.ls(inner, detail=False)
    except FileNotFoundError:
        return []
    return sorted({posixpath.basename(e.rstrip("/")) for e in entries} - {""})


def glob(pattern: str) -> list[str]:
    """Paths matching a glob, sorted (URLs come back as URLs)."""
    if not is_url(pattern):
        return sorted(_glob.glob(_local(pattern)))
    fs, inner = filesystem(pattern)
    proto = protocol(pattern)
    return sorted(f"{proto}://{p.lstrip('/')}" if proto != "memory" else f"memory://{p}" for p in fs.glob(inner))


def makedirs(path: str) -> None:
    """Creates a directory (object stores have none: a no-op there)."""
    if not is_url(path):
        os.makedirs(_local(path), exist_ok=True)
        return
    fs, inner = filesystem(path)
    fs.makedirs(inner, exist_ok=True)


def remove(path: str) -> None:
    """Deletes one file; a missing file is fine."""
    if not is_url(path):
        try:
            os.remove(_local(path))
        except FileNotFoundError:
            pass
        return
    fs, inner = filesystem(path)
    try:
        fs.rm_file(inner)
    except FileNotFoundError:
        pass


def rmdir(path: str) -> None:
    """Removes an empty directory (a directory marker on object stores); a missing one is fine."""
    try:
        if not is_url(path):
            os.rmdir(_local(path))
            return
        fs, inner = filesystem(path)
        if fs.exists(inner):
            fs.rmdir(inner)
    except FileNotFoundError:
        pass


def replace(src: str, dst: str) -> None:
    """Moves a complete file to its final name: os.replace locally, copy + delete on object stores."""
    if not is_url(dst):
        os.replace(_local(src), _local(dst))
        return
    fs, inner = filesystem(src)
    fs.mv(inner, filesystem(dst)[1])


def temp_name(path: str) -> str:
    """The hidden temporary name a file is written under before it is published: `.NAME.tmp-PID`."""
    head, base = (posixpath if is_url(path) else os.path).split(str(path))
    return join(head, f".{base}.tmp-{os.getpid()}")


def write_atomic(path: str, data: bytes) -> None:
    """Writes a whole file under its temporary name, then publishes it under `path`."""
    tmp = temp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
    replace(tmp, path)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def cache_dir() -> str:
    """Where remote datasets are copied for reading: remote/ in $TFREC_CACHE, else in ~/.cache/tfrec."""
    root = os.environ.get("TFREC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tfrec")
    return os.path.join(root, "remote")


def download(url: str, dest: str | None = None) -> str:
    """Copies a remote file or directory tree to a local directory; returns the local path.

    The copy lands in a temporary directory first and is moved into place complete, so a
    half-copied dataset is never mistaken for a cached one. Without `dest`, a fresh temporary
    directory is used (the caller removes it).

    Raises:
        TfrecError: the URL does not exist.
    """
    fs, inner = filesystem(url)
    if not fs.exists(inner):
        raise TfrecError(f"{url}: no such file or directory")
    parent = os.path.dirname(dest) if dest else None
    if parent:
        os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".tfrec-download-", dir=parent)
    name = posixpath.basename(inner.rstrip("/")) or "root"
    target = os.path.join(staging, name)
    if fs.isdir(inner):
        fs.get(inner.rstrip("/") + "/", target + "/", recursive=True)
    else:
        fs.get(inner, target)
    if dest is None:
        return target
    if os.path.exists(dest):
        shutil.rmtree(dest) if os.path.isdir(dest) else os.remove(dest)
    os.replace(target, dest)
    shutil.rmtree(staging, ignore_errors=True)
    return dest


def cached_copy(url: str) -> str:
    """A local copy of a remote tfrec dataset (or file) for readers that need local files.

    The cache key is the URL plus the remote dataset.json's bytes (or the file's size), so a
    dataset rewritten in place is copied again; an unchanged one is reused.
    """
    fs, inner = filesystem(url)
    manifest = posixpath.join(inner, "dataset.json")
    stamp = fs.cat_file(manifest) if fs.isfile(manifest) else str(fs.size(inner) if fs.isfile(inner) else "")
    key = hashlib.sha256(url.encode() + b"\0" + (stamp if isinstance(stamp, bytes) else stamp.encode())).hexdigest()[:16]
    dest = os.path.join(cache_dir(), key, posixpath.basename(inner.rstrip("/")) or "root")
    if not os.path.exists(dest):
        download(url, dest)
    return dest


def remap(obj: Any, old: str, new: str) -> Any:
    """`obj` with every string that mentions the local copy `old` pointing at `new` (the URL) instead.

    Walks strings, tuples, lists, dicts and dataclasses, so a report made on a local copy names
    the remote files the user asked about.
    """
    import dataclasses

    if isinstance(obj, str):
        return obj.replace(old, new)
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(remap(v, old, new) for v in obj)
    if isinstance(obj, dict):
        return {remap(k, old, new): remap(v, old, new) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: remap(getattr(obj, f.name), old, new) for f in dataclasses.fields(obj) if f.init}
        return dataclasses.replace(obj, **changes)
    return obj


def on_local_copies(fn, paths, *args, **kwargs):
    """Runs fn(paths, ...) with each URL in `paths` replaced by a fresh local copy; the result names the URLs.

    A fresh copy, not the read cache: `verify` and `inspect` must see the remote bytes as they are now.
    """
    staged, local = [], []
    try:
        for p in paths:
            if is_url(p):
                copy = download(str(p))
                staged.append((copy, str(p).rstrip("/")))
                local.append(copy)
            else:
                local.append(p)
        result = fn(local, *args, **kwargs)
        for copy, url in staged:
            result = remap(result, copy, url)
        return result
    finally:
        for copy, _ in staged:
            shutil.rmtree(os.path.dirname(copy), ignore_errors=True)
