"""The commands: each parses its options, calls one tfrec function, and renders the result."""
from __future__ import annotations

import click

from tfrec.codec.images import MAX_PIXELS
from tfrec.io.records import COMPRESSIONS
from tfrec.sources import FITS, FORMATS, LABEL_MODES, SourceOptions
from tfrec.sources.fetch import DATASETS

from ._common import (SCHEMA_RULE, counted, emit, import_tensorflow_quietly, json_option, parse_wxh, quiet_option,
                      runner_options, seed_option, sigterm_as_interrupt, workers_option)


def _split_spec(ctx, param, value):
    if not value:
        return None
    from tfrec.errors import TfrecError
    from tfrec.write.plan import parse_split_spec

    try:
        return tuple(parse_split_spec(value).items())
    except TfrecError as e:
        raise click.BadParameter(str(e))


def _shard_size(ctx, param, value):
    if value is None:
        return None
    from tfrec.errors import TfrecError
    from tfrec.write.plan import parse_size

    try:
        return parse_size(value)
    except TfrecError as e:
        raise click.BadParameter(str(e))


def _dataset_name(ctx, param, value):
    if value is None:
        return None
    from tfrec.errors import TfrecError
    from tfrec.write.plan import check_dataset_name

    try:
        return check_dataset_name(value, "--name")
    except TfrecError as e:
        raise click.BadParameter(str(e).removeprefix("--name "))


def _sources(ctx, param, value):
    """SRC paths must exist (or match a glob); one SRC that is no path but a fetchable name is kept as a name."""
    import glob
    import os

    from tfrec.io.fs import is_url

    if len(value) == 1 and not os.path.exists(value[0]) and value[0] in DATASETS:
        return value
    for p in value:
        if not is_url(p) and not os.path.exists(p) and not (glob.has_magic(p) and glob.glob(p)):
            raise click.BadParameter(
                f"{p!r}: no such file, directory or matching glob (nor a dataset tfrec can fetch: {', '.join(DATASETS)})",
                ctx, param)
    return value


def fetch_named_source(src: tuple[str, ...], quiet: bool) -> tuple[tuple[str, ...], dict | None]:
    """A SRC that names a fetchable dataset (and is no path here) is fetched into the cache first, saying so."""
    import os

    from tfrec.sources.fetch import cache_dir, fetch

    if len(src) != 1 or os.path.exists(src[0]) or src[0] not in DATASETS:
        return src, None
    dest = os.path.join(cache_dir(), src[0])
    if not quiet:
        click.echo(f"{src[0]}: no such path here, so fetching the {src[0]} dataset into {dest} (kept as a cache)", err=True)
    fetched = fetch(src[0], dest, progress=not quiet)
    return (dest,), fetched


_counted = counted

# Names of ignored files shown in the summary; dataset.json lists the first 100 (and the count).
SUMMARY_IGNORED = 5


def _ignored_line(result: dict) -> str:
    count, names = result["ignored_files"], result.get("ignored") or []
    shown = ", ".join(names[:SUMMARY_IGNORED])
    more = count - min(len(names), SUMMARY_IGNORED)
    tail = f" and {more:,} more (listed in dataset.json)" if more and shown else ""
    return f"  ignored {_counted(count, 'file')} without an image extension" + (f": {shown}{tail}" if shown else "")


# Annotation events (clipped or dropped boxes, rotated images, size disagreements) named in the summary, per kind.
SUMMARY_EVENTS = 5


