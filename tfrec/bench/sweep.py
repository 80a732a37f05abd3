"""`tfrec bench train --sweep`: reader parallelism, batch size and augmentation preset, one at a time, to show
where the input stops keeping up with the model."""
from __future__ import annotations

from dataclasses import replace

from ..io.dataset import Dataset
from ..read.augment import PRESETS
from ..training.data import plan_data
from .progress import BenchProgress
from .read import time_pass
from .train import TrainBenchOptions, _Inputs, _train_mode

PARALLELISM = (1, 2, -1, None)  # -1: AUTOTUNE in every stage; None: the reader's default
BATCH_FACTORS = (0.25, 0.5, 1, 2)  # times the chosen batch size


def sweep_settings(opts: TrainBenchOptions) -> list[tuple[str, str, dict]]:
    """(dimension, setting, the options it changes): each dimension swept around the chosen options."""
    names = {-1: "AUTOTUNE", None: "default"}
    out = [("reader parallelism", names.get(p, str(p)), {"num_parallel_calls": p}) for p in PARALLELISM]
    sizes = sorted({max(1, int(opts.batch_size * f)) for f in BATCH_FACTORS})
    out += [("batch size", str(b), {"batch_size": b}) for b in sizes]
    out += [("augmentation", name, {"augment": name}) for name in PRESETS]
    return out


def sweep_train(path: Dataset | str, options: TrainBenchOptions | None = None, dimensions: tuple[str, ...] | None = None,
                **overrides) -> dict:
    """For each setting: the reader's images/s alone, the model's on a synthetic batch, and training from tfrec.

    `dimensions` picks some of "reader parallelism", "batch size", "augmentation" (default: all).

    Returns:
        {"rows": [{"dimension", "setting", "reader_images_per_s", "synthetic_images_per_s",
        "tfrec_images_per_s", "input_stall_pct", "gpu_util_mean_pct" (None without a GPU)}], ...}.
    """
    opts = replace(options or TrainBenchOptions(), **overrides)
    plan = plan_data(path, opts.train_options())
    dataset = plan.dataset  # opened once: every setting reads through it
    synthetic: dict[int, dict] = {}  # the model's rate depends on the batch size only
    rows = []
    settings = [s for s in sweep_settings(opts) if dimensions is None or s[0] in dimensions]
    with BenchProgress(len(settings), opts.progress, "bench train --sweep") as bar:
        for dimension, setting, change in settings:
            with bar.part(f"sweep {dimension} = {setting}"):
                rows.append(_sweep_row(dataset, replace(opts, rounds=1, **change), plan.image_size, synthetic))
            rows[-1] = {"dimension": dimension, "setting": setting, **rows[-1]}
    return {"path": plan.path, "model": plan.model, "batch_size": opts.batch_size, "augment": opts.augment,
            "steps": opts.steps, "rows": rows}


def _sweep_row(dataset: Dataset, o: TrainBenchOptions, image_size: tuple[int, int],
               synthetic: dict[int, dict]) -> dict:
    """One setting: the reader alone, the model on a synthetic batch (once per batch size), training from tfrec."""
    inputs = _Inputs(dataset, o, image_size)
    reader = time_pass(inputs.reader(), o.stage_batches)["images_per_s"]
    if o.batch_size not in synthetic:
        synthetic[o.batch_size] = _train_mode(dataset, o, inputs.synthetic)
    run = _train_mode(dataset, o, inputs.tfrec)
    return {"reader_images_per_s": round(reader, 1), "synthetic_images_per_s": synthetic[o.batch_size]["images_per_s"],
            "tfrec_images_per_s": run["images_per_s"], "input_stall_pct": run["input_stall_pct"],
            "gpu_util_mean_pct": run["gpu"]["util_mean_pct"] if run["gpu"] else None}
