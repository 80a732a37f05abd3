"""`tfrec bench`: the benchmark group, and `bench read`, the streaming reader's throughput on your data."""
from __future__ import annotations

import os

import click

from tfrec.read.augment import PRESETS
from tfrec.read.options import DTYPES, FITS

from ._common import emit, import_tensorflow_quietly, json_option, parse_wxh, quiet_option, SCHEMA_RULE


def read_summary(r: dict) -> str:
    """The human summary of a read benchmark: throughput, start-up, memory, stages, skips."""
    size = "x".join(map(str, r["image_size"][::-1])) if r["image_size"] else "stored size"
    lines = [
        f"{r['path']} ({r['split']}), batches of {r['batch_size']}, augment {r['augment']}, {size}, {r['dtype']}: "
        f"timed {r['images']:,} images in {r['batches']:,} batches after the first",
        f"  {r['images_per_s']:>12,.0f} images/s   {r['mb_per_s']:,.1f} MB/s of shards   "
        f"peak memory {r['peak_rss_mb']:,.0f} MB",
        f"  first batch after {r['first_batch_s']:.2f} s (opening files, filling the shuffle buffer); "
        f"{r['overall_images_per_s']:,.0f} images/s counting it",
    ]
    if r["teardown_s"] > 0.5:
        lines.append(f"  (closing the iterator took {r['teardown_s']:.1f} s more: TensorFlow's autotuner, not counted)")
    if r.get("stages"):
        lines.append("  stage (cumulative)   images/s")
        lines += [f"    {s['stage']:<18} {s['images_per_s']:>10,.0f}" for s in r["stages"]]
    if r["skip_corrupt"]:
        lines.append(f"  skipped {r['records_skipped']} damaged records")
        lines += [f"    {d['path']}: record {d['index']} at byte {d['offset']}: {d['reason']}"
                  for d in r["damaged"][:10]]
    return "\n".join(lines)


@click.group()
def bench() -> None:
    """Measure tfrec's speed on your data and this machine."""


@bench.command("read")
@click.argument("path")
@click.option("--split", default="train", show_default=True, help="Split of a tfrec dataset.")
@click.option("--schema", help="Schema for TFRecords without dataset.json: a JSON file or a built-in name. " + SCHEMA_RULE)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--batches", type=click.IntRange(min=1),
              help="Batches to time, repeating the data if needed [default: one epoch].")
@click.option("--augment", type=click.Choice(list(PRESETS)), default="none", show_default=True,
              help="Augmentation preset.")
@click.option("--image-size", callback=parse_wxh,
              help="Resize to N or WIDTHxHEIGHT (needed for images of varying size).")
@click.option("--fit", type=click.Choice(FITS), default="stretch", show_default=True,
              help="How --image-size is reached.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option("--shuffle/--no-shuffle", default=True, show_default=True)
@click.option("--seed", type=int, help="Seed: shuffling and augmentation repeat exactly.")
@click.option("--cache", is_flag=True, help="Cache the serialized records in memory.")
@click.option("--skip-corrupt", is_flag=True, help="Skip damaged records and count them instead of failing.")
@click.option("--stages/--no-stages", default=True, show_default=True, help="Also time each cumulative stage.")
@json_option
@quiet_option
def read(path, split, schema, batch_size, batches, augment, image_size, fit, dtype, shuffle, seed, cache, skip_corrupt,
         stages, as_json, quiet):
    """Time the tf.data reader (tfrec.make_dataset) on PATH: images/s, MB/s, memory, per-stage figures.

    PATH is a tfrec dataset directory, or TFRecord files (a file, directory or glob) with --schema.
    The first batch (start-up: opening files, filling the shuffle buffer) is timed apart.

    \b
    Examples:
      tfrec bench read out/cifar10
      tfrec bench read out/photos --image-size 224 --augment imagenet --batches 50 --json
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO lines would interleave the bar
    import_tensorflow_quietly()
    from tfrec.bench.read import benchmark_read

    result = benchmark_read(
        path, split, batch_size, batches, stages=stages, progress=not (quiet or as_json), schema=schema,
        augment=augment, image_size=image_size and image_size[::-1], fit=fit, dtype=dtype, shuffle=shuffle, seed=seed, cache=cache,
        skip_corrupt=skip_corrupt,
    )
    emit(result, as_json, "" if quiet else read_summary(result))
