"""ConvertOptions: what `tfrec convert` takes besides SRC and OUT, holding the reader's SourceOptions; checks itself."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import TfrecError
from ..io.records import normalize_compression
from ..sources import FORMATS, SourceOptions
from ..sources.model import FINGERPRINT
from . import plan

RUNNERS = ("local", "beam")
# SourceOptions' fields that ConvertOptions also takes as keywords (and reads as attributes): all but the
# schema, which ConvertOptions names (a built-in name or a .json path) and the source gets loaded.
SOURCE_FIELDS = frozenset(f.name for f in fields(SourceOptions)) - {"schema"}


@dataclass(frozen=True, init=False)
class ConvertOptions:
    """Everything `tfrec convert` takes besides SRC and OUT; checks itself.

    The reader's options are a SourceOptions (`source`); they are also taken as keywords, as before:
    `ConvertOptions(shards=2, resize=(224, 224))` holds `SourceOptions(resize=(224, 224))`, keywords given
    beside `source=` replace its values, and `options.resize` reads `options.source.resize`. Fields marked
    FINGERPRINT (here and on SourceOptions) decide the records written (see fingerprint_values).
    """

    format: str = field(default="auto", metadata=FINGERPRINT)
    name: str | None = field(default=None, metadata=FINGERPRINT)
    shards: int | None = None
    shard_size: int | None = None
    compression: str = field(default="none", metadata=FINGERPRINT)
    split: tuple[tuple[str, float], ...] | None = None
    shuffle: bool = field(default=True, metadata=FINGERPRINT)
    seed: int = field(default=0, metadata=FINGERPRINT)
    workers: int = 0  # 0: automatic (see num_workers)
    overwrite: bool = False
    resume: bool = False
    schema: str | None = None  # a built-in schema name or a .json file, loaded when the source is read
    tfds_metadata: bool = True  # also write dataset_info.json and features.json for tfds.builder_from_directory
    progress: bool = True
    runner: str = "local"  # 'local' (a process pool) or 'beam' (an Apache Beam pipeline: write/beam.py)
    beam_options: tuple[str, ...] = ()  # Beam pipeline flags, e.g. ('--runner=DataflowRunner', ...)
    source: SourceOptions = SourceOptions()  # the reader's options (resize, encode, on_error, ...)

    def __init__(self, *, source: SourceOptions | None = None, **options: Any):
        given = {k: options.pop(k) for k in list(options) if k in SOURCE_FIELDS}
        for f in fields(self):
            if f.name != "source":
                object.__setattr__(self, f.name, options.pop(f.name, f.default))
        if options:
            raise TypeError(f"ConvertOptions() got an unexpected keyword argument {next(iter(options))!r}")
        source = SourceOptions() if source is None else source
        object.__setattr__(self, "source", replace(source, **given) if given else source)  # checks the values
        self.__post_init__()

    def __post_init__(self):
        if self.runner not in RUNNERS:
            raise TfrecError(f"unknown runner {self.runner!r}; supported: {', '.join(RUNNERS)}")
        if self.name is not None:
            plan.check_dataset_name(self.name, "--name")
        if self.format not in ("auto",) + FORMATS:
            raise TfrecError(f"unknown format {self.format!r}; supported: auto, {', '.join(FORMATS)}")
        if self.shards is not None and self.shards < 1:
            raise TfrecError(f"--shards must be at least 1, not {self.shards}")
        if self.shards is not None and self.shard_size is not None:
            raise TfrecError("give --shards or --shard-size, not both")
        if self.resume and self.overwrite:
            raise TfrecError("give --resume or --overwrite, not both")
        if self.workers < 0:
            raise TfrecError(f"--workers must be 0 (all cores) or more, not {self.workers}")
        normalize_compression(self.compression)

    def __getattr__(self, name: str) -> Any:
        # Only for names not found as fields: the reader's options read as they did before `source`.
        if name in SOURCE_FIELDS:
            return getattr(self.source, name)
        raise AttributeError(f"'ConvertOptions' object has no attribute {name!r}")

    @property
    def num_workers(self) -> int:
        """Processes for per-record work: --workers, else one per core when re-encoding, else 1.

        Pass-through only reads files and checks headers: one process kept up with the disk in
        benchmarks/convert.py, and a pool's pickling and pipes made it about 1.5x slower.
        """
        if self.workers:
            return self.workers
        return (os.cpu_count() or 1) if (self.source.resize or self.source.encode) else 1

    def fingerprint_values(self) -> dict[str, Any]:
        """The options that decide the records written (the fields marked FINGERPRINT), by field name.

        A field marked with another field's name counts only while that one is set: --fit changes a byte
        only with --resize, and journals written without --resize keep their fingerprint.
        """
        values = {}
        for holder in (self, self.source):
            for f in fields(holder):
                when = f.metadata.get("fingerprint")
                if when is True or (when and getattr(holder, when)):
                    values[f.name] = getattr(holder, f.name)
        return values
