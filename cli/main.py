"""The Click group: shared flags, error-to-exit-code mapping, and the commands."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from tfrec._version import __version__
from tfrec.errors import Interrupted, TfrecError, UsageError

# Command name -> the module under cli/ that defines it and the function's name there. A command's
# module is imported when the command runs (or --help lists it), so `tfrec convert` does not load
# verify's, the reader's or the trainer's modules: that took ~0.1 s of every convert's start-up.
COMMANDS = {
    "convert": ("convert", "convert"), "verify": ("check", "verify"), "inspect": ("check", "inspect"),
    "view": ("view", "view"), "bench": ("bench", "bench"), "train": ("train", "train"),
    "evaluate": ("train", "evaluate"), "predict": ("train", "predict"), "serve-data": ("serve", "serve_data"),
    "demo": ("convert", "demo"), "fetch": ("interop", "fetch"), "export-tfds": ("interop", "export_tfds"),
}

# Commands that do no linear algebra: NumPy's OpenBLAS need not start a thread per core when NumPy is
# imported (65 ms of wall time of `import numpy` here, 172 vs 107 ms, measured alternately 15 times).
# A value the user set is kept.
NO_BLAS_THREADS = {"convert"}


class TfrecGroup(click.Group):
    """Loads each command's module on first use; maps TfrecError to exit code 1 with a one-line message.

    Click's usage errors keep code 2.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            import importlib

            module, attr = COMMANDS[name]
            if name in NO_BLAS_THREADS and "numpy" not in sys.modules:
                os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attr), name)
        return self.commands.get(name)

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
    Every command takes --json (only JSON on stdout) and -q (no progress; the result still prints).
    Sizes are WIDTHxHEIGHT (or N); --split names the split a command reads; --model a zoo
    architecture, --model-file a .keras file. Exit codes: 0 ok, 1 a data problem, 2 a usage error.
    """



def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tfrec")


if __name__ == "__main__":
    main()
