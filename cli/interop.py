"""`tfrec fetch` and `tfrec export-tfds`: meet the other tools (download the classic datasets, describe outputs for TFDS)."""
from __future__ import annotations

import click

from tfrec.sources.fetch import DATASETS, MIRROR_ENV

from ._common import emit, json_option, quiet_option


def _dataset_name(ctx, param, value):
    if value not in DATASETS:  # looked up when called, so the registry stays the one list of names
        raise click.BadParameter(f"{value!r} is not a dataset tfrec can fetch; known: {', '.join(DATASETS)}", ctx, param)
    return value


@click.command()
@click.argument("name", callback=_dataset_name)
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--mirror", "mirrors", multiple=True, metavar="URL",
              help=f"Download from this base URL (http://, https:// or file://) or existing local folder instead "
                   f"of the built-in URLs ({{name}} becomes the dataset name; repeatable; default ${MIRROR_ENV}).")
@click.option("--retries", type=click.IntRange(min=1), default=5, show_default=True,
              help="Attempts per file (each tries every URL, resuming; the wait doubles from 1 s).")
@json_option
@quiet_option
def fetch(name, directory, mirrors, retries, as_json, quiet):
    """Download a classic dataset (binary versions) into DIRECTORY, checked against pinned SHA-256 sums.

    NAME is one of: mnist, fashion_mnist, kmnist, cifar10, cifar100.

    DIRECTORY defaults to the cache that `tfrec convert NAME OUT` uses (~/.cache/tfrec/NAME, or
    $TFREC_CACHE/NAME). Interrupted downloads resume (HTTP Range, with If-Range so that a file changed
    since comes whole); a resumed file that fails its checksum is downloaded once more from the first
    byte. A server announcing another size than the pinned one is refused before anything is written,
    and nothing is read past the pinned size. A file whose checksum does not match is deleted and
    reported, never converted.

    \b
    Examples:
      tfrec fetch mnist data/mnist && tfrec convert data/mnist out/mnist
      tfrec fetch cifar10 data/cifar10 --mirror https://mirror.example.org/datasets/{name}
      tfrec fetch mnist data/mnist --mirror /srv/mirror/{name}
    """
    import os

    from tfrec.sources.fetch import cache_dir
    from tfrec.sources.fetch import fetch as run

    result = run(name, directory or os.path.join(cache_dir(), name), mirrors=mirrors, retries=retries,
                 progress=not (quiet or as_json))
    lines = [f"fetched {name} into {result['dir']} in {result['seconds']:.2f} s"]
    lines += [f"  {os.path.basename(f['file'])}: {f['bytes']:,} bytes, sha256 ok ({f['status']})" for f in result["files"]]
    emit(result, as_json, "\n".join(lines))


@click.command("export-tfds")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@json_option
@quiet_option
def export_tfds(dataset, as_json, quiet):
    """Write TensorFlow Datasets metadata into an existing tfrec DATASET directory.

    Adds dataset_info.json, features.json and LABEL.labels.txt beside the shards, so that
    tfds.builder_from_directory(DATASET).as_dataset(split="train", as_supervised=True) reads it.
    `tfrec convert` writes them already; this is for datasets converted before it did.
    Needs no TensorFlow Datasets install.

    \b
    Example:
      tfrec export-tfds out/mnist
    """
    from tfrec.write.tfds import write_tfds_metadata

    result = {"dataset": dataset, **write_tfds_metadata(dataset)}
    human = f"wrote {', '.join(result['files'])} into {dataset}"
    if result["left_out"]:
        human += f"\n  left out of features.json (variable length): {', '.join(result['left_out'])}"
    emit(result, as_json, human)
