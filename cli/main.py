"""The Click group: shared flags, error-to-exit-code mapping, and the commands."""
from __future__ import annotations

from typing import Any

import click

from tfrec._version import __version__
from tfrec.errors import Interrupted, TfrecError, UsageError

from .bench import bench
from .check import inspect, verify
from .convert import convert, demo
from .interop import export_tfds, fetch
from .serve import serve_data
from .view import view
from .train import evaluate, predict, train


class TfrecGroup(click.Group):
    """Maps TfrecError to exit code 1 with a one-line message; Click's usage errors keep code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as e:
            click.echo(str(e), err=True)
            ctx.exit(130)
        except UsageError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)
        except TfrecError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=TfrecGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tfrec")
def cli() -> None:
    """Convert image datasets to sharded TFRecords, verify and inspect them, stream them fast.

    \b
    Start with:  tfrec demo            (makes sample data, converts it, shows the result)
                 tfrec convert SRC OUT (MNIST IDX, CIFAR-10/100 binary, an image folder, Parquet, .npz,
                                        or a dataset name such as mnist: fetched first)
                 tfrec train OUT       (a bundled model, fed by the streaming reader)
    Every command takes --json. Exit codes: 0 ok, 1 a data problem, 2 a usage error.
    """


for command in (convert, verify, inspect, view, bench, train, evaluate, predict, serve_data, demo, fetch,
                export_tfds):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tfrec")


if __name__ == "__main__":
    main()
