"""`tfrec fetch`: the classic datasets' files from known URLs or a mirror, resumable, checked against pinned SHA-256.

Sizes and SHA-256 values are those tensorflow-datasets 4.9.10 pins in its
`tensorflow_datasets/url_checksums/{mnist,fashion_mnist,kmnist,cifar10,cifar100}.txt`; the primary
URLs are the ones listed there. The MNIST second URL is the mirror torchvision downloads from
(`https://ossci-datasets.s3.amazonaws.com/mnist/`). Class names for Fashion-MNIST and KMNIST are the
ones TFDS's `image_classification/mnist.py` declares. Only the standard library is used.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .._version import __version__
from ..errors import FetchError, TfrecError, UsageError

CACHE_ENV = "TFREC_CACHE"  # where `tfrec convert NAME OUT` keeps fetched datasets (default ~/.cache/tfrec)
MIRROR_ENV = "TFREC_MIRROR"  # a mirror URL used instead of the built-in ones (air-gapped sites)
CHUNK_BYTES = 1 << 20
RETRIES = 5  # attempts per file, each trying every URL; waits 1, 2, 4, 8 s between them
BACKOFF_SECONDS = 1.0
TIMEOUT_SECONDS = 60.0
MIRROR_SCHEMES = ("http", "https", "file")  # what --mirror accepts as a URL (a scheme-less existing folder too)
PART_SUFFIX = ".part"  # a download in progress; renamed to the file's name once its SHA-256 matches
META_SUFFIX = ".json"  # NAME.part.json: the URL, ETag and Last-Modified the .part was started from (for If-Range)


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its name, size, SHA-256 and the URLs that serve it, in order of preference."""

    name: str
    size: int
    sha256: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset tfrec can fetch: its files, the source format they convert as, and class names if known."""

    name: str
    format: str
    files: tuple[RemoteFile, ...]
    label_names: tuple[str, ...] | None = None


def _idx(bases: Sequence[str], sizes_and_sums: Mapping[str, tuple[int, str]]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(n, size, sha, tuple(b + n for b in bases)) for n, (size, sha) in sizes_and_sums.items())


DATASETS: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset("mnist", "mnist", _idx(
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"), {
            "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        })),
    "fashion_mnist": RemoteDataset("fashion_mnist", "mnist", _idx(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",), {
            "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        }), ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "kmnist": RemoteDataset("kmnist", "mnist", _idx(
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",), {
            "train-images-idx3-ubyte.gz": (18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
            "train-labels-idx1-ubyte.gz": (29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
            "t10k-images-idx3-ubyte.gz": (3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
            "t10k-labels-idx1-ubyte.gz": (5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
        }), ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
    "cifar10": RemoteDataset("cifar10", "cifar10", _idx(("https://www.cs.toronto.edu/~kriz/",), {
        "cifar-10-binary.tar.gz": (170052171, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    })),
    "cifar100": RemoteDataset("cifar100", "cifar100", _idx(("https://www.cs.toronto.edu/~kriz/",), {
        "cifar-100-binary.tar.gz": (168513733, "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"),
    })),
}
LABELS_FILE = "labels.txt"  # class names, one a line, beside fetched IDX files (read by the MNIST reader)


def cache_dir() -> str:
    """Where fetched datasets are kept: $TFREC_CACHE, else $XDG_CACHE_HOME/tfrec, else ~/.cache/tfrec."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tfrec")


def get_dataset(name: str) -> RemoteDataset:
    """The fetchable dataset called `name`.

    Raises:
        TfrecError: unknown name (lists the known ones).
    """
    if name not in DATASETS:
        raise TfrecError(f"unknown dataset {name!r}; tfrec can fetch: {', '.join(DATASETS)}")
    return DATASETS[name]


