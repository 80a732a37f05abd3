"""`tfrec bench`: the benchmark group; `bench read` (the streaming reader's throughput on your data) and
`bench train` (the model trained from four inputs: how much the input holds it back)."""
from __future__ import annotations

import os

import click

from tfrec.read.options import DTYPES, FITS
from tfrec.training.options import FRAMEWORKS

from ._common import (augment_option, batch_size_option, deprecated_alias, emit, image_size_option,
                      import_tensorflow_quietly, json_option, mixed_precision_option, quiet_option, schema_option,
                      seed_option, sigterm_as_interrupt, skip_corrupt_option, split_option, steps_per_epoch_option,
                      zoo_model_option)


def stage_lines(name: str, stages: list[dict], rounds: int) -> list[str]:
    """A pipeline's stages: the rate up to each, and each stage's own CPU cost (they add up to the whole's)."""
    measured = "1 round" if rounds == 1 else f"medians of {rounds} interleaved rounds"
    lines = [f"  {name} stages, images/s up to each ({measured}): " + ", ".join(
        f"{s['stage']} {s['images_per_s']:,.0f}" for s in stages)]
    if stages[-1].get("cpu_us_per_image") is None or "adds_cpu_us_per_image" not in stages[-1]:
        return lines
    lines.append(f"    CPU µs per image, each stage's own (they add up to the whole pipeline's "
                 f"{stages[-1]['cpu_us_per_image']:.1f}): " + ", ".join(
                     f"{s['stage']} {s['adds_cpu_us_per_image']:.1f}" + (" (within noise)" if s["within_noise"] else "")
                     for s in stages))
    return lines


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
        rounds = len(r["stages"][0].get("rounds", {}).get("images_per_s") or [1])
        lines += stage_lines("reader", r["stages"], rounds)
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
@split_option("train", "Split of a tfrec dataset.")
@schema_option("Schema for TFRecords without dataset.json: a JSON file or a built-in name.")
@batch_size_option(256)
@click.option("--batches", type=click.IntRange(min=1),
              help="Batches to time, repeating the data if needed [default: one epoch].")
@augment_option()
@image_size_option("Resize to", "the stored size; needed for images of varying size")
@click.option("--fit", type=click.Choice(FITS), default="stretch", show_default=True,
              help="How --image-size is reached.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option("--shuffle/--no-shuffle", default=True, show_default=True)
@seed_option("Seed: shuffling and augmentation repeat exactly.")
@click.option("--cache", is_flag=True, help="Cache the serialized records in memory.")
@skip_corrupt_option()
@click.option("--stages/--no-stages", default=True, show_default=True, help="Also time each cumulative stage.")
@click.option("--stage-rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Rounds of the stage timings, interleaved; with 2 or more a stage whose cost is within the "
                   "rounds' spread says so.")
@json_option
@quiet_option
def read(path, split, schema, batch_size, batches, augment, image_size, fit, dtype, shuffle, seed, cache, skip_corrupt,
         stages, stage_rounds, as_json, quiet):
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
        path, split, batch_size, batches, stages=stages, stage_rounds=stage_rounds, progress=not (quiet or as_json),
        schema=schema,
        augment=augment, image_size=image_size and image_size[::-1], fit=fit, dtype=dtype, shuffle=shuffle, seed=seed, cache=cache,
        skip_corrupt=skip_corrupt,
    )
    emit(result, as_json, read_summary(result))


MODE_LABELS = {"synthetic": "synthetic (one batch, again and again)", "tfrec": "tfrec (from storage)",
               "tfrec_cached": "tfrec, records cached in memory", "tutorial": "tutorial pipeline"}


def _gpu(m: dict) -> str:
    g = m["gpu"]
    return "no GPU" if not g else (f"{g['util_mean_pct']:.0f}% (p10 {g['util_p10_pct']:.0f}, p50 {g['util_p50_pct']:.0f}), "
                                   f"{g['peak_memory_mb']:,.0f} MB")