def _annotation_lines(result: dict) -> list[str]:
    """A detection layout's task, label map and every clipped or dropped box, rotation and size disagreement."""
    a = result["annotations"]
    names = result.get("label_names") or []
    lines = [f"  task {result.get('task')}: {len(names):,} class{'' if len(names) == 1 else 'es'} in {result.get('label_map')} "
             f"(ids 1..{len(names)})"]
    kinds = (("clipped", a["boxes_clipped"], "box clipped to the image", "boxes clipped to the image"),
             ("dropped", a["boxes_dropped"], "box dropped", "boxes dropped"),
             ("rotated", a["images_rotated"], "image stored upright (EXIF orientation)",
              "images stored upright (EXIF orientation)"),
             ("size", a["size_disagreements"], "image whose annotated size differs from its decoded size",
              "images whose annotated size differs from their decoded size"))
    for kind, count, one, many in kinds:
        if not count:
            continue
        by = a["dropped_by_reason"] if kind == "dropped" else {}
        reasons = f" ({', '.join(f'{r}: {n:,}' for r, n in by.items())})" if by else ""
        lines.append(f"  {count:,} {one if count == 1 else many}{reasons}:")
        shown = [e for e in a["events"] if e["event"] == kind][:SUMMARY_EVENTS]
        for e in shown:
            obj = f" object {e['object']}" if "object" in e else ""
            lines.append(f"    {e['path']}{obj}: {e['reason']}")
        if count > len(shown):
            lines.append(f"    ... and {count - len(shown):,} more (dataset.json lists the first "
                         f"{len(a['events']):,} events, counts all)")
    if not a["boxes_clipped"] and not a["boxes_dropped"]:
        lines.append("  every box inside its image: none clipped or dropped")
    return lines


def convert_summary(result: dict) -> str:
    """The human summary of a conversion: splits, shards, records, bytes, skipped and ignored files, notes."""
    lines = [f"wrote {result['out']} ({result['name']}, {result['source']['format']}) in {result['seconds']:.2f} s"]
    for name, s in result["splits"].items():
        lines.append(f"  {name:<8} {_counted(s['records'], 'record', 9)} {_counted(len(s['shards']), 'shard', 4)} "
                     f"{s['bytes'] / 1e6:>9.2f} MB")
    if result.get("resize"):
        r = result["resize"]
        lines.append(f"  resized to {r['width']}x{r['height']} (fit: {r['fit']})")
    if result["skipped"]:
        lines.append(f"  skipped {_counted(len(result['skipped']), 'bad file')}:")
        lines += [f"    {s['path']}: {s['reason']}" for s in result["skipped"][:20]]
        if len(result["skipped"]) > 20:
            lines.append(f"    ... and {len(result['skipped']) - 20} more (all listed in dataset.json)")
    if result.get("annotations"):
        lines += _annotation_lines(result)
    lines += [f"  warning: {w}" for w in result.get("warnings", [])]
    lines += [f"  note: {n}" for n in result.get("notes", [])]
    if result.get("reused_shards"):
        reused = result["reused_shards"]
        shards = _counted(reused, "complete shard") if isinstance(reused, int) else f"{reused} complete shards"
        lines.append(f"  resumed: reused {shards} from the interrupted run")
    if result["ignored_files"]:
        lines.append(_ignored_line(result))
    tfds = result.get("tfds")
    if tfds and tfds.get("skipped"):
        lines.append(f"  no TFDS metadata: {tfds['skipped']}")
    elif tfds:
        lines.append("  TFDS metadata written: tfds.builder_from_directory(OUT) loads it")
    return "\n".join(lines)


@click.command()
@click.argument("src", nargs=-1, required=True, callback=_sources)
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(("auto",) + FORMATS),
              default="auto", show_default=True, help="Source format; auto detects it from the files.")
@click.option("--name", callback=_dataset_name,
              help="Dataset name, used in shard file names NAME-SPLIT.tfrecord-...: lowercase letters, digits and _ "
                   "(default: an image folder's name made so, e.g. 'My Photos' -> my_photos; else the format).")
@click.option("--shards", type=click.IntRange(min=1), help="Shards per split (default: from --shard-size or ~100 MB files).")
@click.option("--shard-size", callback=_shard_size, help="Largest shard, e.g. 128MB (instead of --shards).")
@click.option("--compression", type=click.Choice(COMPRESSIONS), default="none", show_default=True)
@click.option("--split", "split", callback=_split_spec, help="Re-split the train split, e.g. train=0.9,val=0.1 (stratified by class).")
@click.option("--shuffle/--no-shuffle", default=True, show_default=True, help="Write records in a seeded random order.")
@seed_option("Seed for shuffling and splitting: same seed, same bytes.", default=0)
@workers_option("Processes for image folders (0: one per core when re-encoding, else 1).")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty OUT.")
@click.option("--resume", is_flag=True, help="Finish an interrupted conversion into OUT, reusing its complete shards.")
@click.option("--resize", callback=parse_wxh, help="Re-encode images at WIDTHxHEIGHT (or N for NxN), e.g. 224x224; see --fit.")
@click.option("--fit", type=click.Choice(FITS),
              help="How --resize treats another aspect ratio (default: crop): crop keeps the largest centred part "
                   "of WIDTHxHEIGHT's aspect ratio (Keras' crop_to_aspect_ratio), stretch scales each side on its "
                   "own, pad fits the whole picture inside and fills the rest with black (the reader's fit names).")
