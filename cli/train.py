"""`tfrec train`, `tfrec evaluate`, `tfrec predict`: the bundled trainer's commands."""
from __future__ import annotations

import click

from tfrec.training.options import LR_SCHEDULES, OPTIMIZERS, STRATEGIES

from ._common import (augment_option, batch_size_option, counted, emit, framework_option, image_size_option,
                      import_tensorflow_quietly, json_option, mixed_precision_option, model_file_option, quiet_option, seed_option,
                      sigterm_as_interrupt, skip_corrupt_option, split_option, steps_per_epoch_option,
                      zoo_model_option)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _num(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def train_summary(r: dict) -> str:
    """The final table of a run: per epoch loss, accuracy, validation, images/s and input stall; then the totals.

    The run's first step (compiled on its first call) is start-up, not in the figures; '-' where an epoch
    has no timed step."""
    d, o = r["data"], r["overall"]
    size = "x".join(map(str, d["image_size"][::-1]))  # WIDTHxHEIGHT, as the command line takes it
    lines = [f"trained {r['model']} on {d['path']} ({d['train_split']}, {d['train_records'] or '?'} records, {size} "
             f"images with {d['channels']} channel{'' if d['channels'] == 1 else 's'}, {d['num_classes']} classes) "
             f"in {r['seconds']:.1f} s"]
    if r["resumed_from"]:
        lines.append(f"  resumed from {r['resumed_from']['checkpoint']} (epoch {r['resumed_from']['epoch']}, "
                     f"step {r['resumed_from']['step']})")
    if r.get("compile_s"):
        lines.append(f"  start-up {r['startup_s']:.1f} s, compiling the step {r['compile_s']:.1f} s of it (tracing, "
                     "and its first run: kept out of the figures below)")
    lines.append(f"  {'epoch':>5} {'loss':>8} {'acc':>8} {'val loss':>9} {'val acc':>8} {'images/s':>9} {'stall':>7}"
                 f" {'wait p50/p95 ms':>16} {'step p50/p95 ms':>16}")
    for e in r["epochs"]:
        stall = "-" if e["input_stall_pct"] is None else f"{e['input_stall_pct']:.1f}%"
        lines.append(f"  {e['epoch']:>5} {_num(e['loss'], '.4f'):>8} {_pct(e['accuracy']):>8} "
                     f"{_num(e.get('val_loss'), '.4f'):>9} {_pct(e.get('val_accuracy')):>8}"
                     f" {_num(e['images_per_s'], ',.0f'):>9} {stall:>7}"
                     f" {_num(e['wait_ms_p50'], '.2f'):>7}/{_num(e['wait_ms_p95'], '.2f'):<8}"
                     f" {_num(e['step_ms_p50'], '.2f'):>7}/{_num(e['step_ms_p95'], '.2f'):<8}")
    if o.get("timed_steps", o.get("steps")) and o["input_stall_pct"] is not None:
        lines.append(f"  input stall {o['input_stall_pct']:.1f}% of {o['wall_s']:.1f} s training "
                     f"({o['wait_s']:.2f} s waiting for batches, {o['step_s']:.2f} s in steps); "
                     f"{o['images_per_s']:,.0f} images/s")
    else:
        lines.append("  input stall -: no step was timed after the first")
    gpu = r["gpu"]
    lines.append("  GPU: " + ("no GPU" if not gpu else
                              f"utilisation mean {gpu[-1]['util_mean_pct']}% (p10 {gpu[-1]['util_p10_pct']}%, "
                              f"p50 {gpu[-1]['util_p50_pct']}%), peak memory {gpu[-1]['peak_memory_mb']:,.0f} MB"))
    stats = r["read_stats"]
    if stats.get("records_skipped"):
        lines.append(f"  skipped {stats['records_skipped']} damaged records:")
        lines += [f"    {x['path']}: record {x['index']} at byte {x['offset']}: {x['reason']}" for x in stats["damaged"][:10]]
    if r["checkpoint"]:
        lines.append(f"  checkpoint {r['checkpoint']}")
    for kind, path in (r["exported"] or {}).items():
        if path:
            lines.append(f"  exported {kind}: {path}")
    lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(file_okay=False))  # a directory or URL: tfrec.open_dataset decides
