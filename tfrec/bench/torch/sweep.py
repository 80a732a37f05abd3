"""`tfrec bench train --framework torch --sweep`: the loader's workers, batch size and augmentation preset, one at a
time, to show where the input stops keeping up with the model (the rows chart.sweep_chart draws)."""
from __future__ import annotations

from dataclasses import replace

from ... import timing
from ...access.augment import PRESETS
from ...io.dataset import Dataset
from ...training.plan import plan_data
from ...training.torch.loop import pick_device
from ..options import TrainBenchOptions
from ..progress import BenchProgress
from .inputs import TorchInputs, default_workers
from .stages import batch_size_of
from .train import train_mode

BATCH_FACTORS = (0.25, 0.5, 1, 2)  # times the chosen batch size, as the TensorFlow sweep


def sweep_settings(opts: TrainBenchOptions) -> list[tuple[str, str, dict]]:
    """(dimension, setting, the options it changes): each dimension swept around the chosen options."""
    cores = default_workers()
    workers = sorted({0, 1, 2, cores} | ({opts.num_parallel_calls} if opts.num_parallel_calls is not None else set()))
    out = [("loader workers", str(w), {"num_parallel_calls": w}) for w in workers]
    sizes = sorted({max(1, int(opts.batch_size * f)) for f in BATCH_FACTORS})
    out += [("batch size", str(b), {"batch_size": b}) for b in sizes]
    out += [("augmentation", name, {"augment": name}) for name in PRESETS]
    return out


def sweep_train(path: Dataset | str, options: TrainBenchOptions | None = None, dimensions: tuple[str, ...] | None = None,
                **overrides) -> dict:
    """For each setting: the loader's images/s alone, the model's on a synthetic batch, and training from tfrec.

    `dimensions` picks some of "loader workers", "batch size", "augmentation" (default: all).

    Returns:
        {"rows": [{"dimension", "setting", "reader_images_per_s", "synthetic_images_per_s",
        "tfrec_images_per_s", "input_stall_pct", "gpu_util_mean_pct" (None without a GPU)}], ...}.
    """
    opts = replace(options or TrainBenchOptions(), **overrides)
    plan = plan_data(path, replace(opts.train_options(), framework="torch"))
    device = pick_device()
    synthetic: dict[int, dict] = {}  # the model's rate depends on the batch size only
    rows = []
    settings = [s for s in sweep_settings(opts) if dimensions is None or s[0] in dimensions]
    with BenchProgress(len(settings), opts.progress, "bench train --sweep (torch)") as bar:
        for dimension, setting, change in settings:
            with bar.part(f"sweep {dimension} = {setting}"):
                o = replace(opts, rounds=1, **change)
                inputs = TorchInputs(plan.dataset, o, plan.image_size, plan.resize, device)
                try:
                    rows.append({"dimension": dimension, "setting": setting, **_sweep_row(plan, o, inputs, synthetic)})
                finally:
                    inputs.close()
    return {"path": plan.path, "model": plan.model, "batch_size": opts.batch_size, "augment": opts.augment,
            "steps": opts.steps, "framework": "torch", "rows": rows}


def _sweep_row(plan, o: TrainBenchOptions, inputs: TorchInputs, synthetic: dict[int, dict]) -> dict:
    """One setting: the loader alone, the model on a synthetic batch (once per batch size), training from tfrec."""
    timing.settle()
    it = inputs.readers()["tfrec"]()
    try:
        reader = timing.time_pass(it, batch_size_of, o.stage_batches)["images_per_s"]
    finally:
        it.close()
    if o.batch_size not in synthetic:
        synthetic[o.batch_size] = train_mode(plan.dataset, o, inputs.synthetic)
    run = train_mode(plan.dataset, o, inputs.tfrec)
    return {"reader_images_per_s": round(reader, 1), "synthetic_images_per_s": synthetic[o.batch_size]["images_per_s"],
            "tfrec_images_per_s": run["images_per_s"], "input_stall_pct": run["input_stall_pct"],
            "gpu_util_mean_pct": run["gpu"]["util_mean_pct"] if run["gpu"] else None}
