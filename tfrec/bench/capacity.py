"""Reading per-stage rates: the stage that limits a pipeline, and the CPU cores the reader needs to keep up with a model."""
from __future__ import annotations

import math
import statistics


def stage_increments(cumulative: list[list[float]]) -> list[dict]:
    """Each stage's own share of a cumulative cost measured in rounds (per stage, its value in each round).

    Each figure is the pipeline up to that stage, so it can only grow along the pipeline; measured apart,
    under noise, it may not. A part cannot cost more than the whole it belongs to: from the last stage
    (the whole pipeline) back, each median is capped by the one after it. The increments are then
    non-negative and add up to the whole. A stage's increment is within noise when it is no larger than
    the noise around it: the spread (max - min) of its own rounds or its predecessor's, or how far its
    median had to be lowered.

    Returns:
        Per stage: `measured` (median of its rounds), `cumulative` (capped), `adds` (its increment),
        `noise` and `within_noise`.
    """
    measured = [statistics.median(r) for r in cumulative]
    capped = list(measured)
    for i in range(len(capped) - 2, -1, -1):
        capped[i] = min(capped[i], capped[i + 1])
    spreads = [max(r) - min(r) for r in cumulative]
    rows = []
    for i, (m, c) in enumerate(zip(measured, capped)):
        adds = c - (capped[i - 1] if i else 0.0)
        noise = max(spreads[i], spreads[i - 1] if i else 0.0, m - c)
        raw = m - (measured[i - 1] if i else 0.0)
        rows.append({"measured": m, "cumulative": c, "adds": adds, "noise": noise,
                     "within_noise": raw <= 0 or adds <= noise})
    return rows


def _rounds(stage: dict, key: str) -> list[float] | None:
    values = stage.get("rounds", {}).get(key) or [stage.get(key)]
    return None if any(v is None for v in values) else values


def stage_costs(stages: list[dict]) -> list[dict]:
    """Each stage's own cost from cumulative stage figures (each row timed the pipeline up to that stage, in
    rounds where `rounds` is given): the wall µs per image it adds (at the parallelism the pipeline had) and
    the CPU µs per image it adds, both non-negative and adding up to the whole pipeline's (`stage_increments`);
    `within_noise` where the CPU increment (or the wall one, without CPU figures) is no larger than the noise."""
    wall_rounds = [[1e6 / r if r else math.inf for r in _rounds(s, "images_per_s")] for s in stages]
    wall = stage_increments(wall_rounds)
    cpu_rounds = [_rounds(s, "cpu_us_per_image") for s in stages]
    cpu = stage_increments(cpu_rounds) if all(cpu_rounds) else None
    return [{"stage": s["stage"], "images_per_s": s["images_per_s"], "wall_us": w["adds"],
             "cpu_us": c and c["adds"], "within_noise": (c or w)["within_noise"]}
            for s, w, c in zip(stages, wall, cpu or [None] * len(stages))]


def add_increments(stages: list[dict]) -> list[dict]:
    """Adds to each stage row its own CPU µs per image, `adds_cpu_us_per_image` (non-negative, adding up to the
    whole pipeline's), and `within_noise` (see `stage_costs`); returns the rows."""
    for row, cost in zip(stages, stage_costs(stages)):
        row["adds_cpu_us_per_image"] = None if cost["cpu_us"] is None else round(cost["cpu_us"], 2)
        row["within_noise"] = cost["within_noise"]
    return stages


def limiting_stage(stages: list[dict], model_images_per_s: float | None, skip: tuple[str, ...] = (),
                   rate: float | None = None) -> dict:
    """The stage that adds the most time per image, and how far the whole pipeline is from the model's rate.

    `skip` names stages that cannot be the limit (read, when the records are cached in memory). `rate` is
    the whole pipeline's images/s at its parallelism where the stages were timed in one process (the
    PyTorch loader's: its workers); default: the last stage's.

    Returns:
        {"stage", "adds_us_per_image", "pipeline_images_per_s", "model_images_per_s", "shortfall"}:
        shortfall is the model's rate / the pipeline's (above 1: the input cannot keep up, by that factor).
    """
    costs = stage_costs(stages)
    worst = max((c for c in costs if c["stage"] not in skip), key=lambda c: c["wall_us"])
    rate = rate or stages[-1]["images_per_s"]
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
                  "images_per_s_per_core": round(1e6 / c["cpu_us"]) if c["cpu_us"] else None,
                  "within_noise": c["within_noise"]} for c in costs]
    if not total_us:
        return {"stages": per_stage, "cores": None, "arithmetic": "no CPU time was measured"}
    cores = target_images_per_s * total_us / 1e6
    return {"stages": per_stage, "cpu_us_per_image": round(total_us, 2),
            "images_per_s_per_core": round(1e6 / total_us), "target_images_per_s": round(target_images_per_s, 1),
            "cores": round(cores, 3), "cores_whole": max(1, math.ceil(cores)),
            "arithmetic": f"{target_images_per_s:,.0f} images/s x {total_us:,.1f} CPU µs/image = "
                          f"{cores:,.2f} cores (one core reads {1e6 / total_us:,.0f} images/s)"}
