"""Verification, inspection, schema inference and contact sheets: no TensorFlow at import time.

The names below are check/'s public API: what the rest of tfrec (view/ above all) imports from here,
`from tfrec.check import ...`, never from the modules inside. Binding `verify` and `inspect` here makes
`tfrec.check.verify` the function; the modules stay importable by name (`tfrec.check.verify` in
`from tfrec.check.verify import X`, importlib.import_module).
"""
from .detection import Objects, caption_of, draw_objects, is_detection, label_map_beside, objects_of, read_label_map
from .infer import infer_schema, schema_name
from .inspect import SKIPPED_SHOWN, InspectOptions, InspectReport, inspect
from .verify import VerifyOptions, VerifyReport, verify

__all__ = [
    "InspectOptions",
    "InspectReport",
    "Objects",
    "SKIPPED_SHOWN",
    "VerifyOptions",
    "VerifyReport",
    "caption_of",
    "draw_objects",
    "infer_schema",
    "inspect",
    "is_detection",
    "label_map_beside",
    "objects_of",
    "read_label_map",
    "schema_name",
    "verify",
]
