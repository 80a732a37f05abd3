"""Grain over tfrec datasets, without TensorFlow: tfrec.grain.source(path, split=...), a RandomAccessDataSource."""
from .source import Source, source

__all__ = ["Source", "source"]