@click.option("--labels", type=click.Choice(LABEL_MODES), default="inferred", show_default=True,
              help="Image folders, as Keras' labels=: inferred from the class folders (images directly in SRC beside "
                   "them are left out and listed), or none: every image under SRC, recursively, without labels "
                   "(labels=None). A folder of images with no class folders is read unlabelled either way.")
@click.option("--encode", type=click.Choice(["jpeg", "png"]), help="Re-encode images in this format.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality when re-encoding.")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="skip", show_default=True,
              help="Bad image files: skip and list them, or stop with no dataset.json.")
@click.option("--follow-symlinks", is_flag=True, help="Follow symlinks that lead out of the source tree.")
@click.option("--exif/--ignore-exif", "exif_transpose", default=True, show_default=True,
              help="Store EXIF-rotated JPEGs upright (re-encoded), or keep their bytes as they are.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=MAX_PIXELS, show_default=True,
              help="Skip (or fail on) images with more pixels than this: a decompression-bomb guard.")
@click.option("--schema", "schema", help="A schema JSON file or built-in name to use instead of the format's own. " + SCHEMA_RULE)
@click.option("--subset", help="Which IDX set to read when SRC holds several, e.g. digits for EMNIST's "
                                "emnist-digits-train-images-idx3-ubyte.gz (the full prefix works too).")
@click.option("--image-column", help="Parquet: the image column (default: image or img, or the only binary column).")
@click.option("--label-column", help="Parquet: the label column (default: label, labels or fine_label).")
@click.option("--tfds/--no-tfds", "tfds", default=True, show_default=True,
              help="Also write dataset_info.json and features.json so tfds.builder_from_directory(OUT) loads OUT.")