def mirror_base(mirror: str, dataset: str) -> str:
    """A mirror's base URL for `dataset`: `{name}` becomes the dataset name; an existing local folder, its file:// URL.

    Raises:
        UsageError: neither an http://, https:// or file:// URL nor an existing folder (names the mirror).
    """
    base = mirror.replace("{name}", dataset)
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme in MIRROR_SCHEMES:
        return base
    folder = os.path.abspath(os.path.expanduser(base)) if base else ""
    if folder and os.path.isdir(folder):
        return pathlib.Path(folder).as_uri()
    why = f"mirror {mirror!r} is neither a URL (http://, https:// or file://) nor an existing local folder"
    if folder and not scheme:
        why += f" ({folder} does not exist)"
    if base and "://" not in base and not base.startswith(("/", ".", "~")):  # host/path: a web address, likely
        why += f"; for a web mirror write https://{mirror}"
    raise UsageError(why)


def mirror_urls(f: RemoteFile, dataset: str, mirrors: Sequence[str]) -> tuple[str, ...]:
    """A file's URLs on the given mirrors (see mirror_base), else its own."""
    if not mirrors:
        return f.urls
    return tuple(mirror_base(m, dataset).rstrip("/") + "/" + f.name for m in mirrors)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


class _Incomplete(Exception):
    """The connection ended before the whole file came; the part kept so far is resumed."""


class _WrongSize(Exception):
    """The server announces a size other than the pinned one: another file, never retried on that URL."""


def _load_meta(part: str) -> dict:
    try:
        with open(part + META_SUFFIX, encoding="utf-8") as fh:
            meta = json.load(fh)
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_meta(part: str, meta: dict) -> None:
    tmp = part + META_SUFFIX + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(meta, fh)
    os.replace(tmp, part + META_SUFFIX)


