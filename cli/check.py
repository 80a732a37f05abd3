"""`tfrec verify` and `tfrec inspect`: prove a dataset is intact; show what is inside any TFRecord files."""
from __future__ import annotations

import click

from tfrec.check.verify import LEVELS

from ._common import (augment_option, emit, existing_paths, import_tensorflow_quietly, json_option, quiet_option,
                      read_compression_option, runner_options, schema_option, seed_option, split_option,
                      workers_option)


@click.command()
@click.argument("paths", nargs=-1, required=True, callback=existing_paths, metavar="PATH...")
@click.option("--level", type=click.Choice(LEVELS), default="parse", show_default=True,
              help="framing: both CRCs of every record, truncation, trailing bytes. parse: also every record "
                   "is a tf.train.Example matching the schema. decode: also images decode and labels are in range.")
@click.option("--deep", is_flag=True, help="Same as --level decode.")
@schema_option("Check foreign files against this schema: a built-in name or a JSON file.")
@read_compression_option()
@click.option("--no-dataset", is_flag=True, help="Check the records only, not their agreement with dataset.json and .idx files.")
@click.option("--no-checksums", is_flag=True, help="Skip the whole-file checksums (the slowest dataset check).")
@click.option("--max-errors", type=click.IntRange(min=1), default=100, show_default=True,
              help="Stop listing (and checking a file) after this many problems.")
@workers_option("Processes checking shards in parallel (0: automatic).")
@runner_options
@json_option
@quiet_option
@click.pass_context
def verify(ctx, paths, level, deep, schema, compression, no_dataset, no_checksums, max_errors, workers, runner,
           beam_options, as_json, quiet):
    """Check that tfrec datasets or any TFRecord files are intact; list every problem.

    PATH is a tfrec output directory (with dataset.json), a directory of TFRecord files, a file, or
    a glob such as 'data/*.tfrecord*' (plain, GZIP or ZLIB; detected), or a URL of one (gs://, s3://;
    checked on a fresh local copy). --runner beam checks each shard as a Beam work unit. Each problem names the file,
    the record index and the byte offset. Exit code 0: clean; 1: problems found; 2: usage error.

    \b
    Examples:
      tfrec verify out/mnist
      tfrec verify out/photos --deep
      tfrec verify 'tfds/mnist/3.0.1/*.tfrecord*' --json
    """
    from tfrec.check.verify import VerifyOptions
    from tfrec.check.verify import verify as run

    options = VerifyOptions(
        level="decode" if deep else level, dataset=not no_dataset, checksums=not no_checksums, schema=schema,
        compression=None if compression == "auto" else compression, max_errors=max_errors, workers=workers,
        progress=not (quiet or as_json), runner=runner, beam_options=beam_options,
    )
    report = run(paths, options)
    emit(report.to_json(), as_json, report.summary())
    if not report.ok:
        ctx.exit(1)


@click.command()
@click.argument("paths", nargs=-1, required=True, callback=existing_paths, metavar="PATH...")
@click.option("--samples", type=click.IntRange(min=0), default=0, show_default=True,
              help="Print the first N records readably (long bytes summarised).")
@click.option("--grid", type=click.Path(dir_okay=False), help="Write a contact sheet PNG of images with their labels.")
@click.option("--grid-images", type=click.IntRange(min=1), default=36, show_default=True, help="Images on the contact sheet.")
@augment_option("Show the contact sheet's images as this augmentation preset makes them (needs TensorFlow).", None)
@seed_option("Seed for --augment.", default=0)
@split_option("train", "Split to draw --augment samples from.")
@click.option("--catalog", type=click.Path(dir_okay=False),
              help="Write one Parquet row per record (shard, index, offset, length, label, height, width, format, bytes).")
@click.option("--html", type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report (images inlined): the summary, charts, samples per class.")
@click.option("--save-schema", type=click.Path(dir_okay=False),
              help="Write the schema (inferred, for foreign files) in the schemas/ JSON format.")
@click.option("--sample-records", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Records read to infer the schema of foreign files.")
@read_compression_option()
@workers_option("Processes reading shards in parallel (0: automatic).")
@json_option
@quiet_option
@click.pass_context
def inspect(ctx, paths, samples, grid, grid_images, augment, seed, split, catalog, html, save_schema, sample_records,
            compression, workers, as_json, quiet):
    """Show what is inside tfrec datasets or any TFRecord files.

    For a tfrec dataset (a directory with dataset.json): its schema, splits, shards, label histogram
    with class names, image formats and sizes, bytes per record. For other TFRecord files (paths,
    directories or globs; plain, GZIP or ZLIB): record counts (from the .idx if present, else a
    framing scan) and a schema inferred from sample records, which --save-schema writes out.
    Exit code 1 if a record could not be read.

    \b
    Examples:
      tfrec inspect out/mnist --samples 3 --grid mnist.png
      tfrec inspect 'tfds/mnist/3.0.1/*.tfrecord*' --save-schema mnist.json
      tfrec inspect out/photos --catalog photos.parquet --json
      tfrec inspect out/cifar10 --augment cifar --grid augmented.png
      tfrec inspect out/photos --html report.html
    """
    from tfrec.check.inspect import InspectOptions
    from tfrec.check.inspect import inspect as run

    if augment:
        import_tensorflow_quietly()

    options = InspectOptions(
        samples=samples, sample_records=sample_records, grid=grid, grid_images=grid_images, augment=augment,
        seed=seed, split=split, catalog=catalog,
        save_schema=save_schema, compression=None if compression == "auto" else compression, workers=workers,
        progress=not (quiet or as_json),
    )
    report = run(paths, options)
    result, human = report.to_json(), report.summary()
    if html:
        from tfrec.view.report import write_html_report

        written = write_html_report(report, html)
        result["written"]["html"] = written.to_json()
        human += f"\nwrote html: {written.path} ({written.images} images, {written.bytes / 1e3:,.0f} KB)"
    emit(result, as_json, human)
    if report.problems:
        ctx.exit(1)
