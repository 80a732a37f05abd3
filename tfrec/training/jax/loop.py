"""The JAX training loop: the Keras zoo on Keras 3's JAX backend, one jit-compiled step, NumPy batches from tfrec.access.

`train(path, options, *, batches=None, **overrides) -> TrainResult` is the JAX twin of
tfrec.training.loop.train and tfrec.training.torch.loop.train: the same options, per-epoch figures and
`to_json()` keys (input stall measured directly: the time blocked on the next batch against the step's
time, the step's results read back with block_until_ready before its time is taken; NVML utilisation on a
GPU, None without).

The hook for benchmarks and tests (kept stable, as the torch loop's):

    batches(epoch) -> an iterable of (images, labels): uint8 images (N, H, W, C) (NumPy or jax arrays; the
    step scales them to [0, 1] on the device), int class ids (N,). It replaces the reader for that epoch;
    PATH still gives the shapes and classes (plan_data). Epoch 0 is the first (a benchmark's warm-up).
    With `steps_per_epoch` an epoch stops after that many batches; without it, when the iterable ends.
    Arrays already on the device (a synthetic in-device batch) are not moved.

Without the hook the train split is read by tfrec.training.jax.inputs (the access layer's seeded
permutation per epoch, worker threads), whose position is checkpointed, so a resumed run reads exactly
the batches an uninterrupted one would, mid-epoch included.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import replace
from typing import Callable, Iterable, Iterator

from .backend import use_jax_backend

use_jax_backend()

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ...errors import TfrecError  # noqa: E402
from ...io import fs  # noqa: E402
from ...io.dataset import Dataset  # noqa: E402
from ...io.manifest import MANIFEST  # noqa: E402
from ...io.salvage import ReadStats  # noqa: E402
from ..models import build_model  # noqa: E402
from ..monitor import MIN_TIMED_STEPS, GpuMonitor, InputMonitor  # noqa: E402
from ..options import TrainOptions  # noqa: E402
from ..plan import plan_data, steps_in_epoch  # noqa: E402
from ..result import TrainingDiverged, TrainingInterrupted, TrainResult  # noqa: E402
from ..zoo import TrainUsageError  # noqa: E402
from .checkpoints import Checkpoints  # noqa: E402
from .inputs import Batches  # noqa: E402
from .optim import make_optimizer  # noqa: E402
from .step import Steps  # noqa: E402

BAR_REFRESH_S = 0.5  # progress-bar figures are refreshed at most this often
# Reader threads: all cores but the one the training loop runs on, at most 8 (the benchmark's stage rates
# say how many cores the reader needs).
DEFAULT_WORKERS = max(1, min(8, (os.cpu_count() or 2) - 1))
MIXED_POLICY = "mixed_bfloat16"  # bf16 compute, float32 variables: no loss scaling needed (CPU, and GPUs from Ampere on)

BatchesFn = Callable[[int], Iterable]


def check_options(options: TrainOptions) -> None:
    """Refuses what the JAX backend cannot honour, naming the option (TrainUsageError, exit code 2)."""
    refused = [
        (options.strategy != "auto", f"--strategy {options.strategy} is a tf.distribute strategy; --framework jax "
                                     "trains on one device (the first GPU, else the CPU)"),
        (options.saved_model, "--saved-model writes a TensorFlow SavedModel; --framework jax exports a .keras file "
                              "(which TensorFlow loads too)"),
        (bool(options.logdir), "--logdir (TensorBoard) is not available with --framework jax in this release"),
    ]
    for bad, message in refused:
        if bad:
            raise TrainUsageError(message)


def _build(plan, options: TrainOptions) -> keras.Model:
    """The zoo's Keras model, under the mixed policy when asked (the global policy restored after)."""
    before = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy(MIXED_POLICY)
    try:
        return build_model(plan.model, (*plan.image_size, plan.channels), plan.num_classes, options.weights,
                           options.freeze_base, options.fine_tune_at)
    finally:
        keras.mixed_precision.set_global_policy(before)


