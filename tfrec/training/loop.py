"""The training loop: an outer loop (input timing, checkpoints, validation, summaries, progress) around one compiled step."""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import replace
from typing import Any, Callable

import keras
import tensorflow as tf
from tqdm import tqdm

from ..errors import TfrecError
from ..io import fs
from ..io.dataset import Dataset
from ..io.manifest import MANIFEST
from ..io.salvage import ReadStats
from .checkpoints import choose_checkpoint
from .data import (damaged_record_error, epoch_dataset, eval_dataset, label_range_error, missing_shard_error,
                   plan_data, steps_in_epoch)
from .evaluate import LabelOutsideClasses, evaluate_model
from .models import build_model
from .monitor import MIN_TIMED_STEPS, GpuMonitor, InputMonitor
from .optim import current_lr, make_optimizer
from .options import TrainOptions
from .result import TrainingDiverged, TrainingInterrupted, TrainResult
from . import summaries
from .steps import Steps, label_in_error
from .zoo import TrainUsageError

BAR_REFRESH_S = 0.5  # progress-bar figures are refreshed at most this often (each refresh costs ~50 us)
KEEP_CHECKPOINTS = 3


def _pick_strategy(name: str) -> tf.distribute.Strategy:
    if name == "multi_worker":  # the cluster and this worker's task come from TF_CONFIG
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device" or gpus:
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.get_strategy()  # the default: no distribution, no per-step overhead


def _dispose(iterator) -> None:
    """Drops a tf.data iterator in a background thread: with autotuning on, destroying one can wait for
    the autotuner's next tick (up to 10 s in TF 2.21, see DESIGN.md), which the next epoch need not."""
    threading.Thread(target=lambda held=[iterator]: held.clear(), daemon=True).start()


class _Checkpoints:
    """A tf.train.CheckpointManager over the model, the optimizer, the epoch and the epoch's first step."""

    def __init__(self, directory: str | None, model, optimizer):
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.epoch_start = tf.Variable(0, dtype=tf.int64, trainable=False)
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch, epoch_start=self.epoch_start)
        self.manager = tf.train.CheckpointManager(ckpt, directory, KEEP_CHECKPOINTS) if directory else None
        self.ckpt = ckpt

    def restore(self) -> str | None:
        """Restores the newest complete checkpoint (None: there is none), noting in self.note the newer
        ones a run stopped while writing, which TensorFlow would ignore silently or fail to restore."""
        if not self.manager:
            return None
        directory = self.manager.directory
        try:
            state = tf.train.get_checkpoint_state(directory)
        except (tf.errors.OpError, ValueError):  # a state file that is not one: as if there were none
            state = None
        paths = [*state.all_model_checkpoint_paths, state.model_checkpoint_path] if state else []
        choice = choose_checkpoint(directory, [os.path.basename(p) for p in paths if p])
        self.note = choice.note(directory)
        if choice.restore is None:
            return None
        path = os.path.join(directory, choice.restore)
        self.ckpt.restore(path).expect_partial()
        return path

    note: str | None = None  # set by restore: incomplete checkpoints found and ignored

    def save(self, epoch: int, epoch_start: int) -> str | None:
        if not self.manager:
            return None
        self.epoch.assign(epoch)
        self.epoch_start.assign(epoch_start)
        return self.manager.save()


