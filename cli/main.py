"""The Click group: shared flags, error-to-exit-code mapping, and the commands."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any, Iterator

import click

from tfrec._version import __version__
from tfrec.errors import ConversionInterrupted, TfrecError


class TfrecGroup(click.Group):
    """Maps TfrecError to exit code 1 with a one-line message; Click's usage errors keep code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConversionInterrupted as e:
            click.echo(str(e), err=True)
            ctx.exit(130)
        except TfrecError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


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

    Those lines come from C++ before logging is set up, so TF_CPP_MIN_LOG_LEVEL alone cannot hide
    them; stderr is pointed at /dev/null for the import only. An import error still propagates.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def emit(result: Any, as_json: bool, human: str) -> None:
    """Prints the JSON result on stdout with --json, else the human summary on stderr."""
    if as_json:
        click.echo(json.dumps(result, indent=None, default=str))
    elif human:
        click.echo(human, err=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON result on stdout.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary.")


@click.group(cls=TfrecGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tfrec")
def cli() -> None:
    """Convert image datasets to sharded TFRecords, verify and inspect them, stream them fast.

    \b
    Start with:  tfrec demo            (makes sample data, converts it, shows the result)
                 tfrec convert SRC OUT (MNIST IDX, CIFAR-10/100 binary, or an image folder)
    Every command takes --json. Exit codes: 0 ok, 1 a data problem, 2 a usage error.
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tfrec")


from . import bench, check, convert  # noqa: E402,F401  (register the commands on `cli`)


if __name__ == "__main__":  # `python -m tfrec.cli.main`: run the registered group, not this copy's
    from tfrec.cli.main import main as _main

    _main()
