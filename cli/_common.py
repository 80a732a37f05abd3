"""What every command shares: --json/--quiet, result output, SIGTERM handling, quiet TensorFlow import, WxH sizes."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any, Iterator

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON result on stdout.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars (the result is still printed).")


def existing_paths(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Click callback: PATH arguments must exist or be a glob that matches; otherwise a usage error (exit code 2)."""
    import glob

    from tfrec.io.fs import is_url

    for p in value:
        if not is_url(p) and not os.path.exists(p) and not (any(c in p for c in "*?[") and glob.glob(p)):
            raise click.BadParameter(f"{p!r}: no such file, directory or matching glob", ctx, param)
    return value


def emit(result: Any, as_json: bool, human: str) -> None:
    """Prints the result on stdout: JSON with --json, else the human summary (so `> file`, `| grep` work).

    Progress bars, logs and warnings go to stderr; --quiet silences those, never the result.
    """
    if as_json:
        click.echo(json.dumps(result, indent=None, default=str))
    elif human:
        click.echo(human)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treats SIGTERM like Ctrl-C inside the block, so long work stops through the same clean path."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside some test runners): leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up banner (oneDNN, CPU-feature lines) kept off the terminal.

    tfrec._tfimport does it (the library's own quiet import); a command hides C++ warnings too
    (TF_CPP_MIN_LOG_LEVEL 2, unless set), as its output is the point. An import error still propagates.
    """
    from tfrec._tfimport import import_tensorflow_quietly as quietly

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quietly()


def parse_wxh(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> tuple[int, int] | None:
    """Click callback for sizes: 'WxH' (or 'N' for N x N) -> (width, height), in the order the user writes them."""
    if value is None:
        return None
    try:
        parts = [int(v) for v in value.lower().split("x")]
        if len(parts) not in (1, 2) or min(parts) < 1:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected N or WIDTHxHEIGHT such as 224 or 320x240, not {value!r}")
    return (parts[0], parts[-1])

# How --schema is read (tfrec.codec.schema.load_schema), said the same way by every command that takes it.
SCHEMA_RULE = ("A built-in name (mnist, cifar10, cifar100, imagefolder) wins over a file or folder of that name "
               "here; a path ending in .json or holding a / is read as a file.")

def runner_options(fn):
    """--runner local|beam and --beam-option KEY=VALUE (repeatable): the shards as Beam work units."""
    fn = click.option("--beam-option", "beam_options", multiple=True, metavar="KEY=VALUE",
                      help="A Beam pipeline option (repeatable), e.g. runner=DataflowRunner, project=P, "
                           "region=R, temp_location=gs://B/tmp. Default: the DirectRunner, 2 worker processes.")(fn)
    return click.option("--runner", type=click.Choice(["local", "beam"]), default="local", show_default=True,
                        help="local: a process pool here; beam: an Apache Beam pipeline, one shard per work unit "
                             "(pip install 'tfrec[beam]').")(fn)


def path_or_url(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> str | None:
    """A local path that must exist, or a URL (gs://, s3://, memory://, ...) checked when it is read."""
    from tfrec.io.fs import is_url

    if value is None or is_url(value) or os.path.exists(value):
        return value
    raise click.BadParameter(f"{value!r}: no such file or directory", ctx, param)