def train(path: Dataset | str, options: TrainOptions | None = None, *, batches: BatchesFn | None = None,
          **overrides) -> TrainResult:
    """Trains a zoo model (Keras 3 on JAX) on a tfrec dataset, timing every step's wait for input.

    Args:
        path: a dataset written by `tfrec convert` (tfrec.open_dataset's, or its directory), opened once.
        options: see TrainOptions (framework is set to 'jax'); keyword arguments override its fields.
        batches: epoch -> (uint8 NHWC images, int labels) batches instead of the reader (module docstring).

    Returns:
        A TrainResult (`.to_json()`: the TensorFlow path's keys; `.model`: the trained keras.Model).

    Raises:
        TrainUsageError: the request cannot be trained (no labels, unknown model, bad size, an option this
            backend cannot honour), before training.
        TfrecError: a damaged record (without skip_corrupt), a label outside the classes, a NaN/infinite loss.
        TrainingInterrupted: Ctrl-C/SIGTERM (KeyboardInterrupt); a checkpoint was written if possible.
    """
    options = replace(options or TrainOptions(framework="jax"), framework="jax", **overrides)
    check_options(options)
    start = time.perf_counter()
    plan = plan_data(path, options)
    steps = steps_in_epoch(plan, options)
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
    model = _build(plan, options)
    result = TrainResult(plan, options)
    result.model = model
    if options.mixed_precision:
        result.notes.append(f"--mixed-precision: Keras' {MIXED_POLICY} policy (bfloat16 compute, float32 variables)")
    _Run(plan, options, model, steps, result, batches).fit()
    if options.export:
        from .export import export_model

        result.exported = export_model(model, options.export, plan)
    result.seconds = time.perf_counter() - start
    return result


