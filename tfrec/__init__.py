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


def __getattr__(name: str):
    # The tf.data reader imports TensorFlow: load it only when asked, so `import tfrec` stays light.
    if name in ("make_dataset",):
        from .read import pipeline

        return getattr(pipeline, name)
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
    "builtin_schemas",
    "convert",
    "decode_example",
    "encode_example",
    "fetch",
    "frame_record",
    "inspect",
    "iter_records",
    "load_schema",
    "make_dataset",
    "make_view_server",
    "masked_crc32c",
    "read_index",
    "read_manifest",
    "verify",
    "write_html_report",
    "write_records",
    "write_tfds_metadata",
]
