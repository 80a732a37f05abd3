"""Apache Beam glue shared by conversion and verification: the import with its one-line error, pipeline
flags with the local defaults, a pipeline, a worker's error in one line, and map_on_beam (tasks as work units).

Locally the DirectRunner runs in multi-processing mode with 2 worker processes (`--workers N` for N);
`--beam-option runner=DataflowRunner` (and project, region, temp_location, ...) runs the same pipeline
on Dataflow, Flink or Spark.
"""
from __future__ import annotations

import logging
import pickle
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..errors import TfrecError
from ..io import fs

# The local default: the DirectRunner with worker processes, as a remote runner would run the units.
DIRECT_WORKERS = 2


def import_beam():
    """apache_beam, or a one-line error naming the extra that installs it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # Beam's import warns on the root logger about GCP clients it may not need
    try:
        import apache_beam
    except ImportError as e:
        raise TfrecError(f"--runner beam needs Apache Beam: pip install 'tfrec[beam]' ({e})") from None
    finally:
        root.setLevel(level)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # worker chatter; failures still raise
    return apache_beam


def beam_flags(options: Sequence[str], workers: int = 0) -> list[str]:
    """Beam's command-line flags from KEY=VALUE pairs (or ready flags), with the local defaults first.

    Raises:
        TfrecError: an option that is not KEY=VALUE or --flag.
    """
    flags = []
    for opt in options:
        if opt.startswith("--"):
            flags.append(opt)
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", opt, re.S):
            flags.append(f"--{opt}")
        else:
            raise TfrecError(f"--beam-option {opt!r}: expected KEY=VALUE, e.g. runner=DataflowRunner")
    given = {f[2:].partition("=")[0] for f in flags}
    defaults = []
    if "runner" not in given:
        defaults.append("--runner=DirectRunner")
    if "direct_running_mode" not in given:
        defaults.append("--direct_running_mode=multi_processing")
    if "direct_num_workers" not in given:
        defaults.append(f"--direct_num_workers={workers or DIRECT_WORKERS}")
    if "default_sdk_harness_log_level" not in given:
        defaults.append("--default_sdk_harness_log_level=ERROR")
    return defaults + flags


def make_pipeline(flags: Sequence[str]):
    """(apache_beam, a Pipeline with these flags); raises TfrecError when Beam is not installed."""
    beam = import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    return beam, beam.Pipeline(options=PipelineOptions(list(flags)))


def worker_error(e: Exception) -> TfrecError:
    """One line from a failed pipeline: the tfrec error a worker raised, when there is one."""
    text = str(e)
    found = re.findall(r"(?:tfrec\.errors\.)?(?:TfrecError|SourceError|SchemaError|CorruptRecordError): (.+)", text)
    reason = found[-1].strip() if found else (text.strip().splitlines() or [type(e).__name__])[-1]
    return TfrecError(f"the Beam pipeline failed: {reason}")


@dataclass(frozen=True)
class _Store:
    """Runs fn on one (index, task) and stores the pickled result where the launcher collects it."""

    fn: Callable
    results: str

    def __call__(self, item: tuple[int, Any]) -> int:
        i, task = item
        fs.write_atomic(fs.join(self.results, f"{i:08d}.pkl"), pickle.dumps(self.fn(task)))
        return i


def map_on_beam(fn: Callable, tasks: Sequence, options: Sequence[str] = (), workers: int = 0) -> list:
    """fn over tasks as Beam work units (one task each); results in task order.

    Results travel back through files: a local temporary folder on the DirectRunner, or under
    the `temp_location` Beam option (a URL every worker can write) on a remote runner. They are
    this run's own results, written moments before by its own workers, so pickle is safe here.

    Raises:
        TfrecError: Beam is not installed, bad options, or the pipeline failed.
    """
    flags = beam_flags(options, workers)
    given = dict(f[2:].partition("=")[::2] for f in flags)
    temp = given.get("temp_location")
    results = fs.join(temp, f"tfrec-{uuid.uuid4().hex}") if temp else tempfile.mkdtemp(prefix="tfrec-beam-")
    beam, pipeline = make_pipeline(flags)
    try:
        with pipeline as p:
            (p | "Tasks" >> beam.Create(list(enumerate(tasks)), reshuffle=False)
               | "Reshuffle" >> beam.Reshuffle()
               | "Run" >> beam.Map(_Store(fn, results)))
        return [pickle.loads(fs.read_bytes(fs.join(results, f"{i:08d}.pkl"))) for i in range(len(tasks))]
    except TfrecError:
        raise
    except Exception as e:
        raise worker_error(e) from e
    finally:
        if fs.is_url(results):
            for name in fs.listdir(results):
                fs.remove(fs.join(results, name))
        else:
            shutil.rmtree(results, ignore_errors=True)
