"""`tfrec bench train --framework jax`: the four modes through the JAX trainer, and a plain JAX loop beside.

The modes (inputs.py) separate the costs as the other backends do (DS-Analyzer): synthetic (one batch on the
device) is the model's pace inside tfrec's trainer; tfrec cached adds preparing (parse, decode, augment in
the reader's threads); tfrec from storage adds fetching; the tutorial (Grain's DataLoader) is the baseline.
Every mode runs `tfrec.training.jax.loop.train(..., batches=...)`: the same compiled step, input monitor and
GPU monitor as `tfrec train --framework jax`, a warm-up epoch and a timed epoch of `steps` steps (each run
compiles its step in its first, untimed one). Each round ends with the plain loop (plain.py) on the
synthetic batch: synthetic / plain is the trainer's own cost. The result has the other paths' keys plus
`framework`, `jax`, `device`, `num_workers`, `plain`, `readers` and `cache`.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Callable

from ...training.jax.backend import use_jax_backend

use_jax_backend()

import jax  # noqa: E402

from ... import timing  # noqa: E402
from ...io.dataset import Dataset  # noqa: E402
from ...training.jax.loop import _build, train  # noqa: E402
from ...training.plan import plan_data  # noqa: E402
from ..capacity import add_increments, plan_cores  # noqa: E402
from ..noise import noise_warnings  # noqa: E402
from ..options import TrainBenchOptions  # noqa: E402
from ..progress import BenchProgress  # noqa: E402
from ..rounds import find_limits, median_row, mode_row, page_cache_row, ratio_rounds, targets  # noqa: E402
from ..torch.stages import batch_size_of, stage_rates  # noqa: E402 - NumPy only: no torch is imported there
from .inputs import JaxInputs  # noqa: E402
from .plain import plain_loop_rate  # noqa: E402

TARGET_VS_PLAIN = 0.9  # synthetic / the plain loop (issue 27's target for the torch path, held here too)


def gpu_name() -> str | None:
    """The first GPU's name as JAX sees it, None without one."""
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    return gpus[0].device_kind if gpus else None


def train_mode(dataset: Dataset, opts: TrainBenchOptions, batches: Callable[[int], object]) -> dict:
    """One mode's timed epoch through the JAX trainer (`rounds.mode_row`: start-up reported apart)."""
    timing.settle()
    return mode_row(train(dataset, opts.train_options(), batches=batches).to_json())


def plain_row(plan, opts: TrainBenchOptions, inputs: JaxInputs) -> dict:
    """The plain JAX loop on the synthetic mode's batch: the zoo's Keras model, the trainer's optimizer and precision."""
    timing.settle()
    images, labels = inputs.first_batch()
    t = replace(opts.train_options(), framework="jax")
    model = _build(plan, t)
    return plain_loop_rate(model, images, labels, opts.steps, opts.warmup_steps, optimizer=t.optimizer,
                           lr=t.learning_rate, mixed_precision=opts.mixed_precision)


def _measure(plan, opts: TrainBenchOptions, inputs: JaxInputs) -> tuple[dict, list[dict], dict, dict]:
    """The modes and the plain loop in alternating rounds, then the stages and each pipeline alone."""
    runs: dict[str, list[dict]] = {m: [] for m in opts.modes}
    plain: list[dict] = []
    with BenchProgress(opts.rounds * (len(opts.modes) + 1) + 2, opts.progress, "bench train (jax)") as bar:
        for r in range(opts.rounds):
            for mode in opts.modes:
                with bar.part(f"round {r + 1}/{opts.rounds}: {mode} ({opts.warmup_steps} warm-up + "
                              f"{opts.steps} timed steps)"):
                    runs[mode].append(train_mode(plan.dataset, opts, getattr(inputs, mode)))
            with bar.part(f"round {r + 1}/{opts.rounds}: plain JAX loop ({opts.steps} steps)"):
                plain.append(plain_row(plan, opts, inputs))
        pipelines = inputs.stages()
        with bar.part(f"stage rates of {' and '.join(pipelines)} ({opts.stage_rounds} rounds of "
                      f"{opts.stage_batches} batches, in-process)"):
            stages = {name: stage_rates(built, opts.stage_batches, opts.stage_rounds)
                      for name, built in pipelines.items()}
        with bar.part(f"{' and '.join(pipelines)} alone with {inputs.workers} workers"):
            readers = {}
            for name, make in inputs.readers().items():
                timing.settle()
                it = make()
                try:
                    run = timing.time_pass(it, batch_size_of, opts.stage_batches)
                finally:
                    it.close()
                readers[name] = {"images_per_s": round(run["images_per_s"], 1), "workers": inputs.workers,
                                 "first_batch_s": round(run["first_batch_s"], 3)}
    return runs, plain, stages, readers


