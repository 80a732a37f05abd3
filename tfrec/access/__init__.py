"""Framework-neutral random access to tfrec datasets: records by index, the epoch order, shares and resumable state.

No TensorFlow, no PyTorch, no Grain: tfrec.torch, tfrec.grain and the viewer read through it.
"""
from .order import EpochOrder, epoch_seed, permuted, share_size
from .records import RecordSource, unframe
from .samples import SampleSource, open_source
from .shards import ShardRef

__all__ = ["EpochOrder", "RecordSource", "SampleSource", "ShardRef", "epoch_seed", "open_source", "permuted",
           "share_size", "unframe"]