@zoo_model_option()
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@steps_per_epoch_option("Batches per epoch [default: one pass].")
@batch_size_option(64)
@image_size_option("Train at")
@augment_option()
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate [default: 0.05 sgd, 0.001 adam/adamw].")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="constant", show_default=True)
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Linear learning-rate warm-up.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--train-split", default="train", show_default=True, help="Split to train on.")
@click.option("--val-split", help="Validation split [default: val or test when the dataset has one]; '' for none.")
@skip_corrupt_option()
@click.option("--logdir", type=click.Path(file_okay=False), help="Write TensorBoard logs here.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False),
              help="Checkpoint every epoch here; a later run resumes from the latest one.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), help="Also checkpoint every N steps.")
@click.option("--export", type=click.Path(dir_okay=False),
              help="Save the trained model to this file: .keras (tf, jax), or .pt (torch: the state dict, with its "
                   "config and preprocessing in a .json beside it).")
@click.option("--saved-model", is_flag=True, help="With --export, also write a SavedModel directory beside it.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="Local weights file (mobilenet_v2/resnet50: the base's no-top weights). Nothing is downloaded.")
@click.option("--freeze-base", is_flag=True, help="Train only the new head (mobilenet_v2, resnet50).")
@click.option("--fine-tune-at", type=click.IntRange(min=0), help="Unfreeze the base from this layer on.")
@mixed_precision_option()
@click.option("--strategy", type=click.Choice(STRATEGIES), default="auto", show_default=True,
              help="tf.distribute: auto uses all local GPUs (mirrored) when there are several; multi_worker "
                   "trains across machines (the cluster from TF_CONFIG), each worker reading its own files. "
                   "--framework torch trains on one device (auto only).")
@seed_option("Seed weights, order and augmentation.")
@click.option("--deterministic", is_flag=True, help="With --seed: identical weights run after run (slower ops).")
@framework_option("Backend: tf (Keras, read by tf.data), torch (native PyTorch modules, read by tfrec.torch's loader, "
                  "no TensorFlow needed), jax (the same Keras models on Keras 3's JAX backend, a jit-compiled step, "
                  "read by tfrec.access; no TensorFlow needed) [default: tf when TensorFlow is installed, else torch, "
                  "else jax].")
@json_option
@quiet_option
def train(path, model, epochs, steps_per_epoch, batch_size, image_size, augment, optimizer, lr, lr_schedule,
          warmup_epochs, weight_decay, label_smoothing, train_split, val_split, skip_corrupt, logdir, checkpoint_dir,
          checkpoint_every, export, saved_model, weights, freeze_base, fine_tune_at, mixed_precision, strategy, seed,
          deterministic, framework, as_json, quiet):
    """Train a zoo model on the tfrec dataset PATH, and say how long each step waited for input.

    Reads through tfrec.make_dataset (--framework tf) or tfrec.torch.loader (--framework torch); every
    step's wait for its batch and the step itself are timed (on a GPU, after the device finishes the step).
    "input stall" is the share of training time spent waiting for batches: near 0% means the model,
    not the data pipeline, sets the pace.

    \b
    Examples:
      tfrec train out/mnist --epochs 3
      tfrec train out/cifar10 --model resnet20 --augment cifar --optimizer sgd --lr-schedule cosine \\
          --warmup-epochs 1 --logdir runs/c10 --checkpoint-dir ckpt/c10 --export c10.keras
      tfrec train out/mnist --framework torch --epochs 3 --checkpoint-dir ckpt/mnist --export mnist.pt
    """
    from tfrec.training.frameworks import TRAIN_READY, require
    from tfrec.training.options import TrainOptions
    from tfrec.training.zoo import TrainUsageError

    framework = require(framework, TRAIN_READY)  # exit code 2, one line, before any framework is imported
    try:
        options = TrainOptions(
            model=model, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
            image_size=image_size and image_size[::-1], augment=augment, optimizer=optimizer, lr=lr,
            lr_schedule=lr_schedule, warmup_epochs=warmup_epochs, weight_decay=weight_decay,
            label_smoothing=label_smoothing, train_split=train_split, val_split=val_split, skip_corrupt=skip_corrupt,
            logdir=logdir, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, export=export,
            saved_model=saved_model, weights=weights, freeze_base=freeze_base, fine_tune_at=fine_tune_at,
            mixed_precision=mixed_precision, strategy=strategy, seed=seed, deterministic=deterministic,
            progress=not (quiet or as_json), framework=framework)
    except TrainUsageError as e:
        raise click.UsageError(str(e))
    if framework == "torch":
        from tfrec.training.torch.loop import train as run
    elif framework == "jax":
        from tfrec.training.jax.loop import train as run
    else:
        import_tensorflow_quietly()
        from tfrec.training.loop import train as run

    with sigterm_as_interrupt():
        result = run(path, options).to_json()
    emit(result, as_json, train_summary(result))  # --quiet silences the progress bars, not the result


def model_framework_of(model_file: str, framework: str | None) -> str:
    """The backend that loads `model_file`: the file's own (a .keras file is TensorFlow's, or Keras 3 on JAX's with
    --framework jax or without TensorFlow; a .pt PyTorch's), checked against --framework when given and to be
    installed (TrainUsageError, exit code 2)."""
    from tfrec.training.frameworks import TRAIN_READY, installed, model_framework, require
    from tfrec.training.zoo import TrainUsageError

    needs = model_framework(model_file)
    if needs == "tf" and (framework == "jax" or (framework is None and not installed("tf") and installed("jax"))):
        return require("jax", TRAIN_READY)
    if framework is not None and framework != needs:
        raise TrainUsageError(f"--framework {framework}, but {model_file} is a {needs} model "
                              f"({'a .keras file' if needs == 'tf' else 'a torch state dict'}); "
                              f"use --framework {needs}, or leave it out")
    return require(needs)


def evaluate_summary(r: dict) -> str:
    """Loss, accuracy, top-5 and the per-class table."""
    lines = [f"{r['model']} on {r['path']} ({r['split']}, {r['records']:,} records): loss {r['loss']:.4f}, "
             f"accuracy {_pct(r['accuracy'])}" + (f", top-5 {_pct(r['top5_accuracy'])}" if r["top5_accuracy"] is not None else "")]
    lines.append(f"  {'class':<20} {'records':>8} {'accuracy':>9}")
    lines += [f"  {c['name'][:20]:<20} {c['records']:>8,} {_pct(c['accuracy']):>9}" for c in r["per_class"]]
    if r["confusion_png"]:
        lines.append(f"  confusion matrix: {r['confusion_png']}")
    if r["read_stats"]["records_skipped"]:
        lines.append(f"  skipped {r['read_stats']['records_skipped']} damaged records")
    lines += [f"  note: {n}" for n in r.get("notes", [])]
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(file_okay=False))  # a directory or URL: tfrec.open_dataset decides
@model_file_option()
@split_option(None, "Split to evaluate [default: test, else val, else the dataset's only split, saying so: it may "
                    "be the training data].")
@batch_size_option(256)
@click.option("--confusion", type=click.Path(dir_okay=False), help="Write a confusion-matrix picture (PNG) here.")
@skip_corrupt_option()
@framework_option("Backend that loads the model [default: the model file's: .keras tf (jax without TensorFlow), "
                  ".pt torch].")
@json_option
@quiet_option
def evaluate(path, model_file, split, batch_size, confusion, skip_corrupt, framework, as_json, quiet):
    """Evaluate an exported model on a split of PATH: loss, accuracy, top-5, per-class accuracy.

    Images are resized to the model's size as in training; greyscale goes into a colour model as 3 equal
    channels; colour into a greyscale model is refused (exit code 2), as `predict` refuses it.

    \b
    Example:
      tfrec evaluate out/cifar10 --model-file c10.keras --confusion confusion.png
      tfrec evaluate out/mnist --model-file mnist.pt
    """
    framework = model_framework_of(model_file, framework)
    if framework == "torch":
        from tfrec.training.torch.evaluate import evaluate as run
    elif framework == "jax":
        from tfrec.training.jax.evaluate import evaluate as run
    else:
        import_tensorflow_quietly()
        from tfrec.training.evaluate import evaluate as run

    result = run(path, model_file, split, batch_size, confusion, skip_corrupt)
    emit(result, as_json, evaluate_summary(result))  # --quiet: no progress; the result is the summary


def predict_summary(r: dict, csv_path: str | None = None) -> str:
    """A line per image (its top classes), then the files skipped and ignored, as convert lists them."""
    lines = [f"{p['file']}: " + ", ".join(f"{t['name']} {100 * t['probability']:.1f}%" for t in p["top"])
             for p in r["predictions"]]
    if not r["predictions"]:
        lines.append("no image could be read: nothing predicted")
    if r["skipped"]:
        lines.append(f"skipped {counted(len(r['skipped']), 'bad file')}:")
        lines += [f"  {s['path']}: {s['reason']}" for s in r["skipped"][:SHOWN_SKIPPED]]
        if len(r["skipped"]) > SHOWN_SKIPPED:
            lines.append(f"  ... and {len(r['skipped']) - SHOWN_SKIPPED:,} more (all listed with --json)")
    if r["ignored_files"]:
        shown = ", ".join(r["ignored"][:5])
        more = r["ignored_files"] - min(len(r["ignored"]), 5)
        lines.append(f"ignored {counted(r['ignored_files'], 'file')} without an image extension: {shown}"
                     + (f" and {more:,} more" if more else ""))
    if csv_path:
        lines.append(f"wrote {csv_path} ({counted(len(r['predictions']), 'row')})")
    return "\n".join(lines)


SHOWN_SKIPPED = 20  # skipped files named in the summary; --json lists them all


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True), metavar="PATH...")
@model_file_option()
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Classes shown per image.")
@batch_size_option(32)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a CSV: file, class, name, probability of the top class, then class_2, name_2, "
                   "probability_2 ... for the rest of the top-k.")