def _plain_summary(plain: list[dict]) -> dict:
    rates = [p["images_per_s"] for p in plain]
    out = {k: v for k, v in plain[0].items() if k not in ("images_per_s", "step_ms_p50", "step_ms_p95")}
    return {"images_per_s": round(statistics.median(rates), 1), "images_per_s_rounds": rates,
            "step_ms_p50": round(statistics.median(p["step_ms_p50"] for p in plain), 3), "step_ms_p95": None, **out}


def benchmark_train(path: Dataset | str, options: TrainBenchOptions | None = None, **overrides) -> dict:
    """Trains the model with JAX from the four inputs in alternating rounds, with the plain JAX loop beside.

    Args:
        path: a tfrec dataset (dataset.json with class labels), or its directory; opened once.
        options: see TrainBenchOptions (`num_parallel_calls`: the reader's threads and Grain's worker processes,
            default one per core); keyword arguments override its fields.

    Returns:
        tfrec.bench.torch.train.benchmark_train's keys (modes, ratios with synthetic_vs_plain, ratio_rounds,
        warnings, stages, limits, capacity, page_cache, targets, plain, readers, cache; GPU figures None
        without a GPU), with `framework` 'jax', `jax` (its version) and `device`.

    Raises:
        TrainUsageError: the data cannot be trained as asked (no labels, bad size, unknown model).
    """
    opts = replace(options or TrainBenchOptions(), **overrides)
    plan = plan_data(path, replace(opts.train_options(), framework="jax"))
    inputs = JaxInputs(plan.dataset, opts, plan.image_size, plan.resize)
    try:
        runs, plain, stages, readers = _measure(plan, opts, inputs)
    finally:
        inputs.close()
    modes = {m: median_row(r) for m, r in runs.items()}
    synthetic = modes["synthetic"]["images_per_s"]
    rates = {m: [r["images_per_s"] for r in rows] for m, rows in runs.items()}
    rounds = ratio_rounds(rates)
    rounds["synthetic_vs_plain"] = [s / p["images_per_s"] for s, p in zip(rates["synthetic"], plain)]
    ratios = {name: round(statistics.median(values), 3) for name, values in rounds.items()}
    if "tfrec_vs_tutorial" in ratios:
        ratios["reader_tfrec_vs_tutorial"] = round(readers["tfrec"]["images_per_s"]
                                                   / readers["tutorial"]["images_per_s"], 3)
    for pipeline in stages.values():
        add_increments(pipeline)
    limits = find_limits(modes, stages, synthetic, {k: r["images_per_s"] for k, r in readers.items()})
    device = jax.devices()[0]
    result = {
        "path": plan.path, "split": opts.split, "model": plan.model, "image_size": list(plan.image_size),
        "batch_size": opts.batch_size, "augment": opts.augment, "steps": opts.steps, "warmup_steps": opts.warmup_steps,
        "rounds": opts.rounds, "num_parallel_calls": opts.num_parallel_calls, "gpu": gpu_name(),
        "tensorflow": None, "framework": "jax", "jax": jax.__version__, "device": f"{device.platform}:{device.id}",
        "num_workers": inputs.workers, "mixed_precision": opts.mixed_precision, "decode_device": opts.decode_device,
        "modes": modes,
        "plain": _plain_summary(plain), "ratios": ratios,
        "ratio_rounds": {k: [round(v, 3) for v in vs] for k, vs in rounds.items()},
        "warnings": noise_warnings(rates, rounds), "stages": stages, "stage_rounds": opts.stage_rounds,
        "stages_in_process": True, "readers": readers, "limits": limits,
        "capacity": plan_cores(stages["tfrec"], synthetic),
        "page_cache": page_cache_row(inputs.drops), "cache": inputs.cache, "cache_fill_s": None,
    }
    result["targets"] = targets(result)
    v = ratios["synthetic_vs_plain"]
    result["targets"]["synthetic_vs_plain"] = {"wanted": TARGET_VS_PLAIN, "measured": v, "met": v >= TARGET_VS_PLAIN}
    return result