class _Run:
    """One run's outer loop: epochs of timed steps, then validation and a checkpoint per epoch."""

    def __init__(self, plan, options: TrainOptions, model: keras.Model, steps: int | None, result: TrainResult,
                 batches: BatchesFn | None):
        self.plan, self.options, self.model, self.result = plan, options, model, result
        self.batches = batches
        self.reader = None if batches else self._reader(plan.train_split, shuffle=True)
        self.stats = self.reader.stats if self.reader is not None else ReadStats()
        self.steps = steps if batches or steps is not None else len(self.reader)
        self.optimizer, self.schedule = make_optimizer(options, self.steps)
        self.compiled = Steps(model, self.optimizer, plan.num_classes, options.label_smoothing)
        self.state = self.compiled.initial_state()
        self.checkpoints = Checkpoints(options.checkpoint_dir)
        self.monitor, self.gpu = InputMonitor(), GpuMonitor()
        self.stream: Iterator | None = None
        self.reader_state: dict | None = None  # the reader's position after the last completed step
        self.iterations = 0
        self.last_loss: float | None = None
        self._stepped = False
        self._epoch = self._done_in_epoch = 0
        self._epoch_start = 0

    def _reader(self, split: str, shuffle: bool) -> Batches:
        from ...access import open_source

        o, plan = self.options, self.plan
        records = plan.train_records if split == plan.train_split else plan.val_records
        size = plan.image_size if (plan.resize or o.augment != "none") else None
        seed = o.seed if o.seed is not None else int.from_bytes(os.urandom(4), "little") % 2**31
        source = open_source(plan.dataset or plan.path, split, skip_corrupt=o.skip_corrupt)
        return Batches(source, batch_size=o.batch_size, num_workers=DEFAULT_WORKERS, shuffle=shuffle, seed=seed,
                       image_size=size, augment=o.augment if shuffle else "none",
                       drop_last=shuffle and (records is None or records >= o.batch_size))

    def _stream(self) -> Iterator:
        """The reader's passes one after another: a training epoch takes `steps` batches of it."""
        resumed = bool(self.reader_state and self.reader_state.get("position"))
        while True:
            seen = False
            for batch in self.reader:
                seen = True
                yield batch
            if not seen and not resumed:
                raise TfrecError(f"{self.plan.path}: split {self.plan.train_split!r} gave no batch to train on")
            resumed = False

    # ------------------------------------------------------------------ checkpoints

    def save(self, epoch: int, epoch_start: int) -> str | None:
        if not self.checkpoints.directory:
            return None
        trainable, non_trainable, opt_vars = self.state
        meta = {"epoch": epoch, "epoch_start": epoch_start, "iterations": self.iterations,
                "reader": self.reader_state, "model": self.plan.model}
        return self.checkpoints.save({"meta": meta, "trainable": trainable, "non_trainable": non_trainable,
                                      "optimizer": opt_vars})

    def restore(self) -> int:
        """Loads the newest checkpoint; returns the epoch to start at (0 without one)."""
        found = self.checkpoints.restore()
        if self.checkpoints.note:
            self.result.notes.append(self.checkpoints.note)
            tqdm.write(f"warning: {self.checkpoints.note}", file=sys.stderr)
        if not found:
            return 0
        path, state = found
        meta = state["meta"]
        groups = [state["trainable"], state["non_trainable"], state["optimizer"]]
        if meta.get("model") != self.plan.model or [len(g) for g in groups] != [len(g) for g in self.state] or any(
                a.shape != tuple(b.shape) for g, h in zip(groups, self.state) for a, b in zip(g, h)):
            raise TfrecError(f"{path}: a checkpoint of another model ({meta.get('model')!r}, not "
                             f"{self.plan.model!r}, or other shapes); use another --checkpoint-dir")
        self.state = tuple([jax.numpy.asarray(a, dtype=b.dtype) for a, b in zip(g, h)]
                           for g, h in zip(groups, self.state))
        self.iterations = int(meta["iterations"])
        if self.reader is not None and meta.get("reader"):
            self.reader.load_state_dict(meta["reader"])
            self.reader_state = meta["reader"]
        self._epoch_start = int(meta["epoch_start"])
        self.result.resumed_from = {"checkpoint": path, "epoch": int(meta["epoch"]), "step": self.iterations}
        return int(meta["epoch"])

    # ------------------------------------------------------------------ the run

    def fit(self) -> None:
        first = self.restore()
        done = self.iterations - self._epoch_start if self.result.resumed_from else 0
        t = time.perf_counter()
        if self.reader is not None:
            self.stream = self._stream()
        self.result.startup_s = time.perf_counter() - t
        try:
            for epoch in range(first, self.options.epochs):
                self.run_epoch(epoch, done)
                done = 0
            self.note_short_epochs()
        except KeyboardInterrupt:
            saved = self.save(self._epoch, self.iterations - self._done_in_epoch)
            raise TrainingInterrupted(
                f"interrupted in epoch {self._epoch + 1}, at step {self.iterations}; " +
                (f"checkpoint {saved} written: run the same command again to resume" if saved else
                 "no checkpoint written (pass --checkpoint-dir to be able to resume)")) from None
        finally:
            self.compiled.write_back(self.state)
            self.result.overall = self.monitor.overall()
            self.result.read_stats = self.stats.to_json()
            self.result.checkpoint = self.checkpoints.latest

    def note_short_epochs(self) -> None:
        short = [e for e in self.result.epochs if e["too_few_steps"]]
        if not short:
            return
        many = len(short) > 1
        self.result.notes.append(
            f"{'epochs' if many else 'epoch'} {', '.join(str(e['epoch']) for e in short)} "
            f"{'have' if many else 'has'} fewer than {MIN_TIMED_STEPS} timed steps "
            f"({', '.join(str(e['timed_steps']) for e in short)}; the run's first step is timed apart): "
            f"{'their' if many else 'its'} images/s, stall and step times mean little; train more steps "
            "(or with a smaller --batch-size) to measure them")

    def epoch_batches(self, epoch: int) -> Iterator:
        if self.batches is not None:
            return iter(self.batches(epoch))
        return self.stream

    def lr(self) -> float:
        """The rate of the next step."""
        return float(self.schedule(self.iterations))

    def run_epoch(self, epoch: int, done: int) -> None:
        self._epoch, self._done_in_epoch = epoch, done
        epoch_start = self.iterations - done
        left = None if self.steps is None else self.steps - done
        bar = tqdm(total=left, desc=f"epoch {epoch + 1}/{self.options.epochs}", unit="step", file=sys.stderr,
                   disable=not self.options.progress, leave=True, dynamic_ncols=True)
        loss_sum = correct = seen = 0.0
        refreshed = time.perf_counter()
        self.monitor.begin_epoch()
        self.gpu.start()
        it = self.epoch_batches(epoch)
        taken = 0
        t0 = time.perf_counter()
        while left is None or taken < left:
            try:
                images, labels = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            loss, right, n = self.run_step(images, labels)
            t2 = time.perf_counter()
            self.monitor.waited(t1 - t0)
            if self._stepped:
                self.monitor.stepped(t2 - t1, n)
            else:  # the run's first step (tracing and XLA compilation): start-up, timed apart
                self.monitor.first_step(t2 - t1, n)
                self.result.startup_s += t2 - t1
                self.result.compile_s += t2 - t1
                self._stepped = True
            taken += 1
            self._done_in_epoch += 1
            if self.reader is not None:
                self.reader_state = self.reader.state_dict()
            if not math.isfinite(loss):
                self.diverged(epoch, loss)
            self.last_loss = loss
            loss_sum, correct, seen = loss_sum + loss * n, correct + right, seen + n
            every = self.options.checkpoint_every
            if every and self.iterations % every == 0:
                t = time.perf_counter()
                self.save(epoch, epoch_start)
                self.monitor.pause(time.perf_counter() - t)
            bar.update(1)
            if t2 - refreshed > BAR_REFRESH_S:
                now = self.monitor.current()
                bar.set_postfix_str(f"loss {loss_sum / seen:.4f} acc {correct / seen:.3f} "
                                    f"{now['images_per_s']:,.0f} img/s stall {now['input_stall_pct']:.1f}%")
                refreshed = t2
            t0 = time.perf_counter()
        times = self.monitor.end_epoch()
        if seen:
            rate = "" if times["images_per_s"] is None else (
                f" {times['images_per_s']:,.0f} img/s stall {times['input_stall_pct']:.1f}%")
            bar.set_postfix_str(f"loss {loss_sum / seen:.4f} acc {correct / seen:.3f}{rate}")
        bar.close()
        row = {"epoch": epoch + 1, "loss": round(loss_sum / seen, 5) if seen else None,
               "accuracy": round(correct / seen, 5) if seen else None, "lr": self.lr(),
               **times, "gpu": self.gpu.stop()}
        if self.plan.val_split:
            row.update(self.validate())
        self.save(epoch + 1, self.iterations)
        self._epoch, self._done_in_epoch = epoch + 1, 0
        self.result.epochs.append(row)

    def check_labels(self, labels: np.ndarray, split: str) -> None:
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= self.plan.num_classes):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise self.label_error(split, bad)

    def run_step(self, images, labels) -> tuple[float, float, int]:
        """One compiled step; returns (mean loss, correct, batch size), read back once the device is done (its
        time is its whole time)."""
        if isinstance(labels, np.ndarray):
            self.check_labels(labels, self.plan.train_split)
            labels = labels.astype(np.int32)
        self.state, loss, right = self.compiled.train(self.state, images, labels)
        jax.block_until_ready((self.state, loss, right))
        self.iterations += 1
        return float(loss), float(right), int(labels.shape[0])

    def label_error(self, split: str, label: int) -> TfrecError:
        n = self.plan.num_classes
        return TfrecError(f"label {label} in split {split!r} of {self.plan.path} is outside the schema's {n} classes "
                          f"(0-{n - 1}); fix the label, or num_classes in {fs.join(self.plan.path, MANIFEST)} "
                          f"(`tfrec verify --deep {self.plan.path}` lists the records)")

    def diverged(self, epoch: int, loss: float) -> None:
        latest = self.checkpoints.latest
        last = f"{self.last_loss:.6g}" if self.last_loss is not None else "none (the first step)"
        raise TrainingDiverged(
            f"loss became {loss} at step {self.iterations} (epoch {epoch + 1}); last finite loss {last}; "
            + (f"last good checkpoint {latest} kept" if latest else "no checkpoint (no --checkpoint-dir)")
            + "; try a lower --lr or a warm-up")

    _val_reader: Batches | None = None

    def validate(self) -> dict:
        if self._val_reader is None:
            self._val_reader = self._reader(self.plan.val_split, shuffle=False)
        loss, right, n = predict_totals(self.compiled.logits, self.state, self._val_reader,
                                        lambda y: self.check_labels(y, self.plan.val_split))
        val = self._val_reader.stats
        for d in list(val.damaged.values()):
            self.stats.skip(d["path"], d["index"], d["offset"], d["reason"])
        val.damaged.clear()
        return {"val_loss": round(loss / n, 5) if n else None, "val_accuracy": round(right / n, 5) if n else None}


def predict_totals(logits_fn, state, batches: Iterable, check: Callable[[np.ndarray], None] | None = None
                   ) -> tuple[float, float, int]:
    """(summed cross-entropy, correct, records) of a compiled forward over (images, labels) batches."""
    loss = right = 0.0
    n, size = 0, None
    for images, labels in batches:
        labels = np.asarray(labels)
        if check is not None:
            check(labels)
        k = len(labels)
        if size is None:
            size = k
        elif k < size:  # the short last batch padded to the others' shape: the forward is not compiled again
            images = np.concatenate([np.asarray(images), np.zeros((size - k, *images.shape[1:]), images.dtype)])
        logits = np.asarray(logits_fn(state, images), np.float64)[:k]
        z = logits - logits.max(-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
        loss += float(-log_p[np.arange(len(labels)), labels].sum())
        right += float((logits.argmax(-1) == labels).sum())
        n += len(labels)
    return loss, right, n
