"""tfrec: convert image datasets to sharded TFRecords, verify, inspect and stream them."""
from ._version import __version__
from .convert import ConvertOptions, convert
from .errors import CorruptRecordError, SchemaError, SourceError, TfrecError
from .example import decode_example, encode_example
from .manifest import read_manifest
from .records import Record, ShardWriter, frame_record, iter_records, masked_crc32c, read_index, write_records
from .schema import Schema, builtin_schemas, load_schema

__all__ = [
    "__version__",
    "ConvertOptions",
    "CorruptRecordError",
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
    "frame_record",
    "iter_records",
    "load_schema",
    "masked_crc32c",
    "read_index",
    "read_manifest",
    "write_records",
]
