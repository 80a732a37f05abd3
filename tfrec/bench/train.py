"""`tfrec bench train`: the model trained from four inputs in one run (synthetic, tfrec, tfrec cached, tutorial),
the input stall of each, the stage that limits it, and the cores the reader needs.

The modes separate the costs the way DS-Analyzer does (Mohan et al., VLDB 2021): synthetic (one
batch, fed again and again) is how fast the model alone steps; tfrec with the serialized records
cached in memory adds preparing (parse, decode, augment); tfrec from storage (page cache dropped)
adds fetching. The tutorial pipeline is the baseline. Every mode runs through the trainer
(`tfrec.training.loop.train` with its `datasets=` hook): the same compiled step, input monitor and
GPU monitor as `tfrec train`, for a warm-up epoch and a timed epoch of `steps` steps.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Callable

import tensorflow as tf

from .. import timing
from ..io.dataset import Dataset
from ..io.salvage import ReadStats
from ..read.inputs import resolve_source
from ..read.options import ReadOptions
from ..read.pipeline import make_dataset
from ..training.data import plan_data
from ..training.loop import train
from .capacity import add_increments, plan_cores
from .noise import noise_warnings
from .options import TrainBenchOptions
from .pagecache import drop_page_cache
from .progress import BenchProgress
from .read import stage_rates
from .rounds import find_limits, median_row, mode_row, page_cache_row, targets
from .rounds import ratio_rounds as rounds_ratios
from .tutorial import tutorial_stages

def gpu_name() -> str | None:
    """The first GPU's name as TensorFlow sees it, None without one."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)


class _Inputs:
    """The four modes' datasets for one benchmark: epoch 0 is the warm-up, epoch 1 the timed epoch."""

    def __init__(self, dataset: Dataset, opts: TrainBenchOptions, image_size: tuple[int, int]):
        self.dataset, self.opts = dataset, opts
        self.source = resolve_source(dataset, opts.split)  # the files (page cache) and the tutorial's input
        # The model's size is passed even when it is the stored one: it costs nothing then, and sizes the crop presets.
        self.read_options = ReadOptions(split=opts.split, batch_size=opts.batch_size, image_size=image_size,
                                        augment=opts.augment, repeat=True, drop_remainder=True,
                                        num_parallel_calls=opts.num_parallel_calls)
        self.image_size = image_size
        self.drops: list[dict] = []
        self._cached: tf.data.Dataset | None = None
        self._batch = None
        self.cache_fill_s: float | None = None

    def steps(self, epoch: int) -> int:
        return self.opts.warmup_steps if epoch == 0 else self.opts.steps

    def reader(self, **changes) -> tf.data.Dataset:
        return make_dataset(self.dataset, self.read_options, stats=ReadStats(), **changes)

    def tfrec(self, epoch: int) -> tf.data.Dataset:
        if epoch == 1 and self.opts.drop_cache:  # the timed epoch reads from storage
            self.drops.append(drop_page_cache(self.source.files))
        return self.reader().take(self.steps(epoch))

    def tfrec_cached(self, epoch: int) -> tf.data.Dataset:
        if self._cached is None:
            stages = self.reader(cache=True, repeat=False).stages
            # One pass of the read stage fills the in-memory cache, which every later iterator shares.
            start = time.perf_counter()
            for _ in stages[0][1].batch(4096):
                pass
            self.cache_fill_s = round(time.perf_counter() - start, 3)
            self._cached = stages[-1][1].repeat()
        return self._cached.take(self.steps(epoch))

    def synthetic(self, epoch: int) -> tf.data.Dataset:
        if self._batch is None:
            self._batch = next(iter(self.reader()))  # one real batch, read once
        return tf.data.Dataset.from_tensors(self._batch).repeat(self.steps(epoch))

    def tutorial(self, epoch: int) -> tf.data.Dataset:
        out = tutorial_stages(self.source, self.opts.batch_size, self.opts.augment, self.image_size, repeat=True)
        return out[-1][1].take(self.steps(epoch))

    def stages(self) -> dict[str, list[dict]]:
        """Per-stage rates of the tfrec reader the modes train from (`tfrec bench read`'s measurement) and of the
        tutorial pipeline, each timed in `stage_rounds` interleaved rounds (`read.stage_rates`)."""
        o = self.opts
        built = self.reader().stages
        # The read stage yields records: batched here (a cheap op) so that it is timed in batches like the others.
        tfrec = [(name, ds.batch(o.batch_size) if name == "read" else ds) for name, ds in built]
        out = {"tfrec": stage_rates(tfrec, o.stage_batches, o.stage_rounds)}
        if "tutorial" in o.modes:
            built = tutorial_stages(self.source, o.batch_size, o.augment, self.image_size, repeat=True)
            out["tutorial"] = stage_rates(built, o.stage_batches, o.stage_rounds)
        return out


