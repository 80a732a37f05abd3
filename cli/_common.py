"""What every command shares: the shared options (one spelling each), result output, SIGTERM handling,
quiet TensorFlow import, WxH sizes."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
from typing import Any, Callable, Iterator

import click
from click.core import ParameterSource

# The one spelling and one order of each concept, across commands and the Python API (issue 24);
# tests/cli/test_consistency.py walks every command and checks them.
OPTION_RULES = """
- Every command takes --json (only JSON on stdout) and -q/--quiet (no progress; the result still prints).
- --split names the one split a command reads (convert: the splits it writes, NAME=FRACTION,...); a command
  that reads two names them --train-split and --val-split.
- --model names a zoo architecture, where a command builds one (train, bench train); --model-file is a
  .keras FILE from `tfrec train --export`, where a command loads one (evaluate, predict).
- --steps-per-epoch: batches per epoch, as Keras' fit(steps_per_epoch=) (train; bench train's timed epoch).
- Sizes on the command line are WIDTHxHEIGHT, or N for NxN, as image tools write them (640x480), and
  summaries print them so; in Python they are (height, width), as Keras' image_size; array shapes are
  printed HxWxC and labelled so, as TensorFlow's shapes are.
- --batch-size, --seed, --augment, --skip-corrupt, --mixed-precision, --schema, --compression, --workers
  mean the same wherever they appear, and are defined once, here.
- An old spelling stays accepted as a hidden, deprecated alias (DeprecatedAlias) that prints one line on
  stderr naming the new one; giving both is a usage error.
"""

json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON result on stdout.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars (the result is still printed).")


def split_option(default: str | None = "train", help: str = "Split to read.") -> Callable:
    """--split: the one split a command reads."""
    return click.option("--split", default=default, show_default=default is not None, help=help)


def batch_size_option(default: int) -> Callable:
    return click.option("--batch-size", type=click.IntRange(min=1), default=default, show_default=True,
                        help="Images per batch.")


def seed_option(help: str, default: int | None = None) -> Callable:
    return click.option("--seed", type=int, default=default, show_default=default is not None, help=help)


def image_size_option(what: str, default: str = "the stored size") -> Callable:
    """--image-size N or WIDTHxHEIGHT (the callback gives (width, height); Python APIs take (height, width))."""
    return click.option("--image-size", callback=parse_wxh, metavar="WIDTHxHEIGHT",
                        help=f"{what} N or WIDTHxHEIGHT, e.g. 224 or 320x240 [default: {default}].")


def augment_option(help: str = "Augmentation preset.", default: str | None = "none") -> Callable:
    from tfrec.read.augment import PRESETS  # not at module top: convert imports this module and needs no reader

    return click.option("--augment", type=click.Choice(list(PRESETS)), default=default,
                        show_default=default is not None, help=help)


def skip_corrupt_option(help: str = "Skip damaged records (counted in the result) instead of stopping.") -> Callable:
    return click.option("--skip-corrupt", is_flag=True, help=help)


def mixed_precision_option() -> Callable:
    return click.option("--mixed-precision", is_flag=True, help="float16 compute on a GPU (tf: ignored on a CPU; torch: "
                                                          "bfloat16 autocast, on a CPU too, float16 on GPUs without bfloat16).")


def zoo_model_option() -> Callable:
    """--model: an architecture of the zoo, for the commands that build a model."""
    from tfrec.training.zoo import MODELS

    return click.option("--model", type=click.Choice(list(MODELS)),
                        help="Zoo architecture [default: chosen from the image size].")


def framework_option(help: str) -> Callable:
    """--framework tf|torch|jax: which backend runs (the names only: no framework is imported here)."""
    from tfrec.training.options import FRAMEWORKS

    return click.option("--framework", type=click.Choice(FRAMEWORKS), help=help)


def model_file_option() -> Callable:
    """--model-file FILE (required), with --model, its old spelling in evaluate and predict, kept as an alias."""
    path = click.Path(exists=True, dir_okay=False)

    def decorate(fn):
        fn = deprecated_alias("--model", "--model-file", "model_file", required=True, type=path,
                              why="--model names a zoo architecture, in train and bench train")(fn)
        return click.option("--model-file", type=path, metavar="FILE",
                            help="A .keras (TensorFlow) or .pt (PyTorch) FILE from tfrec train --export.  [required]")(fn)

    return decorate


def steps_per_epoch_option(help: str, min: int = 1) -> Callable:
    return click.option("--steps-per-epoch", type=click.IntRange(min=min), help=help)


def schema_option(help: str) -> Callable:
    return click.option("--schema", help=f"{help} {SCHEMA_RULE}")


def read_compression_option() -> Callable:
    from tfrec.io.records import COMPRESSIONS

    return click.option("--compression", type=click.Choice(("auto",) + COMPRESSIONS), default="auto",
                        show_default=True, help="auto: dataset.json's, or detected per file.")


def workers_option(help: str) -> Callable:
    return click.option("--workers", type=click.IntRange(min=0), default=0, help=help)


class DeprecatedAlias(click.Option):
    """An option's old spelling: hidden from --help, still accepted; `new` is the spelling to use."""

    def __init__(self, *args, new: str, **kwargs):
        super().__init__(*args, hidden=True, **kwargs)
        self.new = new


def deprecated_alias(old: str, new: str, dest: str, required: bool = False, why: str = "the same option",
                     **kwargs) -> Callable:
    """Keeps `old` working for the option spelled `new` (parameter `dest`), with a one-line note on stderr.

    Giving both is a usage error; with `required`, one of the two must be given (the new option itself
    must then not be required in Click).
    """
    hidden = f"{dest}_old_{old.lstrip('-').replace('-', '_')}"

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **params):
            value = params.pop(hidden)
            if value is not None:
                if click.get_current_context().get_parameter_source(dest) not in (None, ParameterSource.DEFAULT):
                    raise click.UsageError(f"{old} is the old name of {new}: give {new} only")
                click.echo(f"note: {old} is deprecated; use {new} ({why})", err=True)
                params[dest] = value
            if required and params.get(dest) is None:
                raise click.UsageError(f"Missing option '{new}'.")
            return fn(*args, **params)

        return click.option(old, hidden, cls=DeprecatedAlias, new=new, **kwargs)(wrapper)

    return decorate


def existing_paths(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Click callback: PATH arguments must exist or be a glob that matches; otherwise a usage error (exit code 2)."""
    import glob

    from tfrec.io.fs import is_url

    for p in value:
        if not is_url(p) and not os.path.exists(p) and not (any(c in p for c in "*?[") and glob.glob(p)):
            raise click.BadParameter(f"{p!r}: no such file, directory or matching glob", ctx, param)
    return value


def counted(n: int, noun: str, width: int = 0) -> str:
    """'1 file', '2 files' (the count right-aligned in `width`, the noun padded to its plural's length)."""
    word = noun if n == 1 else noun + "s"
    return f"{n:>{width},} {word:<{len(noun) + 1}}" if width else f"{n:,} {word}"


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
    """Click callback for sizes: 'WxH' (or 'N' for N x N) -> (width, height), in the order the user writes them.

    Python APIs take (height, width), as Keras' image_size: a command reverses the pair when it calls one."""
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