def train(path: Dataset | str, options: TrainOptions | None = None, *, datasets: Callable[[int], tf.data.Dataset] | None = None,
          **overrides) -> TrainResult:
    """Trains a zoo model on a tfrec dataset, read through `make_dataset`, timing every step's wait for input.

    Args:
        path: a dataset written by `tfrec convert`: opened with tfrec.open_dataset, or its directory or
            URL (with dataset.json), which is opened once for the whole run.
        options: see TrainOptions; keyword arguments override its fields (`train(p, epochs=2)`).
        datasets: epoch -> a tf.data.Dataset of (images, labels) batches to train on instead of the
            reader (PATH still gives the shapes and classes): for benchmarks and tests of the loop.

    Returns:
        A TrainResult (`.to_json()` for the figures, `.model` for the Keras model).

    Raises:
        TrainUsageError: the request cannot be trained (no labels, unknown model, bad size), before training.
        TfrecError: a damaged record (without skip_corrupt), a NaN/infinite loss, GPU out of memory.
        TrainingInterrupted: Ctrl-C/SIGTERM (KeyboardInterrupt); a checkpoint was written if possible.
    """
    options = replace(options or TrainOptions(), **overrides)
    start = time.perf_counter()
    plan = plan_data(path, options)
    steps = steps_in_epoch(plan, options)
    if steps is None and (options.lr_schedule != "constant" or options.warmup_epochs):
        raise TrainUsageError("the dataset does not say how many records it holds: "
                              "pass --steps-per-epoch for a schedule or warm-up")
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    result = TrainResult(plan, options)
    mixed = options.mixed_precision and bool(tf.config.list_physical_devices("GPU"))
    if options.mixed_precision and not mixed:
        result.notes.append("--mixed-precision ignored: no GPU (float16 is slower than float32 on a CPU)")
    strategy = _pick_strategy(options.strategy)
    policy = keras.mixed_precision.global_policy()
    with strategy.scope():
        if mixed:
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            model = build_model(plan.model, (*plan.image_size, plan.channels), plan.num_classes, options.weights,
                                options.freeze_base, options.fine_tune_at)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        optimizer = make_optimizer(options, steps, mixed)
        optimizer.build(model.trainable_variables)
    result.model = model
    _Run(plan, options, model, optimizer, strategy, steps, result, datasets).fit()
    if options.export:
        from .export import export_model

        result.exported = export_model(model, options.export, plan, saved_model=options.saved_model)
    result.seconds = time.perf_counter() - start
    return result


