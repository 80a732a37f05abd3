"""A Grain RandomAccessDataSource over the access layer: record i as {"image": HWC uint8 array, "label": int}.

Grain's own samplers (IndexSampler, MapDataset.shuffle) give the global shuffle, the sharding over
processes and the checkpointable position; this adapter only translates the access layer's protocol.
It is picklable (no open file, no lock), so Grain's worker processes each open their own shards.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..access import SampleSource, open_source
from ..errors import TfrecError


class Source:
    """Grain's RandomAccessDataSource protocol (`__len__`, `__getitem__`) over a tfrec split or foreign TFRecords.

    With skip_corrupt a damaged record is None (Grain's MapDataset treats None as filtered out) and is
    counted in `stats` of the process that met it.
    """

    def __init__(self, samples: SampleSource):
        if samples.image is None:
            raise TfrecError(f"{samples.name}: the schema has no image feature")
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:  # Grain names the source in its checkpoints and errors
        return f"tfrec.grain.Source({self.samples.name!r}, records={len(self)})"

    @property
    def stats(self):
        return self.samples.stats

    def _element(self, sample: dict) -> dict[str, Any]:
        label = self.samples.label
        return {"image": sample[self.samples.image.name],
                "label": int(sample[label.name]) if label is not None else -1}

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        sample = self.samples[int(i)]
        return None if sample is None else self._element(sample)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """A batch of elements with coalesced reads (damaged ones left out with skip_corrupt)."""
        return [self._element(s) for s in self.samples.__getitems__(indices)]


def _absl_flags_ready() -> None:
    """Marks absl's flags parsed (with their defaults) unless the program parsed them itself.

    Grain reads absl flags (e.g. --grain_enable_multiprocess_worker_profiling) in DataLoader's worker path once
    JAX is importable; outside an absl.app.run program they were never parsed and Grain raises
    UnparsedFlagAccessError. A later app.run still parses the command line as usual.
    """
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def source(path: Any, split: str | None = None, *, schema: Any = None, check_crc: bool = True,
           skip_corrupt: bool = False) -> Source:
    """A Grain data source over a split of a tfrec dataset or foreign TFRecord files (see tfrec.access.open_source)."""
    _absl_flags_ready()
    return Source(open_source(path, split, schema=schema, check_crc=check_crc, skip_corrupt=skip_corrupt))
