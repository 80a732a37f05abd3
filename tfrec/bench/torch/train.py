"""`tfrec bench train --framework torch`: the four modes through the PyTorch trainer, and a plain PyTorch loop beside.

The modes (inputs.py) separate the costs as the TensorFlow path does (DS-Analyzer): synthetic (one batch
on the device) is the model's pace inside tfrec's trainer; tfrec cached adds preparing (parse, decode,
augment in the loader's workers); tfrec from storage adds fetching; the tutorial (`tfrecord` package)
is the baseline. Every mode runs `tfrec.training.torch.loop.train(..., batches=...)`: the same step,
input monitor and GPU monitor as `tfrec train --framework torch`, a warm-up epoch and a timed epoch of
`steps` steps. Each round ends with the plain loop (plain.py) on the synthetic batch: synthetic / plain
is the trainer's own cost (issue 27: >= 0.9). The stages are timed in this process (stages.py), each
pipeline also alone at its workers' parallelism (`readers`). The result has the TensorFlow path's keys
plus `framework`, `torch`, `device`, `num_workers`, `plain`, `readers` and `cache`.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Callable

import torch

from ... import timing
from ...io.dataset import Dataset
from ...training.plan import plan_data
from ...training.torch.loop import pick_device, train
from ...training.torch.zoo import build_model
from ..capacity import add_increments, plan_cores
from ..noise import noise_warnings
from ..options import TrainBenchOptions
from ..progress import BenchProgress
from ..rounds import find_limits, median_row, mode_row, page_cache_row, ratio_rounds, targets
from .inputs import TorchInputs
from .plain import plain_loop_rate
from .stages import batch_size_of, stage_rates

TARGET_VS_PLAIN = 0.9  # synthetic / the plain PyTorch loop (issue 27)


def gpu_name() -> str | None:
    """The first CUDA device's name, None without one."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def train_mode(dataset: Dataset, opts: TrainBenchOptions, batches: Callable[[int], object]) -> dict:
    """One mode's timed epoch through the PyTorch trainer (`rounds.mode_row`: start-up reported apart)."""
    timing.settle()
    return mode_row(train(dataset, opts.train_options(), batches=batches).to_json())


def plain_row(plan, opts: TrainBenchOptions, inputs: TorchInputs) -> dict:
    """The plain PyTorch loop on the synthetic mode's batch: the zoo's model, the trainer's optimizer, precision,
    device and layout (channels-last on CUDA, as the trainer)."""
    timing.settle()
    images, labels = inputs.first_batch()
    model = build_model(plan.model, plan.num_classes, (*plan.image_size, plan.channels)).to(images.device)
    t = opts.train_options()
    return plain_loop_rate(model, images, labels, opts.steps, opts.warmup_steps, optimizer=t.optimizer,
                           lr=t.learning_rate, mixed_precision=opts.mixed_precision,
                           channels_last=images.device.type == "cuda")


def _measure(plan, opts: TrainBenchOptions, inputs: TorchInputs) -> tuple[dict, list[dict], dict, dict]:
    """The modes and the plain loop in alternating rounds, then the stages and each pipeline alone."""
    runs: dict[str, list[dict]] = {m: [] for m in opts.modes}
    plain: list[dict] = []
    with BenchProgress(opts.rounds * (len(opts.modes) + 1) + 2, opts.progress, "bench train (torch)") as bar:
        for r in range(opts.rounds):
            for mode in opts.modes:
                with bar.part(f"round {r + 1}/{opts.rounds}: {mode} ({opts.warmup_steps} warm-up + "
                              f"{opts.steps} timed steps)"):
                    runs[mode].append(train_mode(plan.dataset, opts, getattr(inputs, mode)))
            with bar.part(f"round {r + 1}/{opts.rounds}: plain PyTorch loop ({opts.steps} steps)"):
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
    p95 = [p["step_ms_p95"] for p in plain if p["step_ms_p95"] is not None]
    return {"images_per_s": round(statistics.median(rates), 1), "images_per_s_rounds": rates,
            "step_ms_p50": round(statistics.median(p["step_ms_p50"] for p in plain), 3),
            "step_ms_p95": round(statistics.median(p95), 3) if p95 else None, **out}


def benchmark_train(path: Dataset | str, options: TrainBenchOptions | None = None, **overrides) -> dict:
    """Trains the model with PyTorch from the four inputs in alternating rounds, with the plain loop beside.

    Args:
        path: a tfrec dataset (dataset.json with class labels), or its directory; opened once.
        options: see TrainBenchOptions (`num_parallel_calls`: the loaders' worker processes, default one
            per core); keyword arguments override its fields.

    Returns:
        tfrec.bench.train.benchmark_train's dict (modes, ratios, ratio_rounds, warnings, stages, limits,
        capacity, page_cache, targets; GPU figures None without a GPU), plus `plain` (the plain loop's
        images/s, its rounds, step p50/p95, optimizer, precision, layout), `ratios["synthetic_vs_plain"]`
        and its target, `readers` (each pipeline alone at the modes' workers), `cache` (how tfrec_cached
        held the records), `framework`, `torch`, `device`, `num_workers`.

    Raises:
        TrainUsageError: the data cannot be trained as asked (no labels, bad size, unknown model).
    """
    opts = replace(options or TrainBenchOptions(), **overrides)
    plan = plan_data(path, replace(opts.train_options(), framework="torch"))
    device = pick_device()
    inputs = TorchInputs(plan.dataset, opts, plan.image_size, plan.resize, device)
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
    result = {
        "path": plan.path, "split": opts.split, "model": plan.model, "image_size": list(plan.image_size),
        "batch_size": opts.batch_size, "augment": opts.augment, "steps": opts.steps, "warmup_steps": opts.warmup_steps,
        "rounds": opts.rounds, "num_parallel_calls": opts.num_parallel_calls, "gpu": gpu_name(),
        "tensorflow": None, "framework": "torch", "torch": torch.__version__, "device": str(device),
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