def _train_mode(path: Dataset, opts: TrainBenchOptions, datasets: Callable[[int], tf.data.Dataset]) -> dict:
    """One mode's timed epoch through the trainer (`rounds.mode_row`: start-up reported apart)."""
    timing.settle()
    return mode_row(train(path, opts.train_options(), datasets=datasets).to_json())


def _measure(path: Dataset, opts: TrainBenchOptions, inputs: _Inputs) -> tuple[dict[str, list[dict]], dict]:
    """The modes in alternating rounds, then the stage rates: each mode's rounds, and the stages. A bar on
    stderr (with `opts.progress`) names the part running and the time elapsed."""
    runs: dict[str, list[dict]] = {m: [] for m in opts.modes}
    with BenchProgress(opts.rounds * len(opts.modes) + 1, opts.progress, "bench train") as bar:
        for r in range(opts.rounds):
            for mode in opts.modes:
                with bar.part(f"round {r + 1}/{opts.rounds}: {mode} ({opts.warmup_steps} warm-up + "
                              f"{opts.steps} timed steps)"):
                    runs[mode].append(_train_mode(path, opts, getattr(inputs, mode)))
        timing.settle()
        pipelines = "tfrec and tutorial" if "tutorial" in opts.modes else "tfrec"
        with bar.part(f"stage rates of {pipelines} ({opts.stage_rounds} rounds of {opts.stage_batches} batches)"):
            stages = inputs.stages()
    return runs, stages


def benchmark_train(path: Dataset | str, options: TrainBenchOptions | None = None, **overrides) -> dict:
    """Trains the model from the four inputs in alternating rounds and measures each, then the stages.

    Args:
        path: a tfrec dataset (dataset.json with class labels): tfrec.open_dataset's, or its directory,
            opened once for the whole benchmark.
        options: see TrainBenchOptions; keyword arguments override its fields.

    Returns:
        A dict: per mode (`modes`) the median images/s, its rounds and their `spread` ((max - min) /
        median), step time p50/p95 (ms), input stall % and GPU figures (None without a GPU); `ratios`
        (tfrec / synthetic, the headline; tfrec / tutorial, medians of the per-round ratios in
        `ratio_rounds`), `warnings` (a ratio to synthetic above 1, rounds spread wide: see
        `noise.noise_warnings`), `stages` (per-stage images/s and CPU µs/image of both pipelines, medians
        of `stage_rounds` interleaved rounds, with each stage's own CPU µs, `adds_cpu_us_per_image`, which
        add up to the whole pipeline's, and `within_noise`), `limits`
        (the limiting stage of each input-bound mode), `capacity` (cores the reader needs to keep
        up with the synthetic rate, and the arithmetic), `page_cache`, `targets`.

    Raises:
        TrainUsageError: the data cannot be trained as asked (no labels, bad size, unknown model).
    """
    opts = replace(options or TrainBenchOptions(), **overrides)
    plan = plan_data(path, opts.train_options())
    dataset = plan.dataset  # every mode's run and reader reads through it: dataset.json is read once
    inputs = _Inputs(dataset, opts, plan.image_size)
    runs, stages = _measure(dataset, opts, inputs)
    modes = {m: median_row(r) for m, r in runs.items()}
    synthetic = modes["synthetic"]["images_per_s"]
    rates = {m: [r["images_per_s"] for r in rows] for m, rows in runs.items()}
    ratio_rounds = rounds_ratios(rates)
    ratios = {name: round(statistics.median(values), 3) for name, values in ratio_rounds.items()}
    if "tfrec_vs_tutorial" in ratios:
        ratios["reader_tfrec_vs_tutorial"] = round(stages["tfrec"][-1]["images_per_s"]
                                                   / stages["tutorial"][-1]["images_per_s"], 3)
    for pipeline in stages.values():
        add_increments(pipeline)
    limits = find_limits(modes, stages, synthetic)
    drops = inputs.drops
    result = {
        "path": plan.path, "split": opts.split, "model": plan.model, "image_size": list(plan.image_size),
        "batch_size": opts.batch_size, "augment": opts.augment, "steps": opts.steps, "warmup_steps": opts.warmup_steps,
        "rounds": opts.rounds, "num_parallel_calls": opts.num_parallel_calls, "gpu": gpu_name(),
        "tensorflow": tf.__version__, "modes": modes, "ratios": ratios,
        "ratio_rounds": {k: [round(v, 3) for v in vs] for k, vs in ratio_rounds.items()},
        "warnings": noise_warnings(rates, ratio_rounds), "stages": stages, "stage_rounds": opts.stage_rounds,
        "limits": limits,
        "capacity": plan_cores(stages["tfrec"], synthetic),
        "page_cache": page_cache_row(drops),
        "cache_fill_s": inputs.cache_fill_s,
    }
    result["targets"] = targets(result)
    return result