def headline_miss(why: dict) -> str:
    """One sentence on why tfrec / synthetic fell short (benchmark_train's `targets[...]["why"]`)."""
    stage = "read (fetching from storage)" if why["stage"] == "read" else why["stage"]
    text = (f"below 0.95, limited by {stage}: fetching from storage lost {100 * why['fetch_loss']:.1f}% of the "
            f"synthetic rate (tfrec cached -> tfrec), preparing {100 * why['prepare_loss']:.1f}% (synthetic -> "
            f"tfrec cached). The step waited for input {why['input_stall_pct']:.1f}% of the time and took "
            f"{why['step_p50_vs_synthetic']:.2f}x the synthetic step (p50)")
    if why["cause"] == "slower step":
        costly = (f"costliest preparing stage {why['costliest_prepare_stage']}, "
                  f"{why['costliest_prepare_stage_cpu_us']:.1f} CPU µs/image" if why["costliest_prepare_stage"]
                  else "no preparing stage cost above the noise")
        cores = "?" if why["reader_cores"] is None else f"{why['reader_cores']:.3f}"
        text += (": the loss is in the step, which shares the cores with the reader's threads and its I/O "
                 f"(the reader needed {cores} cores; {costly})")
    if why["synthetic_spread"]:
        text += f"; the synthetic rate itself varied {why['synthetic_spread']:.2f}x between rounds"
    return text


def train_bench_summary(r: dict) -> str:
    """The human report of `bench train`: the modes, the headline ratio, limits, stages, capacity."""
    size = "x".join(map(str, r["image_size"][::-1]))
    lines = [f"{r['model']} on {r['path']} ({r['split']}), {size}, batch {r['batch_size']}, augment {r['augment']}; "
             f"{r['steps']} timed steps per mode after {r['warmup_steps']}, {r['rounds']} alternating round(s), "
             f"medians; {r['gpu'] or 'no GPU (CPU: the reader and the model share the cores)'}",
             f"  {'mode':<38} {'images/s':>9} {'spread':>7} {'step p50/p95 ms':>17} {'stall':>7}  GPU utilisation"]
    for mode, m in r["modes"].items():
        spread = "-" if m.get("spread") is None else f"{100 * m['spread']:.0f}%"
        lines.append(f"  {MODE_LABELS[mode]:<38} {m['images_per_s']:>9,.0f} {spread:>7} "
                     f"{m['step_ms_p50']:>8.1f}/{m['step_ms_p95']:<8.1f} {m['input_stall_pct']:>6.1f}%  {_gpu(m)}")
    if r.get("plain"):
        lines += plain_lines(r)
    lines.append("  start-up (first wait of the timed epoch): " + ", ".join(
        f"{mode} {m['first_wait_s']:.2f} s" for mode, m in r["modes"].items()))
    ratios = r["ratios"]
    if "tfrec_vs_synthetic" in ratios:
        lines.append(f"  headline: tfrec / synthetic = {ratios['tfrec_vs_synthetic']:.3f} "
                     "(1.0: the input never holds the model back" + ("; above 1 is noise: see the warnings below)"
                                                                     if ratios["tfrec_vs_synthetic"] > 1 else ")"))
    why = r["targets"].get("tfrec_vs_synthetic", {}).get("why")
    if why:
        lines.append("  " + headline_miss(why))
    if "tfrec_vs_tutorial" in ratios:
        lines.append(f"  tfrec / tutorial: {ratios['tfrec_vs_tutorial']:.2f}x in training, "
                     f"{ratios['reader_tfrec_vs_tutorial']:.2f}x as readers alone")
    for mode, lim in r["limits"].items():
        if lim["cause"] == "contention":
            lines.append(f"  {mode} waits for input ({r['modes'][mode]['input_stall_pct']:.1f}% stall) although its "
                         f"pipeline alone gives {lim['pipeline_images_per_s']:,.0f} images/s, {1 / lim['shortfall']:,.0f}x "
                         f"the model's {lim['model_images_per_s']:,.0f}: the reader and the step share the cores; "
                         f"its costliest stage is {lim['stage']} ({lim['adds_us_per_image']:.1f} µs/image)")
            continue
        lines.append(f"  {mode} is input-bound: stage {lim['stage']} limits it (adds {lim['adds_us_per_image']:.1f} "
                     f"µs/image); its pipeline gives {lim['pipeline_images_per_s']:,.0f} images/s, the model takes "
                     f"{lim['model_images_per_s']:,.0f} ({lim['shortfall']:.2f}x)")
    if not r["limits"]:
        lines.append("  no mode is input-bound (every input stall <= 5%)")
    for name, stages in r["stages"].items():
        lines += stage_lines(name, stages, r.get("stage_rounds", 1))
    cap = r["capacity"]
    lines.append(f"  capacity: {cap['arithmetic']}; per core: " + ", ".join(
        f"{s['stage']} {s['images_per_s_per_core']:,}/s" for s in cap["stages"] if s["images_per_s_per_core"]))
    for name, reader in (r.get("readers") or {}).items():
        lines.append(f"  {name} pipeline alone with {reader['workers']} worker processes: "
                     f"{reader['images_per_s']:,.0f} images/s (stage rates above: in this process, one core)")
    if r.get("cache"):
        lines.append(f"  tfrec cached: {r['cache']['method']} ({r['cache']['bytes'] / 1e6:,.1f} MB)")
    pc = r["page_cache"]
    if pc["dropped"] and pc["method"]:
        lines.append(f"  page cache: dropped with {pc['method']} before each timed tfrec epoch "
                     f"(resident {100 * (pc['resident_before'] or 0):.0f}% -> {100 * (pc['resident_after'] or 0):.0f}%)")
    else:
        lines.append("  page cache: not dropped (tfrec mode may read from memory)")
    lines += [f"  warning: {w}" for w in r.get("warnings", [])]
    return "\n".join(lines)



