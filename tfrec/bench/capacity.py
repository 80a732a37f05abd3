"""Reading per-stage rates: the stage that limits a pipeline, and the CPU cores the reader needs to keep up with a model."""
from __future__ import annotations

import math


def stage_costs(stages: list[dict]) -> list[dict]:
    """Each stage's own cost from cumulative stage figures (each row timed the pipeline up to that stage):
    the wall µs per image it adds (at the parallelism the pipeline had) and the CPU µs per image it adds."""
    rows, wall_before, cpu_before = [], 0.0, 0.0
    for s in stages:
        wall = 1e6 / s["images_per_s"] if s["images_per_s"] else math.inf
        cpu = s.get("cpu_us_per_image")
        rows.append({"stage": s["stage"], "images_per_s": s["images_per_s"],
                     "wall_us": max(0.0, wall - wall_before),
                     "cpu_us": None if cpu is None else max(0.0, cpu - cpu_before)})
        wall_before, cpu_before = max(wall_before, wall), max(cpu_before, cpu or 0.0)
    return rows


def limiting_stage(stages: list[dict], model_images_per_s: float | None, skip: tuple[str, ...] = ()) -> dict:
    """The stage that adds the most time per image, and how far the whole pipeline is from the model's rate.

    `skip` names stages that cannot be the limit (read, when the records are cached in memory).

    Returns:
        {"stage", "adds_us_per_image", "pipeline_images_per_s", "model_images_per_s", "shortfall"}:
        shortfall is the model's rate / the pipeline's (above 1: the input cannot keep up, by that factor).
    """
    costs = stage_costs(stages)
    worst = max((c for c in costs if c["stage"] not in skip), key=lambda c: c["wall_us"])
    rate = stages[-1]["images_per_s"]
    return {"stage": worst["stage"], "adds_us_per_image": round(worst["wall_us"], 2),
            "pipeline_images_per_s": round(rate, 1), "model_images_per_s": model_images_per_s,
            "shortfall": round(model_images_per_s / rate, 3) if model_images_per_s and rate else None}


def plan_cores(stages: list[dict], target_images_per_s: float) -> dict:
    """How many CPU cores the reader needs to deliver `target_images_per_s` (the model's synthetic rate).

    From the CPU time per image measured for each stage (all the process's threads, stage run alone):
    cores = target images/s x CPU seconds per image of the whole pipeline. Per stage, its own CPU
    µs/image and the images/s one core gives at that cost (1e6 / µs).
    """
    costs = stage_costs(stages)
    total_us = stages[-1].get("cpu_us_per_image")
    per_stage = [{"stage": c["stage"], "cpu_us_per_image": None if c["cpu_us"] is None else round(c["cpu_us"], 2),
                  "images_per_s_per_core": round(1e6 / c["cpu_us"]) if c["cpu_us"] else None} for c in costs]
    if not total_us:
        return {"stages": per_stage, "cores": None, "arithmetic": "no CPU time was measured"}
    cores = target_images_per_s * total_us / 1e6
    return {"stages": per_stage, "cpu_us_per_image": round(total_us, 2),
            "images_per_s_per_core": round(1e6 / total_us), "target_images_per_s": round(target_images_per_s, 1),
            "cores": round(cores, 3), "cores_whole": max(1, math.ceil(cores)),
            "arithmetic": f"{target_images_per_s:,.0f} images/s x {total_us:,.1f} CPU µs/image = "
                          f"{cores:,.2f} cores (one core reads {1e6 / total_us:,.0f} images/s)"}