@runner_options
@json_option
@quiet_option
def convert(src, out, fmt, name, shards, shard_size, compression, split, shuffle, seed, workers, overwrite, resume,
            resize, fit, labels, encode, quality, on_error, follow_symlinks, exif_transpose, max_pixels, schema, subset, image_column,
            label_column, tfds, runner, beam_options, as_json, quiet):
    """Convert SRC into sharded TFRecords in OUT.

    SRC is MNIST IDX files, CIFAR-10/100 binaries, an image folder, Parquet files (Hugging Face
    datasets among them; several files, a folder or a glob), a Keras .npz archive, or a detection
    layout: COCO (annotations/instances_{split}{year}.json), Pascal VOC (Annotations/, JPEGImages/),
    YOLO (images/, labels/, data.yaml) or a CSV manifest (filename,width,height,class,xmin,ymin,xmax,ymax;
    or filename,label[,label...] for classification and multi-label). A SRC that is
    no path here but one of the names `tfrec fetch` knows is downloaded into the cache first
    (~/.cache/tfrec, or $TFREC_CACHE).

    OUT gets TFDS-style shards NAME-SPLIT.tfrecord-00000-of-0000N (NAME: --name, else an image
    folder's name in snake_case, else the format; never more shards than records), one DALI-style .idx index per
    shard, the TFDS metadata (dataset_info.json, features.json) and dataset.json (written last: a
    directory without it is incomplete). SRC and OUT may be URLs (gs://, s3://: pip install
    'tfrec[gcs]' or 'tfrec[s3]'); --runner beam writes the same bytes as an Apache Beam pipeline
    (the DirectRunner here; Dataflow, Flink or Spark through --beam-option).

    Detection layouts are written with the TensorFlow Object Detection API's keys (image/encoded,
    image/object/bbox/xmin..., class/label 1-based) and a label_map.pbtxt beside dataset.json
    (--schema instance_segmentation adds a PNG mask per object, semantic_segmentation a class mask).
    Boxes that overhang the image by at most 2% of its side are clipped; boxes further outside, with
    non-finite coordinates or zero/negative size after clipping are dropped; crowd and difficult
    objects are kept and flagged. Each clip and drop is counted by reason and listed by file in the
    summary and dataset.json. EXIF-rotated JPEGs are stored upright (re-encoded: Pillow has no lossless
    transpose) with their boxes taken as drawn on the upright view; an annotated size that differs from
    the decoded size is reported per image and the boxes are normalised by the decoded size.

    \b
    Examples:
      tfrec convert ~/data/mnist out/mnist
      tfrec convert cifar-10-binary.tar.gz out/cifar10 --shards 8
      tfrec convert photos/ out/photos --split train=0.9,val=0.1 --resize 224x224
      tfrec convert photos/ out/photos --resize 224x224 --fit pad   (whole pictures, black bars)
      tfrec convert data/*.parquet out/beans --image-column image --label-column labels
      tfrec convert ~/.keras/datasets/mnist.npz out/mnist
      tfrec convert fashion_mnist out/fashion     (fetches it first)
      tfrec convert photos/ s3://bucket/photos --runner beam
      tfrec convert coco/ out/coco --format coco           (annotations/instances_val2017.json + val2017/)
      tfrec convert coco/ out/coco-masks --schema instance_segmentation
    """
    from tfrec.write.convert import ConvertOptions
    from tfrec.write.convert import convert as run

    if fit and not resize:
        raise click.UsageError("--fit needs --resize (it says how images reach that size)")
    src, fetched = fetch_named_source(src, quiet or as_json)
    if fetched:
        fmt = fetched["format"] if fmt == "auto" else fmt
        name = name or fetched["name"]
    reading = SourceOptions(
        resize=resize, fit=fit or "crop", encode=encode, quality=quality, on_error=on_error,
        follow_symlinks=follow_symlinks, exif_transpose=exif_transpose, max_pixels=max_pixels, subset=subset,
        image_column=image_column, label_column=label_column, labels=labels,
    )
    options = ConvertOptions(
        format=fmt, name=name, shards=shards, shard_size=shard_size, compression=compression, split=split,
        shuffle=shuffle, seed=seed, workers=workers, overwrite=overwrite, resume=resume, schema=schema,
        tfds_metadata=tfds, progress=not (quiet or as_json), runner=runner, beam_options=beam_options, source=reading,
    )
    with sigterm_as_interrupt():
        result = run(src[0] if len(src) == 1 else list(src), out, options)
    if fetched:
        result["fetched"] = fetched
    emit(result, as_json, convert_summary(result))


@click.command()
@click.argument("directory", default="tfrec-demo", type=click.Path(file_okay=False))
@click.option("--kind", type=click.Choice(["classification", "detection"]), default="classification",
              show_default=True, help="classification: MNIST, CIFAR-10 and a JPEG folder, then a short training run; "
                                      "detection: coloured shapes with known boxes in the COCO layout, converted "
                                      "with the Object Detection API's keys and a label_map.pbtxt.")
@json_option
@quiet_option
def demo(directory, kind, as_json, quiet):
    """Make small sample datasets (MNIST IDX, CIFAR-10 binary, a JPEG folder), convert each, train on the digits.

    Everything is generated here, deterministically: rendered digits and coloured shapes, small
    enough to finish in seconds and learnable enough to train on. DIRECTORY (default tfrec-demo)
    gets sources/ and datasets/. With --kind detection: 200 images of squares, circles and triangles
    with their boxes and polygons (COCO layout), converted to a detection dataset and verified.
    """
    from tfrec.demo.demo import run_demo, run_detection_demo

    if kind == "detection":
        result = run_detection_demo(directory, progress=not (quiet or as_json))
        emit(result, as_json, result["summary"])
        return
    import_tensorflow_quietly()  # the demo ends with a short training run
    result = run_demo(directory, progress=not (quiet or as_json))
    emit(result, as_json, result["summary"])