def plain_lines(r: dict) -> list[str]:
    """The honest-pace row of the PyTorch and JAX paths: the plain loop's images/s and synthetic / plain."""
    p, ratio = r["plain"], r["ratios"]["synthetic_vs_plain"]
    target = r["targets"]["synthetic_vs_plain"]
    p95 = "-" if p["step_ms_p95"] is None else f"{p['step_ms_p95']:.1f}"
    name = "plain JAX loop (no tfrec code)" if r.get("framework") == "jax" else "plain PyTorch loop (no tfrec code)"
    return [f"  {name:<38} {p['images_per_s']:>9,.0f} {'':>7} "
            f"{p['step_ms_p50']:>8.1f}/{p95:<8} {'-':>7}  {p['optimizer']}, {p['precision']}, {p['device']}"
            + (", channels-last" if p["channels_last"] else ""),
            f"  synthetic / plain loop = {ratio:.3f} (target >= {target['wanted']}: "
            f"{'met' if target['met'] else 'missed'}; the trainer's own cost per step)"]


def sweep_summary(s: dict) -> str:
    lines = [f"  sweep ({s['steps']} steps each): {'dimension':<20} {'setting':>9} {'reader/s':>10} {'model/s':>9} "
             f"{'tfrec/s':>9} {'stall':>7}  GPU"]
    for row in s["rows"]:
        gpu = "no GPU" if row["gpu_util_mean_pct"] is None else f"{row['gpu_util_mean_pct']:.0f}%"
        lines.append(f"  {'':<24} {row['dimension']:<20} {row['setting']:>9} {row['reader_images_per_s']:>10,.0f} "
                     f"{row['synthetic_images_per_s']:>9,.0f} {row['tfrec_images_per_s']:>9,.0f} "
                     f"{row['input_stall_pct']:>6.1f}%  {gpu}")
    return "\n".join(lines)


QUICK = {"steps": 8, "warmup_steps": 2, "rounds": 1, "stage_batches": 5}


@bench.command("train")
@click.argument("path", type=click.Path(file_okay=False))  # a directory or URL: tfrec.open_dataset decides
@zoo_model_option()
@batch_size_option(128)
@steps_per_epoch_option("Steps of each mode's timed epoch, per round (after the warm-up) [default: 30; 8 with "
                        "--quick].", min=2)
@deprecated_alias("--steps", "--steps-per-epoch", "steps_per_epoch", type=click.IntRange(min=2))
@click.option("--rounds", type=click.IntRange(min=1), help="Alternating rounds of the modes [default: 3; 1 with --quick].")
@click.option("--stage-batches", type=click.IntRange(min=1),
              help="Batches each stage is timed for, in each of 3 rounds [default: 20; 5 with --quick].")
@augment_option()
@image_size_option("Train at")
@click.option("--parallelism", type=click.IntRange(min=1),
              help="The reader's num_parallel_calls for every stage [default: the per-image decode at 2x the cores, "
                   "the other stages AUTOTUNE].")
@split_option("train", "Split to train on.")
@mixed_precision_option()
@click.option("--drop-cache/--no-drop-cache", default=True, show_default=True,
              help="Evict the shards from the page cache before each timed tfrec epoch (posix_fadvise).")
@click.option("--quick", is_flag=True,
              help="A short run for checks and CI: 8 steps, 1 round, 5 batches per stage (in 3 rounds).")
@click.option("--sweep", is_flag=True, help="Also sweep reader parallelism, batch size and augmentation preset.")
@click.option("--chart", type=click.Path(dir_okay=False), help="Write a PNG chart: the sweep's, or the modes'.")
@click.option("--framework", type=click.Choice(FRAMEWORKS),
              help="Which framework trains: tf (tf.data + Keras), torch (tfrec.torch.loader + PyTorch) or jax "
                   "(tfrec's access-layer reader + Keras 3 on JAX) [default: tf when TensorFlow is installed, else "
                   "torch, else jax].")
