"""tfrec: convert image datasets to sharded TFRecords, verify, inspect and stream them."""
from ._version import __version__
from .errors import CorruptRecordError, FetchError, SchemaError, SourceError, TfrecError

# Public names and the modules that define them, imported on first use: `import tfrec` (and so every
# `tfrec` command, which imports its modules through this package) loads only what it needs. Loading
# all of them up front cost ~0.1 s of every command's start (NumPy, the converter, the inspector).
_EXPORTS = {
    "ConvertOptions": "write.convert", "convert": "write.convert",
    "fetch": "sources.fetch", "write_tfds_metadata": "write.tfds",
    "decode_example": "codec.example", "encode_example": "codec.example",
    "read_manifest": "io.manifest", "Dataset": "io.dataset", "open_dataset": "io.dataset",
    "InspectOptions": "check.inspect", "inspect": "check.inspect",
    "read_index": "io.index",
    "Record": "io.records", "ShardWriter": "io.records", "frame_record": "io.records", "iter_records": "io.records",
    "masked_crc32c": "io.records", "write_records": "io.records",
    "Schema": "codec.schema", "builtin_schemas": "codec.schema", "load_schema": "codec.schema",
    "VerifyOptions": "check.verify", "verify": "check.verify",
    "TrainOptions": "training.options", "TrainBenchOptions": "bench.options",
    # TensorFlow-dependent names: TensorFlow is imported only when one of them is asked for.
    "make_dataset": "read.pipeline", "ReadOptions": "read.options", "train": "training.loop",
    "TrainResult": "training.loop",
    "evaluate": "training.evaluate", "predict": "training.export", "load_model": "training.export",
    "ServiceError": "read.service", "benchmark_train": "bench.train",
    # The viewer (no TensorFlow) loads http.server and friends: only when asked.
    "DatasetView": "view.source", "write_html_report": "view.report",
}
_RENAMED = {"make_view_server": ("view.server", "make_server")}
# Modules that import TensorFlow at their top: it is imported quietly (tfrec._tfimport) before them.
_TENSORFLOW_MODULES = ("read.", "training.loop", "training.evaluate", "training.export", "bench.train")
_TENSORFLOW_FREE = ("read.options",)  # ReadOptions: TensorFlow only once a pipeline is built


def __getattr__(name: str):
    import importlib

    if name in _EXPORTS:
        module, attr = _EXPORTS[name], name
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
    else:
        raise AttributeError(f"module 'tfrec' has no attribute {name!r}")
    if module.startswith(_TENSORFLOW_MODULES) and module not in _TENSORFLOW_FREE:
        from ._tfimport import import_tensorflow_quietly

        import_tensorflow_quietly()
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__all__ = [
    "__version__",
    "ConvertOptions",
    "Dataset",
    "DatasetView",
    "InspectOptions",
    "VerifyOptions",
    "CorruptRecordError",
    "ReadOptions",
    "FetchError",
    "Record",
    "Schema",
    "SchemaError",
    "ServiceError",
    "ShardWriter",
    "SourceError",
    "TfrecError",
    "TrainBenchOptions",
    "TrainOptions",
    "TrainResult",
    "benchmark_train",
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
    "open_dataset",
    "predict",
    "read_index",
    "read_manifest",
    "train",
    "verify",
    "write_html_report",
    "write_records",
    "write_tfds_metadata",
]