def _discard(part: str) -> None:
    """Deletes a .part and the validators kept beside it."""
    for path in (part, part + META_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _drop_stale_part(part: str, f: RemoteFile, say) -> None:
    """Discards a .part that cannot be the start of `f`: longer than its pinned size, or started for another SHA-256."""
    if not os.path.exists(part):
        _discard(part)  # validators left without their .part
        return
    pinned = _load_meta(part).get("sha256", f.sha256)
    if pinned != f.sha256:
        say(f"{f.name}: the .part was started for another file (SHA-256 {pinned}); discarded it")
        _discard(part)
    elif os.path.getsize(part) > f.size:
        say(f"{f.name}: the .part is longer than the pinned {f.size} bytes; discarded it")
        _discard(part)


def _if_range(meta: dict, url: str) -> str | None:
    """The validator that makes resuming `url` safe (RFC 9110 13.1.5): its strong ETag, else its Last-Modified."""
    if meta.get("url") != url:
        return None  # validators of one server mean nothing to another; the checksum still guards the result
    etag = meta.get("etag")
    return etag if etag and not etag.startswith("W/") else meta.get("last_modified")


def _first_byte(r, f: RemoteFile, have: int) -> int:
    """Where the response's body starts in the file (0, or `have` for a 206), after checking the size it announces.

    Raises:
        _WrongSize: Content-Length, or Content-Range's total, is not the pinned size.
        _Incomplete: a 206 for another range than the one asked for.
    """
    start = 0
    if (getattr(r, "status", None) or 200) == 206:  # file:// answers None
        rng = (r.headers.get("Content-Range") or "").strip()
        m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", rng)
        if m is None or int(m[1]) != have:
            raise _Incomplete(f"asked for bytes {have}- and got Content-Range {rng!r}")
        if m[2] != "*" and int(m[2]) != f.size:
            raise _WrongSize(f"announces {m[2]} bytes, the pinned size is {f.size}")
        start = have
    length = (r.headers.get("Content-Length") or "").strip()
    if length.isdigit() and start + int(length) != f.size:
        raise _WrongSize(f"announces {start + int(length)} bytes, the pinned size is {f.size}")
    return start


def _open(url: str, part: str, f: RemoteFile, have: int, validator: str | None, timeout: float):
    """Requests `url` from byte `have` on (If-Range: `validator`); a 416 drops the .part, which starts again."""
    import urllib.error
    import urllib.request

    headers = {"User-Agent": f"tfrec/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if validator:
            headers["If-Range"] = validator
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416:
            raise
        total = (e.headers.get("Content-Range") or "").rpartition("/")[2].strip()
        if total.isdigit() and int(total) != f.size:
            raise _WrongSize(f"announces {total} bytes, the pinned size is {f.size}") from e
        _discard(part)
        raise _Incomplete(f"cannot serve bytes {have}- (HTTP 416); discarded the .part, "
                          "starting again from byte 0") from e


def _download(url: str, part: str, f: RemoteFile, bar, timeout: float, say) -> int:
    """Brings `part` to the pinned size from `url`, asking for the missing bytes only (HTTP Range, If-Range).

    Never writes past the pinned size. Returns the byte the bytes from `url` start at (0: a whole download).
    """
    import http.client

    have = os.path.getsize(part) if os.path.exists(part) else 0
    meta = _load_meta(part) if have else {}
    validator = _if_range(meta, url) if have else None
    with _open(url, part, f, have, validator, timeout) as r:
        start = _first_byte(r, f, have)
        if have and not start:
            why = f"changed since the .part was started (If-Range: {validator})" if validator else \
                "sent the whole file, not the rest"
            say(f"{f.name}: {url} {why}; starting again from byte 0")
        bar.reset(total=f.size)
        bar.update(start)
        got = start
        with open(part, "ab" if start else "wb") as out:
            if not start or meta.get("url") != url:  # the validators of what this .part now continues
                _save_meta(part, {"url": url, "etag": r.headers.get("ETag"),
                                  "last_modified": r.headers.get("Last-Modified"), "size": f.size, "sha256": f.sha256})
            try:
                while got < f.size and (chunk := r.read(min(CHUNK_BYTES, f.size - got))):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as e:
                raise _Incomplete(f"connection lost after {got} of {f.size} bytes: {e}") from e
    if got < f.size:
        raise _Incomplete(f"connection closed after {got} of {f.size} bytes")
    return start


def _attempts(part: str, f: RemoteFile, urls: Sequence[str], bar, say, retries: int, backoff: float,
              timeout: float) -> tuple[str | None, int, int]:
    """Tries every URL, `retries` times with doubling waits, until `part` holds the pinned size.

    Returns:
        (the URL used, the byte its bytes started at, attempts); (None, size, 0) if the .part was complete already.

    Raises:
        FetchError: every attempt failed (the last error per URL); a URL announcing another size is not retried.
    """
    import http.client  # here, not at the top: `tfrec --help` stays instant
    import urllib.error

    if os.path.exists(part) and os.path.getsize(part) == f.size:
        return None, f.size, 0
    errors: dict[str, str] = {}
    wrong: set[str] = set()
    for attempt in range(retries):
        for url in urls:
            if url in wrong:
                continue
            try:
                return url, _download(url, part, f, bar, timeout, say), attempt + 1
            except _WrongSize as e:
                errors[url] = str(e)
                wrong.add(url)
            except urllib.error.HTTPError as e:
                errors[url] = f"HTTP {e.code} {e.reason}"
            except (_Incomplete, urllib.error.URLError, http.client.HTTPException, OSError) as e:
                errors[url] = str(getattr(e, "reason", None) or e)
        if wrong.issuperset(urls):
            break
        if attempt + 1 < retries:
            time.sleep(backoff * 2 ** attempt)
    n = attempt + 1
    tried = "; ".join(f"{u}: {why}" for u, why in errors.items())
    kept = f"; the {os.path.getsize(part)} bytes received are kept in {part} and resumed next time" \
        if os.path.exists(part) else ""
    raise FetchError(f"{f.name}: download failed after {n} attempt{'s' if n != 1 else ''} ({tried}){kept}")


def fetch_file(f: RemoteFile, dest: str, urls: Sequence[str], *, retries: int = RETRIES,
               backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS, progress: bool = True) -> dict:
    """Downloads one file into `dest` (resuming a `.part` left before), checks its size and SHA-256, renames it.

    A resume sends If-Range with the ETag or Last-Modified kept beside the .part (NAME.part.json), so a
    changed file comes whole. A result that was resumed (or a .part found complete) and fails its checksum
    is discarded and downloaded once more from byte 0 in the same run. The file appears under its own
    name only once its SHA-256 matches.

    Returns:
        {"file", "bytes", "sha256", "status": "cached" | "downloaded", "url", "attempts", "notes"}; notes say
        what was discarded or restarted (also printed to stderr with progress on).

    Raises:
        FetchError: every attempt failed (lists the last error per URL, a size other than the pinned one
            among them), or the bytes do not match the pinned SHA-256 (the download is deleted, never converted).
    """
    from tqdm import tqdm

    final = os.path.join(dest, f.name)
    if os.path.exists(final) and os.path.getsize(final) == f.size and sha256_of(final) == f.sha256:
        return {"file": final, "bytes": f.size, "sha256": f.sha256, "status": "cached", "url": None, "attempts": 0,
                "notes": []}
    part = final + PART_SUFFIX
    notes: list[str] = []

    def say(note: str) -> None:
        notes.append(note)
        if progress:
            tqdm.write(note, file=sys.stderr)

    _drop_stale_part(part, f, say)
    attempts = 0
    with tqdm(total=f.size, unit="B", unit_scale=True, desc=f.name, disable=not progress, file=sys.stderr) as bar:
        for again in (False, True):  # once more from byte 0 when a resumed result fails its checksum
            used, start, n = _attempts(part, f, urls, bar, say, retries, backoff, timeout)
            attempts += n
            digest = sha256_of(part)
            if digest == f.sha256:
                break
            _discard(part)
            if again or not start:
                raise FetchError(f"{f.name}: the download from {used} has SHA-256 {digest}, expected {f.sha256}; "
                                 "deleted it (a changed or corrupted file is never converted)")
            what = "the .part left by an earlier run" if used is None else f"the download resumed at byte {start}"
            say(f"{f.name}: {what} has SHA-256 {digest}, not the pinned one; "
                "discarded it, downloading again from byte 0")
    os.replace(part, final)
    _discard(part)
    return {"file": final, "bytes": f.size, "sha256": digest, "status": "downloaded", "url": used,
            "attempts": attempts, "notes": notes}


def _checked_mirrors(given: tuple[str, ...], name: str) -> tuple[str, ...]:
    """The mirrors given, else those in $TFREC_MIRROR, each checked by mirror_base before anything is made."""
    if given:
        for m in given:
            mirror_base(m, name)
        return given
    env = tuple(os.environ.get(MIRROR_ENV, "").split())
    for m in env:
        try:
            mirror_base(m, name)
        except UsageError as e:
            raise UsageError(f"${MIRROR_ENV}: {e}") from None
    return env


def fetch(name: str, dest: str, *, mirrors: Sequence[str] = (), retries: int = RETRIES,
          backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS, progress: bool = True) -> dict[str, Any]:
    """Downloads a known dataset's files into `dest`, each checked against its pinned SHA-256.

    Args:
        name: one of DATASETS (mnist, fashion_mnist, kmnist, cifar10, cifar100).
        dest: the folder to fill (created); files already there with the right checksum are kept.
        mirrors: base URLs (http, https, file) or existing local folders used instead of the built-in URLs
            (default: $TFREC_MIRROR, if set); `{name}` in one becomes the dataset name.
        retries: attempts per file; each tries every URL, resuming what came before; back-off doubles.

    Returns:
        {"name", "dir", "format", "files": [fetch_file results], "seconds"}.

    Raises:
        TfrecError: unknown name (lists the known ones), or the folder cannot be made.
        UsageError: a mirror is neither such a URL nor an existing folder.
        FetchError: a file could not be downloaded or failed its checksum.
    """
    ds = get_dataset(name)
    mirrors = _checked_mirrors(tuple(mirrors), name)
    start = time.perf_counter()
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise TfrecError(f"{dest}: cannot create the folder: {e.strerror}") from e
    files = [fetch_file(f, dest, mirror_urls(f, name, mirrors), retries=retries, backoff=backoff,
                        timeout=timeout, progress=progress) for f in ds.files]
    if ds.label_names:  # written whole under another name first, like the files
        labels = os.path.join(dest, LABELS_FILE)
        with open(labels + ".tmp", "w", encoding="utf-8") as fh:
            fh.write("".join(f"{n}\n" for n in ds.label_names))
        os.replace(labels + ".tmp", labels)
    return {"name": name, "dir": dest, "format": ds.format, "files": files,
            "seconds": round(time.perf_counter() - start, 3)}
