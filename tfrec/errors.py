"""The one small exception hierarchy every tfrec error belongs to."""
from __future__ import annotations


class TfrecError(Exception):
    """Base class: the data or the request has a problem (CLI exit code 1)."""


class SchemaError(TfrecError):
    """A schema file is malformed, or a sample does not match its schema."""


class SourceError(TfrecError):
    """A source dataset (IDX, CIFAR, image folder) is malformed or unreadable."""


class ImageDecodeError(SourceError, ValueError):
    """Encoded image bytes that cannot be decoded (tfrec.access.decode): the message says what is wrong with them."""


class CorruptRecordError(TfrecError):
    """A TFRecord record is damaged: names the file, the record index and the byte offset."""

    def __init__(self, path: str, index: int, offset: int, reason: str):
        self.path = str(path)
        self.index = index
        self.offset = offset
        self.reason = reason
        super().__init__(f"{self.path}: record {index} at byte offset {offset}: {reason}")


class UsageError(TfrecError):
    """The request asks for what the data or the tool cannot give (training without labels, an unknown
    model): the CLI reports it as a usage error, exit code 2, before any work starts."""


class Interrupted(TfrecError):
    """Ctrl-C or SIGTERM stopped long work cleanly; the message says how to resume (exit code 130)."""


class ConversionInterrupted(Interrupted):
    """Ctrl-C or SIGTERM stopped a conversion; complete shards were kept for --resume (exit code 130)."""


class FetchError(TfrecError):
    """A download failed, or its bytes did not match the pinned checksum (the file was deleted)."""
