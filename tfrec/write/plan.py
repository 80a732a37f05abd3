"""Planning, before anything is written: split fractions, seeded record order, shard layout."""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from ..errors import TfrecError

# TensorFlow's TFRecord guide: files of 100 MB or more where the data allows, at least 10 MB.
TARGET_SHARD_BYTES = 100 * 10**6
MIN_SHARD_BYTES = 10 * 10**6
# Enough files that a parallel interleave (cycle length 4, as on small hosts) has work for each reader.
MIN_READ_SHARDS = 4
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """Parses '128MB', '1.5GB', '64MiB' or a plain byte count."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise TfrecError(f"cannot read size {text!r}; expected e.g. 128MB, 1GB, 64MiB or a byte count")
    size = int(float(m.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise TfrecError(f"size {text!r} must be at least one byte")
    return size


def parse_split_spec(text: str) -> dict[str, float]:
    """Parses 'train=0.9,val=0.1' into {'train': 0.9, 'val': 0.1} (fractions must add up to 1)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, frac = part.partition("=")
        try:
            value = float(frac)
        except ValueError:
            value = -1.0
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", name) or not 0 < value <= 1:
            raise TfrecError(f"bad split {part!r} in {text!r}; expected name=fraction, e.g. train=0.9,val=0.1")
        if name in out:
            raise TfrecError(f"split {name!r} named twice in {text!r}")
        out[name] = value
    if not out or abs(sum(out.values()) - 1) > 1e-6:
        raise TfrecError(f"split fractions in {text!r} add up to {sum(out.values()):g}; they must add up to 1")
    return out


def named_seed(seed: int, name: str) -> int:
    """A seed derived from `seed` and a name (a split, or the split-making step): orders depend on both only."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def stratified_split(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Splits record indices by class so each split keeps the class balance; deterministic by seed.

    Returns:
        split name -> sorted record indices. Every record lands in exactly one split.
    """
    rng = np.random.default_rng(named_seed(seed, "split"))
    names = list(fractions)
    cum = np.cumsum([fractions[n] for n in names])
    out: dict[str, list] = {n: [] for n in names}
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        bounds = np.rint(cum * len(idx)).astype(int)
        for n, lo, hi in zip(names, np.concatenate(([0], bounds[:-1])), bounds):
            out[n].append(idx[lo:hi])
    return {n: np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64) for n, v in out.items()}


def record_order(n: int, shuffle: bool, seed: int, split: str) -> np.ndarray:
    """The order records are written in: a seeded permutation, or source order."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng(named_seed(seed, split)).permutation(n)


def choose_num_shards(total_bytes: int, num_records: int, shard_size: int | None = None) -> int:
    """How many shards: at most `shard_size` bytes each if given, else TensorFlow's guidance.

    Default: shards of 100 MB or more (floor of total / 100 MB), but at least MIN_READ_SHARDS
    for parallel reading as long as each stays above 10 MB; never more shards than records.
    """
    if num_records == 0:
        return 1
    if shard_size:
        n = math.ceil(total_bytes / shard_size)
    else:
        n = max(total_bytes // TARGET_SHARD_BYTES, min(MIN_READ_SHARDS, total_bytes // MIN_SHARD_BYTES), 1)
    return int(max(1, min(n, num_records)))


@dataclass(frozen=True)
class ShardSpec:
    """One shard to write: its file name and the slice [start, stop) of the ordered records."""

    index: int
    num_shards: int
    file: str
    start: int
    stop: int

    @property
    def records(self) -> int:
        return self.stop - self.start


# A dataset name as TensorFlow Datasets spells one (tfds.core.naming: a letter, then word characters),
# kept to lowercase ASCII snake_case so that `{name}-{split}.tfrecord-...` shard names stay parseable.
DATASET_NAME = re.compile(r"[a-z][a-z0-9_]*")


def dataset_name(text: str, fallback: str) -> str:
    """`text` (a folder name) as a TFDS-style snake_case dataset name: 'My Photos-2024' -> 'my_photos_2024'.

    Accents are dropped ('Día' -> 'dia'), every other character outside a-z, 0-9 and `_` becomes `_`
    (runs of them one, none at the ends); a name that starts with a digit gets `fallback` and `_`
    before it, and one that is left empty is `fallback` (the source format).
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    name = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", ascii_text)).strip("_")
    if not name:
        return fallback
    return name if DATASET_NAME.fullmatch(name) else f"{fallback}_{name}"


def check_dataset_name(name: object, where: str = "--name") -> str:
    """`name` if it is a dataset name (lowercase letters, digits and `_`, starting with a letter).

    Raises:
        TfrecError: "--name 'my-data': not a dataset name ...", with the name it could be instead.
    """
    if isinstance(name, str) and DATASET_NAME.fullmatch(name):
        return name
    hint = dataset_name(name, "") if isinstance(name, str) else ""
    like = f"; e.g. {hint!r}" if hint and DATASET_NAME.fullmatch(hint) else ""
    raise TfrecError(
        f"{where} {name!r}: not a dataset name: use lowercase letters, digits and '_', starting with a letter "
        f"(shard files are NAME-SPLIT.tfrecord-...){like}"
    )


def shard_name(name: str, split: str, index: int, num_shards: int) -> str:
    """The TFDS-style shard file name: {name}-{split}.tfrecord-{i:05d}-of-{n:05d}."""
    return f"{name}-{split}.tfrecord-{index:05d}-of-{num_shards:05d}"


def plan_shards(name: str, split: str, num_records: int, num_shards: int) -> tuple[ShardSpec, ...]:
    """Cuts the ordered records of a split into contiguous shards of near-equal record counts."""
    if num_shards < 1:
        raise TfrecError(f"number of shards must be at least 1, not {num_shards}")
    bounds = np.linspace(0, num_records, num_shards + 1).round().astype(int)
    return tuple(
        ShardSpec(i, num_shards, shard_name(name, split, i, num_shards), int(bounds[i]), int(bounds[i + 1]))
        for i in range(num_shards)
    )
