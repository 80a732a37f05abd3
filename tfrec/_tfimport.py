"""Importing TensorFlow for the user without its C++ start-up banner, leaving the user's log settings as they were."""
from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from types import ModuleType

LOG_LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"
# Where the user has not set TF_CPP_MIN_LOG_LEVEL: INFO lines (the oneDNN and cpu_feature_guard
# banner, tf.data's per-iterator notes) are hidden, warnings and errors still shown. TensorFlow reads
# the variable once, when it first logs, so it is set for the import only and then put back.
QUIET_LOG_LEVEL = "1"
# A line of TensorFlow's C++ log: severity letter (Info, Warning, Error, Fatal), then MMDD or a date.
_LOG_LINE = re.compile(rb"^([IWEF])\d{4}")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
# Printed by absl before the first log line of a process that never called absl::InitializeLog.
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_PYTHON_WARNING = re.compile(rb"^\S.*:\d+: \w*Warning: ")  # warnings.showwarning's first line: always kept
_LOCK = threading.Lock()  # one capture of file descriptor 2 at a time


def import_tensorflow_quietly() -> ModuleType:
    """Imports TensorFlow (once) with its start-up log lines kept off the terminal; returns the module.

    The banner comes from C++ while TensorFlow loads, before any log setting applies (even
    TF_CPP_MIN_LOG_LEVEL=2 shows part of it), so file descriptor 2 is captured for the import only.
    What was captured is then written to stderr again, less the lines below the log level: the
    user's TF_CPP_MIN_LOG_LEVEL where set (0 shows everything, banner included), else
    QUIET_LOG_LEVEL for the import only (the variable is put back unset afterwards). Python's
    `logging` and `warnings` settings are not touched. If the import fails, everything captured is
    written back and the error propagates.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _LOCK:
        if "tensorflow" in sys.modules:
            return sys.modules["tensorflow"]
        return _import_captured()


def _import_captured() -> ModuleType:
    user_level = os.environ.get(LOG_LEVEL_VAR)
    if user_level is None:
        os.environ[LOG_LEVEL_VAR] = QUIET_LOG_LEVEL
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        try:
            os.dup2(captured.fileno(), 2)
            try:
                import tensorflow
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                if user_level is None:
                    os.environ.pop(LOG_LEVEL_VAR, None)
        except BaseException:
            captured.seek(0)
            _write_stderr(captured.read())
            raise
        captured.seek(0)
        _write_stderr(kept_log_lines(captured.read(), _level(user_level)))
    return tensorflow


def kept_log_lines(text: bytes, level: int) -> bytes:
    """The captured lines at or above `level` (0 INFO ... 3 FATAL); a line that is not a log line
    (a Python warning, a log message's continuation) goes with the log line before it."""
    out, keep = [], True
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if line.rstrip() == _ABSL_PREAMBLE:
            keep = level == 0
        elif match:
            keep = _SEVERITY[match.group(1)] >= level
        elif _PYTHON_WARNING.match(line):
            keep = True
        if keep:
            out.append(line)
    return b"".join(out)


def _level(value: str | None) -> int:
    try:
        return int(value) if value is not None else int(QUIET_LOG_LEVEL)
    except ValueError:
        return 0  # TensorFlow reads a value it cannot parse as 0


def _write_stderr(data: bytes) -> None:
    if data:
        sys.stderr.flush()
        while data:
            data = data[os.write(2, data):]