@click.option("--follow-symlinks", is_flag=True, help="Follow symlinks that lead out of a folder given.")
@framework_option("Backend that loads the model [default: the model file's: .keras tf (jax without TensorFlow), "
                  ".pt torch].")
@json_option
@quiet_option
@click.pass_context
def predict(ctx, paths, model_file, top_k, batch_size, csv_path, follow_symlinks, framework, as_json, quiet):
    """Top-k classes for image files, and for every image under folders (recursively), prepared exactly
    as in training (the settings are stored in the model).

    Each file is read as `tfrec convert` reads one in an image folder (the same checks and messages,
    EXIF rotation). A file named that cannot be read is an error (exit code 1); one found in a folder
    is skipped and listed with convert's reason, and files without an image extension are ignored,
    as convert does. Greyscale goes into a colour model as 3 equal channels; a colour image into a
    greyscale model is refused (exit code 2), as `evaluate` refuses such a dataset. With --json, one
    JSON document: {"predictions": [{"file", "top": [{"class", "name", "probability"}]}], "skipped":
    [{"path", "reason"}], "ignored", "ignored_files"}. Exit code 1 when no image could be read.

    \b
    Examples:
      tfrec predict --model-file c10.keras cat.png dog.jpg
      tfrec predict --model-file photos.keras ~/Pictures --csv predictions.csv -q
      tfrec predict --model-file mnist.pt digit.png
    """
    from tfrec.training.predictions import write_predictions_csv

    framework = model_framework_of(model_file, framework)
    if framework == "torch":
        from tfrec.training.torch.evaluate import predict_paths
    elif framework == "jax":
        from tfrec.training.jax.evaluate import predict_paths
    else:
        import_tensorflow_quietly()
        from tfrec.training.export import predict_paths

    result = predict_paths(model_file, list(paths), top_k, batch_size, follow_symlinks, progress=not (quiet or as_json))
    as_dict = result.to_json()
    if csv_path:
        as_dict["csv"] = write_predictions_csv(result, csv_path)
    emit(as_dict, as_json, predict_summary(as_dict, csv_path))
    if not result.predictions:
        ctx.exit(1)
