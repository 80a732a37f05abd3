"""The PyTorch training loop: an outer loop (input timing, checkpoints, validation, progress) around one small step.

`train(path, options, *, batches=None, **overrides) -> TrainResult` is the torch twin of
tfrec.training.loop.train: the same options, the same per-epoch figures and the same `to_json()` keys
(input stall measured directly: the time blocked on the next batch against the step's time, the
step synchronised with the device before its time is read; NVML utilisation on a GPU, None without).

The hook for benchmarks and tests (its signature is kept stable):

    batches(epoch) -> an iterable of (images, labels) torch tensors: uint8 images (N, C, H, W) as the
    zoo's models take them (they scale in the model), int64 class ids (N,). It replaces the
    tfrec.torch loader for that epoch; PATH still gives the shapes and classes (plan_data). Epoch 0
    is the first (a benchmark's warm-up). With `steps_per_epoch` in the options an epoch stops after
    that many batches; without it, when the iterable ends. The tensors may already be on the device
    (a synthetic in-device batch): moving them is then free.

Without the hook the train split is read by tfrec.torch.loader (a seeded permutation per epoch, worker
processes), whose position is checkpointed, so a resumed run reads exactly the batches an uninterrupted
one would, mid-epoch included.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...errors import TfrecError
from ...io import fs
from ...io.dataset import Dataset
from ...io.manifest import MANIFEST
from ...io.salvage import ReadStats
from ..monitor import MIN_TIMED_STEPS, GpuMonitor, InputMonitor
from ..options import TrainOptions
from ..plan import plan_data, steps_in_epoch
from ..result import TrainingDiverged, TrainingInterrupted, TrainResult
from ..zoo import TrainUsageError
from .checkpoints import Checkpoints
from .optim import Optimizer
from .zoo import build_model

BAR_REFRESH_S = 0.5  # progress-bar figures are refreshed at most this often
# Loader worker processes: all cores but the one the training loop runs on, at most 8 (a start; the
# benchmark's stage rates say how many cores the reader needs).
DEFAULT_WORKERS = max(1, min(8, (os.cpu_count() or 2) - 1))

Batches = Callable[[int], Iterable]


def step_threads(workers: int) -> int:
    """torch's intra-op threads for the step: the cores the loader's workers leave (at least 1). torch's default
    (one per core) spins against the workers: on the shared 2-core machine here lenet5 trained the demo digits
    at 155 images/s with 2 threads and 1,944 with 1 (`tfrec train tfrec-demo/datasets/mnist --framework torch`)."""
    return max(1, (os.cpu_count() or 1) - workers)


def check_options(options: TrainOptions) -> None:
    """Refuses what the torch backend cannot honour, naming the option (TrainUsageError, exit code 2)."""
    refused = [
        (options.strategy != "auto", f"--strategy {options.strategy} is a tf.distribute strategy; --framework torch "
                                     "trains on one device (the first GPU, else the CPU)"),
        (options.saved_model, "--saved-model writes a TensorFlow SavedModel; --framework torch exports a state-dict "
                              ".pt with its config JSON beside it"),
        (bool(options.weights), "--weights loads Keras weights files; --framework torch builds its zoo without "
                                "pretrained weights in this release"),
        (options.freeze_base or options.fine_tune_at is not None,
         "--freeze-base/--fine-tune-at are not available with --framework torch in this release"),
        (bool(options.logdir), "--logdir (TensorBoard) is not available with --framework torch in this release"),
    ]
    for bad, message in refused:
        if bad:
            raise TrainUsageError(message)


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on a CPU and on GPUs that have it; float16 (with loss scaling) on older GPUs."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def train(path: Dataset | str, options: TrainOptions | None = None, *, batches: Batches | None = None,
          **overrides) -> TrainResult:
    """Trains a zoo model (native torch.nn) on a tfrec dataset, timing every step's wait for input.

    Args:
        path: a dataset written by `tfrec convert` (tfrec.open_dataset's, or its directory), opened once.
        options: see TrainOptions (framework is set to 'torch'); keyword arguments override its fields.
        batches: epoch -> (uint8 NCHW images, int64 labels) batches instead of the loader (module docstring).

    Returns:
        A TrainResult (`.to_json()`: the TensorFlow path's keys; `.model`: the trained torch.nn.Module).

    Raises:
        TrainUsageError: the request cannot be trained (no labels, unknown model, bad size, an option this
            backend cannot honour), before training.
        TfrecError: a damaged record (without skip_corrupt), a label outside the classes, a NaN/infinite loss.
        TrainingInterrupted: Ctrl-C/SIGTERM (KeyboardInterrupt); a checkpoint was written if possible.
    """
    options = replace(options or TrainOptions(framework="torch"), framework="torch", **overrides)
    check_options(options)
    start = time.perf_counter()
    plan = plan_data(path, options)
    steps = steps_in_epoch(plan, options)
    if options.seed is not None:
        torch.manual_seed(options.seed)
    if options.deterministic:
        torch.use_deterministic_algorithms(True)
    device = pick_device()
    model = build_model(plan.model, plan.num_classes, (*plan.image_size, plan.channels)).to(device)
    result = TrainResult(plan, options)
    result.model = model
    threads = torch.get_num_threads()
    if "OMP_NUM_THREADS" not in os.environ and batches is None:  # a thread count the user set is kept
        torch.set_num_threads(min(threads, step_threads(DEFAULT_WORKERS)))
    try:
        _Run(plan, options, model, device, steps, result, batches).fit()
    finally:
        torch.set_num_threads(threads)
    if options.export:
        from .export import export_model

        result.exported = export_model(model, options.export, plan)
    result.seconds = time.perf_counter() - start
    return result


class _Run:
    """One run's outer loop: epochs of timed steps, then validation and a checkpoint per epoch."""

    def __init__(self, plan, options: TrainOptions, model: torch.nn.Module, device: torch.device,
                 steps: int | None, result: TrainResult, batches: Batches | None):
        self.plan, self.options, self.model, self.device, self.result = plan, options, model, device, result
        self.batches = batches
        self.loader = None if batches else self._loader(plan.train_split, shuffle=True)
        self.stats = self.loader.stats if self.loader is not None else ReadStats()  # what skip_corrupt skipped
        if batches is not None:  # the hook's epoch ends with its iterable, or at steps_per_epoch
            self.steps = options.steps_per_epoch
        else:
            self.steps = steps if steps is not None else len(self.loader)
        self.optimizer = Optimizer(model, options, self.steps or steps)  # the schedule's length
        self.mixed = options.mixed_precision
        self.dtype = autocast_dtype(device)
        self.scaler = torch.amp.GradScaler("cuda") if self.mixed and self.dtype == torch.float16 else None
        # NHWC convolutions are faster on GPUs' tensor cores; on a CPU the default layout is kept
        self.channels_last = device.type == "cuda"
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.checkpoints = Checkpoints(options.checkpoint_dir)
        self.monitor, self.gpu = InputMonitor(), GpuMonitor()
        self.stream: Iterator | None = None
        self.loader_state: dict | None = None  # the loader's position after the last completed step
        self.last_loss: float | None = None
        self._stepped = False
        self._epoch = self._done_in_epoch = 0
        if self.mixed and device.type == "cpu":
            result.notes.append("--mixed-precision on the CPU: bfloat16 autocast")

    def _loader(self, split: str, shuffle: bool):
        from ...torch import loader

        o, plan = self.options, self.plan
        records = plan.train_records if split == plan.train_split else plan.val_records
        # the model's size, resized by the loader only where the stored size differs or a crop needs it
        size = plan.image_size if (plan.resize or o.augment != "none") else None
        seed = o.seed if o.seed is not None else int.from_bytes(os.urandom(4), "little") % 2**31
        return loader(plan.dataset or plan.path, split, batch_size=o.batch_size, num_workers=DEFAULT_WORKERS,
                      shuffle=shuffle, seed=seed, image_size=size, augment=o.augment if shuffle else "none",
                      drop_last=shuffle and (records is None or records >= o.batch_size),
                      persistent_workers=True, pin_memory=self.device.type == "cuda",
                      skip_corrupt=o.skip_corrupt)

    def _stream(self) -> Iterator:
        """The loader's passes one after another: a training epoch takes `steps` batches of it."""
        resumed = bool(self.loader_state and self.loader_state.get("position"))  # may start at its pass's end
        while True:
            seen = False
            for batch in self.loader:
                seen = True
                yield batch
            if not seen and not resumed:
                raise TfrecError(f"{self.plan.path}: split {self.plan.train_split!r} gave no batch to train on")
            resumed = False

    # ------------------------------------------------------------------ the run

    def state(self, epoch: int, epoch_start: int) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": epoch,
                "epoch_start": epoch_start, "loader": self.loader_state, "torch_rng": torch.get_rng_state(),
                "scaler": self.scaler.state_dict() if self.scaler else None}

    def restore(self) -> int:
        """Loads the newest checkpoint; returns the epoch to start at (0 without one)."""
        found = self.checkpoints.restore()
        if self.checkpoints.note:
            self.result.notes.append(self.checkpoints.note)
            tqdm.write(f"warning: {self.checkpoints.note}", file=sys.stderr)
        if not found:
            return 0
        path, state = found
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.loader is not None and state.get("loader"):
            self.loader.load_state_dict(state["loader"])
            self.loader_state = state["loader"]
        self._epoch_start = int(state["epoch_start"])
        self.result.resumed_from = {"checkpoint": path, "epoch": int(state["epoch"]),
                                    "step": self.optimizer.iterations}
        return int(state["epoch"])

    _epoch_start = 0

    def fit(self) -> None:
        first = self.restore()
        done = self.optimizer.iterations - self._epoch_start if self.result.resumed_from else 0
        t = time.perf_counter()
        if self.loader is not None:
            self.stream = self._stream()
        self.result.startup_s = time.perf_counter() - t
        try:
            for epoch in range(first, self.options.epochs):
                self.run_epoch(epoch, done)
                done = 0
            self.note_short_epochs()
        except KeyboardInterrupt:
            saved = self.checkpoints.save(self.state(self._epoch, self.optimizer.iterations - self._done_in_epoch))
            raise TrainingInterrupted(
                f"interrupted in epoch {self._epoch + 1}, at step {self.optimizer.iterations}; " +
                (f"checkpoint {saved} written: run the same command again to resume" if saved else
                 "no checkpoint written (pass --checkpoint-dir to be able to resume)")) from None
        finally:
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

    def run_epoch(self, epoch: int, done: int) -> None:
        self._epoch, self._done_in_epoch = epoch, done
        epoch_start = self.optimizer.iterations - done
        left = None if self.steps is None else self.steps - done
        bar = tqdm(total=left, desc=f"epoch {epoch + 1}/{self.options.epochs}", unit="step", file=sys.stderr,
                   disable=not self.options.progress, leave=True, dynamic_ncols=True)
        self.model.train()
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
            else:  # the run's first step (CUDA context, cuDNN's algorithm choice): start-up, timed apart
                self.monitor.first_step(t2 - t1, n)
                self.result.startup_s += t2 - t1
                self._stepped = True
            taken += 1
            self._done_in_epoch += 1
            if self.loader is not None:
                self.loader_state = self.loader.state_dict()
            if not math.isfinite(loss):
                self.diverged(epoch, loss)
            self.last_loss = loss
            loss_sum, correct, seen = loss_sum + loss * n, correct + right, seen + n
            every = self.options.checkpoint_every
            if every and self.optimizer.iterations % every == 0:
                t = time.perf_counter()
                self.checkpoints.save(self.state(epoch, epoch_start))
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
               "accuracy": round(correct / seen, 5) if seen else None, "lr": self.optimizer.lr,
               **times, "gpu": self.gpu.stop()}
        if self.plan.val_split:
            row.update(self.validate())
        self.checkpoints.save(self.state(epoch + 1, self.optimizer.iterations))
        self._epoch, self._done_in_epoch = epoch + 1, 0
        self.result.epochs.append(row)

    def to_device(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    def check_labels(self, labels: torch.Tensor, split: str) -> None:
        """A label outside the classes is an error naming the split; checked on the host before the batch moves
        (labels already on a GPU, from a benchmark's in-device batches, are not read back: that would wait for
        the device every step)."""
        if labels.device.type != "cpu":
            return
        if not labels.numel():
            return
        values = labels.numpy()  # NumPy's min/max of a small host array: a few us, torch's ~10x that
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= self.plan.num_classes:
            raise self.label_error(split, low if low < 0 else high)

    def run_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, int]:
        """Forward, loss, backward, update; returns (mean loss, correct, batch size), read with one host
        transfer (which waits for the device: the step's time is its whole time)."""
        self.check_labels(labels, self.plan.train_split)
        images, labels = self.to_device(images, labels)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.mixed):
            logits = self.model(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.options.label_smoothing)
        self.optimizer.zero_grad()
        try:
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        except torch.OutOfMemoryError:
            raise TfrecError(f"out of memory on the device at batch size {self.options.batch_size}: "
                             "try a smaller --batch-size") from None
        self.optimizer.step(self.scaler)
        right = (logits.detach().argmax(1) == labels).sum()
        out = torch.stack([loss.detach(), right.float()]).tolist()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return out[0], out[1], int(labels.shape[0])

    def label_error(self, split: str, label: int) -> TfrecError:
        n = self.plan.num_classes
        return TfrecError(f"label {label} in split {split!r} of {self.plan.path} is outside the schema's {n} classes "
                          f"(0-{n - 1}); fix the label, or num_classes in {fs.join(self.plan.path, MANIFEST)} "
                          f"(`tfrec verify --deep {self.plan.path}` lists the records)")

    def diverged(self, epoch: int, loss: float) -> None:
        latest = self.checkpoints.latest
        last = f"{self.last_loss:.6g}" if self.last_loss is not None else "none (the first step)"
        raise TrainingDiverged(
            f"loss became {loss} at step {self.optimizer.iterations} (epoch {epoch + 1}); last finite loss {last}; "
            + (f"last good checkpoint {latest} kept" if latest else "no checkpoint (no --checkpoint-dir)")
            + "; try a lower --lr or a warm-up")

    _val_loader: Any = None

    def validate(self) -> dict:
        if self._val_loader is None:
            self._val_loader = self._loader(self.plan.val_split, shuffle=False)
        loss, right, n = predict_totals(self.model, self._val_loader, self.device, self.mixed, self.dtype,
                                        self.channels_last, lambda y: self.check_labels(y, self.plan.val_split))
        val = self._val_loader.stats
        for d in list(val.damaged.values()):
            self.stats.skip(d["path"], d["index"], d["offset"], d["reason"])
        val.damaged.clear()
        return {"val_loss": round(loss / n, 5) if n else None, "val_accuracy": round(right / n, 5) if n else None}


def predict_totals(model: torch.nn.Module, batches: Iterable, device: torch.device, mixed: bool = False,
                   dtype: torch.dtype = torch.bfloat16, channels_last: bool = False,
                   check: Callable[[torch.Tensor], None] | None = None) -> tuple[float, float, int]:
    """(summed cross-entropy, correct, records) of `model` over (images, labels) batches, in eval mode."""
    model.eval()
    loss = torch.zeros((), device=device)
    right = torch.zeros((), device=device)
    n = 0
    with torch.no_grad():
        for images, labels in batches:
            if check is not None:
                check(labels)
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype, enabled=mixed):
                logits = model(images).float()
            loss += F.cross_entropy(logits, labels, reduction="sum")
            right += (logits.argmax(1) == labels).sum()
            n += int(labels.shape[0])
    model.train()
    return float(loss), float(right), n