class _Run:
    """One run's outer loop: epochs of timed steps, then validation, checkpoint and summaries per epoch."""

    def __init__(self, plan, options, model, optimizer, strategy, steps, result, datasets=None):
        self.datasets = datasets or (lambda epoch, ctx=None: epoch_dataset(plan, options, epoch, self.stats, ctx))
        self.per_worker = datasets is None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.plan, self.options, self.model, self.optimizer = plan, options, model, optimizer
        self.strategy, self.steps, self.result = strategy, steps, result
        self.distributed = strategy.num_replicas_in_sync > 1 or isinstance(strategy, tf.distribute.OneDeviceStrategy)
        self.step = Steps(model, optimizer, plan.num_classes, options.label_smoothing, strategy if self.distributed else None)
        self.checkpoints = _Checkpoints(options.checkpoint_dir, model, optimizer)
        self.monitor, self.gpu = InputMonitor(), GpuMonitor()
        self.stats = ReadStats()
        self.writers = None
        if options.logdir:
            self.writers = {k: tf.summary.create_file_writer(f"{options.logdir}/{k}") for k in ("train", "validation")}
        self.last_loss: float | None = None

    @property
    def iterations(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def fit(self) -> None:
        restored = self.checkpoints.restore()
        if self.checkpoints.note:
            self.result.notes.append(self.checkpoints.note)
            tqdm.write(f"warning: {self.checkpoints.note}", file=sys.stderr)
        first = int(self.checkpoints.epoch.numpy()) if restored else 0
        skip = self.iterations - int(self.checkpoints.epoch_start.numpy()) if restored else 0
        if restored:
            self.result.resumed_from = {"checkpoint": restored, "epoch": first, "step": self.iterations}
        self._epoch = first
        if first < self.options.epochs:
            # Open the first epoch's reader, then compile the step while it opens its files and fills
            # its shuffle buffer: start-up work overlaps, and is timed apart from the epochs.
            t = time.perf_counter()
            self._next = self.open_epoch(first, skip)
            traced = time.perf_counter()
            self.step.trace(self._spec)
            self.result.compile_s = time.perf_counter() - traced
            self.result.startup_s = time.perf_counter() - t
        try:
            for epoch in range(first, self.options.epochs):
                self.run_epoch(epoch, skip)
                skip = 0
            self.note_short_epochs()
        except KeyboardInterrupt:
            saved = self.checkpoints.save(self._epoch, self.iterations - self._done_in_epoch)
            raise TrainingInterrupted(
                f"interrupted in epoch {self._epoch + 1}, at step {self.iterations}; " +
                (f"checkpoint {saved} written: run the same command again to resume" if saved else
                 "no checkpoint written (pass --checkpoint-dir to be able to resume)")) from None
        finally:
            self.result.overall = self.monitor.overall()
            self.result.read_stats = self.stats.to_json()
            self.result.checkpoint = self.checkpoints.manager.latest_checkpoint if self.checkpoints.manager else None

    _done_in_epoch = 0  # steps of the running epoch done (a resumed epoch's skipped ones included)
    _epoch = 0  # the epoch running, or the next one once an epoch's checkpoint is written

    def open_epoch(self, epoch: int, skip: int = 0):
        """An iterator over epoch's batches (after `skip`); making it starts the reader's threads."""
        if self.per_worker:  # each worker reads its own files (the reader's InputContext sharding)
            dist = self.strategy.distribute_datasets_from_function(
                lambda ctx: self.datasets(epoch, ctx).skip(skip))
            self._spec = dist.element_spec
            return iter(dist)
        ds = self.datasets(epoch)
        ds = ds.skip(skip) if skip else ds
        self._spec = ds.element_spec
        if self.distributed:
            ds = self.strategy.experimental_distribute_dataset(ds)
        return iter(ds)

    _next: Any = None
    _compiled = False  # whether the step has run once in this process

    def note_short_epochs(self) -> None:
        """A note naming the epochs with fewer than MIN_TIMED_STEPS timed steps, whose figures mean little."""
        short = [e for e in self.result.epochs if e["too_few_steps"]]
        if not short:
            return
        many = len(short) > 1
        self.result.notes.append(
            f"{'epochs' if many else 'epoch'} {', '.join(str(e['epoch']) for e in short)} "
            f"{'have' if many else 'has'} fewer than {MIN_TIMED_STEPS} timed steps "
            f"({', '.join(str(e['timed_steps']) for e in short)}; the run's first step compiles and is timed apart): "
            f"{'their' if many else 'its'} images/s, stall and step times mean little; train more steps "
            "(or with a smaller --batch-size) to measure them")

    def run_epoch(self, epoch: int, skip: int) -> None:
        self._epoch = epoch
        epoch_start = self.iterations - skip
        self._done_in_epoch = skip
        total = (self.steps - skip) if self.steps else None
        bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{self.options.epochs}", unit="step", file=sys.stderr,
                   disable=not self.options.progress, leave=True, dynamic_ncols=True)
        loss_sum = correct = seen = 0.0
        refreshed = time.perf_counter()
        self.monitor.begin_epoch()
        self.gpu.start()
        t0 = time.perf_counter()
        it, self._next = self._next or self.open_epoch(epoch, skip), None
        while True:
            try:
                images, labels = next(it)
            except StopIteration:
                break
            except tf.errors.DataLossError as e:
                raise damaged_record_error(self.plan.dataset, self.plan.train_split, e, self.options.skip_corrupt) from None
            except tf.errors.NotFoundError as e:
                raise missing_shard_error(self.plan.dataset, self.plan.train_split, e) from None
            t1 = time.perf_counter()
            loss, right, n = self.run_step(images, labels)
            t2 = time.perf_counter()
            self.monitor.waited(t1 - t0)
            if self._compiled:
                self.monitor.stepped(t2 - t1, n)
            else:  # TensorFlow optimises the traced step on its first call: start-up, timed apart
                self.monitor.first_step(t2 - t1, n)
                self.result.compile_s += t2 - t1
                self.result.startup_s += t2 - t1
                self._compiled = True
            self._done_in_epoch += 1
            if self._done_in_epoch == skip + 1:
                self.after_first_step(epoch, images)
            if not math.isfinite(loss):
                self.diverged(epoch, loss)
            self.last_loss = loss
            loss_sum, correct, seen = loss_sum + loss * n, correct + right, seen + n
            every = self.options.checkpoint_every
            if every and self.iterations % every == 0:
                t = time.perf_counter()
                self.checkpoints.save(epoch, epoch_start)
                self.monitor.pause(time.perf_counter() - t)
            bar.update(1)
            if t2 - refreshed > BAR_REFRESH_S:
                now = self.monitor.current()
                bar.set_postfix_str(f"loss {loss_sum / seen:.4f} acc {correct / seen:.3f} "
                                    f"{now['images_per_s']:,.0f} img/s stall {now['input_stall_pct']:.1f}%")
                refreshed = t2
            t0 = time.perf_counter()
        times = self.monitor.end_epoch()
        _dispose(it)
        if seen:
            rate = "" if times["images_per_s"] is None else (
                f" {times['images_per_s']:,.0f} img/s stall {times['input_stall_pct']:.1f}%")
            bar.set_postfix_str(f"loss {loss_sum / seen:.4f} acc {correct / seen:.3f}{rate}")
        bar.close()
        row = {"epoch": epoch + 1, "loss": round(loss_sum / seen, 5) if seen else None,
               "accuracy": round(correct / seen, 5) if seen else None, "lr": current_lr(self.optimizer),
               **times, "gpu": self.gpu.stop()}
        if self.plan.val_split:
            row.update(self.validate())
        self.checkpoints.save(epoch + 1, self.iterations)
        self._epoch, self._done_in_epoch = epoch + 1, 0
        self.write_summaries(row)
        self.result.epochs.append(row)

    def after_first_step(self, epoch: int, images) -> None:
        """Actions after an epoch's first step, kept out of its timed wall: opening the next epoch's
        reader (it opens its files and fills its shuffle buffer while this epoch trains, rather than at
        the next epoch's first step) and, once, a few augmented training images for TensorBoard."""
        t = time.perf_counter()
        if epoch + 1 < self.options.epochs:
            self._next = self.open_epoch(epoch + 1)
        if self.writers and not self.distributed and not self._images_written:
            with self.writers["train"].as_default():
                summaries.images("augmented_training_images", images, self.iterations)
            self._images_written = True
        self.monitor.pause(time.perf_counter() - t)

    _images_written = False

    def run_step(self, images, labels) -> tuple[float, float, int]:
        try:
            loss, right = self.step.train(images, labels).numpy().tolist()
            return loss, right, self.step.batch_size(labels)
        except tf.errors.ResourceExhaustedError:
            raise TfrecError(f"out of memory on the device at batch size {self.options.batch_size}: "
                             "try a smaller --batch-size") from None
        except tf.errors.InvalidArgumentError as e:
            label = label_in_error(e)
            if label is None:
                raise
            raise self.label_error(self.plan.train_split, label) from None

    def label_error(self, split: str, label: int | None) -> TfrecError:
        return label_range_error(self.plan.dataset, split, self.plan.num_classes, label, "the schema's",
                                 f"fix the label, or num_classes in {fs.join(self.plan.path, MANIFEST)}")

    def diverged(self, epoch: int, loss: float) -> None:
        latest = self.checkpoints.manager.latest_checkpoint if self.checkpoints.manager else None
        last = f"{self.last_loss:.6g}" if self.last_loss is not None else "none (the first step)"
        raise TrainingDiverged(
            f"loss became {loss} at step {self.iterations} (epoch {epoch + 1}); last finite loss {last}; "
            + (f"last good checkpoint {latest} kept" if latest else "no checkpoint (no --checkpoint-dir)")
            + "; try a lower --lr or a warm-up")

    def validate(self) -> dict:
        ds = eval_dataset(self.plan.dataset, self.plan.val_split, self.options.batch_size, self.plan.resize,
                          self.options.skip_corrupt, self.stats)
        try:
            m = evaluate_model(self.model, ds, self.plan.num_classes, step=self.step)
        except tf.errors.DataLossError as e:
            raise damaged_record_error(self.plan.dataset, self.plan.val_split, e, self.options.skip_corrupt) from None
        except tf.errors.NotFoundError as e:
            raise missing_shard_error(self.plan.dataset, self.plan.val_split, e) from None
        except LabelOutsideClasses as e:
            raise self.label_error(self.plan.val_split, e.label) from None
        return {"val_loss": round(m["loss"], 5), "val_accuracy": round(m["accuracy"], 5)}

    def write_summaries(self, row: dict) -> None:
        if not self.writers:
            return
        step = self.iterations
        with self.writers["train"].as_default():
            for key in ("loss", "accuracy", "lr", "images_per_s", "input_stall_pct", "wait_ms_p50", "wait_ms_p95",
                        "step_ms_p50", "step_ms_p95"):
                if row.get(key) is not None:
                    summaries.scalar(key, row[key], step)
            if row.get("gpu"):
                summaries.scalar("gpu_util_mean_pct", row["gpu"]["util_mean_pct"], step)
        if "val_loss" in row:
            with self.writers["validation"].as_default():
                summaries.scalar("loss", row["val_loss"], step)
                summaries.scalar("accuracy", row["val_accuracy"], step)
        for w in self.writers.values():
            w.flush()
