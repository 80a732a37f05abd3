"""tfrec: convert image datasets to sharded TFRecords, verify, inspect and stream them."""
from ._version import __version__
from .write.convert import ConvertOptions, convert
from .errors import CorruptRecordError, FetchError, SchemaError, SourceError, TfrecError
from .sources.fetch import fetch
from .write.tfds import write_tfds_metadata
from .codec.example import decode_example, encode_example
from .io.manifest import read_manifest
from .check.inspect import InspectOptions, inspect
from .io.index import read_index
from .io.records import Record, ShardWriter, frame_record, iter_records, masked_crc32c, write_records
from .codec.schema import Schema, builtin_schemas, load_schema
from .check.verify import VerifyOptions, verify
from .training.options import TrainOptions


# TensorFlow-dependent names, loaded only when asked so that `import tfrec` stays light: name -> module.
_LAZY = {"make_dataset": ".read.pipeline", "train": ".training.loop", "TrainResult": ".training.loop",
         "evaluate": ".training.evaluate", "predict": ".training.export", "load_model": ".training.export"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    # The viewer (no TensorFlow) loads http.server and friends: only when asked.
    if name in ("DatasetView", "make_view_server", "write_html_report"):
        from .view import report, server, source

        return {"DatasetView": source.DatasetView, "make_view_server": server.make_server,
                "write_html_report": report.write_html_report}[name]
    raise AttributeError(f"module 'tfrec' has no attribute {name!r}")

__all__ = [
    "__version__",
    "ConvertOptions",
    "DatasetView",
    "InspectOptions",
    "VerifyOptions",
    "CorruptRecordError",
    "FetchError",
    "Record",
    "Schema",
    "SchemaError",
    "ShardWriter",
    "SourceError",
    "TfrecError",
    "TrainOptions",
    "TrainResult",
    "builtin_schemas",
    "convert",
    "decode_example",
    "encode_example",
    "fetch",
    "evaluate",
    "frame_record",
    "inspect",
    "iter_records",
    "load_model",
    "load_schema",
    "make_dataset",
    "make_view_server",
    "masked_crc32c",
    "predict",
    "read_index",
    "read_manifest",
    "train",
    "verify",
    "write_html_report",
    "write_records",
    "write_tfds_metadata",
]
