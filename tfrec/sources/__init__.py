"""Source formats: one module per input format; their data model (model.py) and registry (registry.py) apart.

The names below are the package's public API, re-exported from the modules that define them.
"""
from __future__ import annotations

from .model import FITS, LABEL_MODES, MAX_LISTED_IGNORED, SourceData, SourceOptions, SplitData, content_id
from .registry import FORMATS, READERS, detect_format, read_source, reader

__all__ = [
    "FITS", "FORMATS", "LABEL_MODES", "MAX_LISTED_IGNORED", "READERS", "SourceData", "SourceOptions", "SplitData",
    "content_id", "detect_format", "read_source", "reader",
]
