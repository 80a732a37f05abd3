"""`tfrec fetch`: the classic datasets' files from known URLs or a mirror, resumable, checked against pinned SHA-256.

Sizes and SHA-256 values are those tensorflow-datasets 4.9.10 pins in its
`tensorflow_datasets/url_checksums/{mnist,fashion_mnist,kmnist,cifar10,cifar100}.txt`; the primary
URLs are the ones listed there. The MNIST second URL is the mirror torchvision downloads from
(`https://ossci-datasets.s3.amazonaws.com/mnist/`). Class names for Fashion-MNIST and KMNIST are the
ones TFDS's `image_classification/mnist.py` declares. Only the standard library is used.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .._version import __version__
from ..errors import FetchError, TfrecError

CACHE_ENV = "TFREC_CACHE"  # where `tfrec convert NAME OUT` keeps fetched datasets (default ~/.cache/tfrec)
MIRROR_ENV = "TFREC_MIRROR"  # a mirror URL used instead of the built-in ones (air-gapped sites)
CHUNK_BYTES = 1 << 20
RETRIES = 5  # attempts per file, each trying every URL; waits 1, 2, 4, 8 s between them
BACKOFF_SECONDS = 1.0
TIMEOUT_SECONDS = 60.0


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


def mirror_urls(f: RemoteFile, dataset: str, mirrors: Sequence[str]) -> tuple[str, ...]:
    """A file's URLs on the given mirrors (`{name}` in a mirror URL becomes the dataset name), else its own."""
    if not mirrors:
        return f.urls
    return tuple((m.replace("{name}", dataset) if "{name}" in m else m).rstrip("/") + "/" + f.name for m in mirrors)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


class _Incomplete(Exception):
    """The connection ended before the whole file came; the part kept so far is resumed."""


def _download(url: str, part: str, f: RemoteFile, bar, timeout: float) -> None:
    """Appends the rest of `url` to `part`, asking for the missing bytes only (HTTP Range)."""
    import http.client
    import urllib.request

    have = os.path.getsize(part) if os.path.exists(part) else 0
    if have > f.size:
        os.remove(part)
        have = 0
    if have == f.size:
        return
    headers = {"User-Agent": f"tfrec/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        status = getattr(r, "status", 200)
        if have and status != 206:  # the server ignored the range: start again from the first byte
            have = 0
        mode = "ab" if have else "wb"
        bar.reset(total=f.size)
        bar.update(have)
        got = have
        with open(part, mode) as out:
            try:
                while chunk := r.read(CHUNK_BYTES):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as e:
                raise _Incomplete(f"connection lost after {got} of {f.size} bytes: {e}") from e
    if got < f.size:
        raise _Incomplete(f"connection closed after {got} of {f.size} bytes")


def fetch_file(f: RemoteFile, dest: str, urls: Sequence[str], *, retries: int = RETRIES,
               backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS, progress: bool = True) -> dict:
    """Downloads one file into `dest` (resuming a `.part` left before), checks its size and SHA-256, renames it.

    Returns:
        {"file", "bytes", "sha256", "status": "cached" | "downloaded", "url", "attempts"}.

    Raises:
        FetchError: every attempt failed (lists the last error per URL), or the bytes do not match the
            pinned SHA-256 (the download is deleted, never converted).
    """
    import http.client  # here, not at the top: `tfrec --help` stays instant
    import urllib.error

    from tqdm import tqdm

    final = os.path.join(dest, f.name)
    if os.path.exists(final) and os.path.getsize(final) == f.size and sha256_of(final) == f.sha256:
        return {"file": final, "bytes": f.size, "sha256": f.sha256, "status": "cached", "url": None, "attempts": 0}
    part = final + ".part"
    errors: dict[str, str] = {}
    used = None
    with tqdm(total=f.size, unit="B", unit_scale=True, desc=f.name, disable=not progress, file=sys.stderr) as bar:
        for attempt in range(retries):
            for url in urls:
                try:
                    _download(url, part, f, bar, timeout)
                    used = url
                    break
                except urllib.error.HTTPError as e:
                    errors[url] = f"HTTP {e.code} {e.reason}"
                except (_Incomplete, urllib.error.URLError, http.client.HTTPException, OSError) as e:
                    errors[url] = str(getattr(e, "reason", None) or e)
            if used:
                break
            if attempt + 1 < retries:
                time.sleep(backoff * 2 ** attempt)
    if used is None:
        tried = "; ".join(f"{u}: {why}" for u, why in errors.items())
        kept = f"; the {os.path.getsize(part)} bytes received are kept in {part} and resumed next time" if os.path.exists(part) else ""
        raise FetchError(f"{f.name}: download failed after {retries} attempts ({tried}){kept}")
    digest = sha256_of(part)
    if digest != f.sha256:
        os.remove(part)
        raise FetchError(f"{f.name}: the download from {used} has SHA-256 {digest}, expected {f.sha256}; "
                         "deleted it (a changed or corrupted file is never converted)")
    os.replace(part, final)
    return {"file": final, "bytes": f.size, "sha256": digest, "status": "downloaded", "url": used, "attempts": attempt + 1}


def fetch(name: str, dest: str, *, mirrors: Sequence[str] = (), retries: int = RETRIES,
          backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS, progress: bool = True) -> dict[str, Any]:
    """Downloads a known dataset's files into `dest`, each checked against its pinned SHA-256.

    Args:
        name: one of DATASETS (mnist, fashion_mnist, kmnist, cifar10, cifar100).
        dest: the folder to fill (created); files already there with the right checksum are kept.
        mirrors: base URLs used instead of the built-in ones (default: $TFREC_MIRROR, if set).
        retries: attempts per file; each tries every URL, resuming what came before; back-off doubles.

    Returns:
        {"name", "dir", "format", "files": [fetch_file results], "seconds"}.

    Raises:
        TfrecError: unknown name (lists the known ones), or the folder cannot be made.
        FetchError: a file could not be downloaded or failed its checksum.
    """
    ds = get_dataset(name)
    mirrors = tuple(mirrors) or tuple(m for m in os.environ.get(MIRROR_ENV, "").split() if m)
    start = time.perf_counter()
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise TfrecError(f"{dest}: cannot create the folder: {e.strerror}") from e
    files = [fetch_file(f, dest, mirror_urls(f, name, mirrors), retries=retries, backoff=backoff,
                        timeout=timeout, progress=progress) for f in ds.files]
    if ds.label_names:
        with open(os.path.join(dest, LABELS_FILE), "w", encoding="utf-8") as fh:
            fh.write("".join(f"{n}\n" for n in ds.label_names))
    return {"name": name, "dir": dest, "format": ds.format, "files": files,
            "seconds": round(time.perf_counter() - start, 3)}