@click.option("--decode-device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="--framework torch: where the loader decodes JPEGs (cuda: on the GPU, with torchvision's "
                   "decode_jpeg).")
@json_option
@quiet_option
def train(path, model, batch_size, steps_per_epoch, rounds, stage_batches, augment, image_size, parallelism, split,
          mixed_precision, drop_cache, quick, sweep, chart, framework, decode_device, as_json, quiet):
    """Train a zoo model on PATH from four inputs and say how much the input holds it back.

    \b
    Modes, run in alternating rounds, each through the trainer's compiled step and monitors:
      synthetic     one batch fed again and again: how fast the model alone steps
      tfrec         the streaming reader, shards evicted from the page cache first
      tfrec_cached  the same reader with the serialized records in memory
      tutorial      TFRecordDataset -> parse_single_example -> decode -> augment per image -> batch
    With --framework torch the reader is tfrec.torch.loader (--parallelism: its worker processes,
    default one per core), tfrec_cached reads a copy of the shards in /dev/shm, the tutorial is the
    `tfrecord` package's reader + a DataLoader, the stages are timed in one process, and each round
    also runs a plain PyTorch loop on the synthetic batch: synthetic / plain (target >= 0.9) is the
    trainer's own cost. No TensorFlow is imported on that path. With --framework jax the same Keras
    models run on Keras 3's JAX backend: the reader is tfrec's access layer in threads (--parallelism),
    the tutorial is Grain's DataLoader over tfrec.grain.source, and the plain loop is a jit-compiled
    Keras-on-JAX loop (no --sweep there in this release).
    The headline is tfrec / synthetic (1.0: the input never holds the model back). The gap
    tfrec_cached -> tfrec is fetching; synthetic -> tfrec_cached is preparing (parse, decode,
    augment). Where a mode is input-bound (stall > 5%) the report names the limiting stage, from
    per-stage rates measured in the same run (as `tfrec bench read`), and says how many CPU cores
    the reader needs for the model's synthetic rate. GPU utilisation comes from NVML; without a
    GPU it says "no GPU" (null in --json).

    A bar on stderr names the mode and round running and the time elapsed (-q or --json: none).
    Each mode's rounds and their spread are reported; a ratio to synthetic above 1 (which no input
    can reach) or rounds more than 10% apart bring a warning ("warnings" in --json). Each stage's
    own CPU cost is derived so that the stages add up to the whole pipeline, and a stage whose cost
    is within the rounds' noise says so.

    \b
    Examples:
      tfrec bench train out/cifar10 --model cifar_cnn --augment cifar
      tfrec bench train out/photos --model resnet50 --image-size 224 --augment imagenet --mixed-precision
      tfrec bench train out/cifar10 --quick --sweep --chart sweep.png --json
      tfrec bench train out/cifar10 --framework torch --model resnet20 --augment cifar --chart modes.png
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfrec.bench.options import TrainBenchOptions
    from tfrec.training.frameworks import require

    framework = require(framework)  # exit 2 for a framework not installed
    if sweep and framework == "jax":
        raise click.UsageError("--sweep is not available with --framework jax in this release")
    if decode_device != "cpu" and framework != "torch":
        raise click.UsageError(f"--decode-device {decode_device} needs --framework torch (tf.data decodes on the CPU)")
    given = {k: v for k, v in (("steps", steps_per_epoch), ("rounds", rounds), ("stage_batches", stage_batches))
             if v is not None}
    options = TrainBenchOptions(model=model, batch_size=batch_size, augment=augment, split=split,
                                image_size=image_size and image_size[::-1], num_parallel_calls=parallelism,
                                mixed_precision=mixed_precision, drop_cache=drop_cache, decode_device=decode_device,
                                progress=not (quiet or as_json), **{**(QUICK if quick else {}), **given})
    if framework == "torch":
        from tfrec.bench.torch.train import benchmark_train
    elif framework == "jax":
        from tfrec.bench.jax.train import benchmark_train
    else:
        import_tensorflow_quietly()
        from tfrec.bench.train import benchmark_train

    with sigterm_as_interrupt():
        result = benchmark_train(path, options)
        human = train_bench_summary(result)
        if sweep:
            if framework == "torch":
                from tfrec.bench.torch.sweep import sweep_train
            else:
                from tfrec.bench.sweep import sweep_train

            result["sweep"] = sweep_train(path, options)
            human += "\n" + sweep_summary(result["sweep"])
    if chart:
        from tfrec.bench.chart import modes_chart, sweep_chart

        result["chart"] = sweep_chart(result["sweep"], chart) if sweep else modes_chart(result, chart)
        human += f"\n  chart: {chart}"
    emit(result, as_json, human)
