"""`bench train`'s figures from its rounds, whatever framework trained them: each mode's row, medians, ratios, the
limiting stage, the targets and why the headline was missed (no framework here)."""
from __future__ import annotations

import statistics

from .capacity import limiting_stage
from .noise import round_spread
from .options import INPUT_BOUND_STALL_PCT, TARGET_VS_SYNTHETIC, TARGET_VS_TUTORIAL


def mode_row(result: dict) -> dict:
    """One mode's timed epoch from a trainer's result (`TrainResult.to_json()`, its last epoch). The first wait is
    the reader's start-up (opening files, from cold storage for tfrec, filling buffers or starting workers):
    reported apart (`first_wait_s`, `start_images_per_s`), since a benchmark epoch of a few dozen steps would
    weigh it far more than a real epoch does."""
    row = result["epochs"][-1]
    first = row["first_wait_s"] or 0.0
    # After the first wait every batch of the epoch, the first one too, is stepped within the rest of the wall
    # (counting one batch fewer, as this did before, read 7/8 of the rate over 8 steps).
    steady_wall = row["wall_s"] - first
    return {"images_per_s": round(row["images"] / steady_wall, 1) if steady_wall > 0 else None,
            "input_stall_pct": row["steady_stall_pct"], "step_ms_p50": row["step_ms_p50"],
            "step_ms_p95": row["step_ms_p95"], "wait_ms_p95": row["wait_ms_p95"], "first_wait_s": first,
            "start_images_per_s": row["images_per_s"], "start_stall_pct": row["input_stall_pct"], "gpu": row["gpu"]}


def median_row(runs: list[dict]) -> dict:
    """A mode's rounds as one row: the median of each figure, the images/s of each round and their spread."""
    out = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0] if k != "gpu"}
    out["images_per_s_rounds"] = [r["images_per_s"] for r in runs]
    out["spread"] = round_spread(out["images_per_s_rounds"])  # (max - min) / median of the rounds
    gpu = [r["gpu"] for r in runs if r["gpu"]]
    # Without a GPU (or NVML) nothing was measured: None, never a zero.
    out["gpu"] = {k: statistics.median(g[k] for g in gpu) for k in gpu[0]} if gpu else None
    return out


def ratio_rounds(rates: dict[str, list[float]]) -> dict[str, list[float]]:
    """Each ratio in each round (a / b of the same round): their median is the ratio, robust to drift that
    falls on both members of a round alike; their range is its noise."""
    pairs = {f"{m}_vs_synthetic": (m, "synthetic") for m in rates if m != "synthetic"}
    if "tfrec" in rates and "tutorial" in rates:
        pairs["tfrec_vs_tutorial"] = ("tfrec", "tutorial")
    return {name: [a / b for a, b in zip(rates[m], rates[n])] for name, (m, n) in pairs.items()}


def find_limits(modes: dict[str, dict], stages: dict[str, list[dict]], synthetic: float,
                rates: dict[str, float] | None = None) -> dict:
    """Marks each mode input-bound or not (stall above INPUT_BOUND_STALL_PCT) and, for each input-bound mode,
    names its limiting stage and whether the wait comes from a stage's rate or from sharing the cores.
    `rates`: each pipeline's images/s at its parallelism, where its stages were timed in one process."""
    limits = {}
    for mode, row in modes.items():
        bound = mode != "synthetic" and row["input_stall_pct"] > INPUT_BOUND_STALL_PCT
        row["input_bound"] = bound
        if not bound:
            continue
        name = "tutorial" if mode == "tutorial" else "tfrec"
        limits[mode] = limiting_stage(stages[name], synthetic, skip=("read",) if mode == "tfrec_cached" else (),
                                      rate=(rates or {}).get(name))
        if limits[mode]["shortfall"] is not None and limits[mode]["shortfall"] < 1:
            # Alone, the pipeline outruns the model: the wait comes from sharing the cores with the step
            # (on a CPU the model and the reader run on the same cores), not from a stage's rate.
            limits[mode]["cause"] = "contention"
        else:
            limits[mode]["cause"] = "stage"
    return limits


def median_or_none(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def page_cache_row(drops: list[dict]) -> dict:
    """What dropping the page cache before each timed tfrec epoch did (pagecache.drop_page_cache's reports)."""
    return {"dropped": bool(drops), "method": drops[-1]["method"] if drops else None,
            "resident_before": median_or_none([d["resident_before"] for d in drops]),
            "resident_after": median_or_none([d["resident_after"] for d in drops])}


def targets(result: dict) -> dict:
    """The issue's targets, measured in this run: tfrec / synthetic >= 0.95; tfrec >= 3x tutorial where the
    tutorial mode is input-bound (not applicable otherwise: then both run at the model's speed). A missed
    headline comes with `why`: see `headline_diagnosis`."""
    ratios, modes = result["ratios"], result["modes"]
    out = {}
    if "tfrec_vs_synthetic" in ratios:
        v = ratios["tfrec_vs_synthetic"]
        out["tfrec_vs_synthetic"] = {"wanted": TARGET_VS_SYNTHETIC, "measured": v, "met": v >= TARGET_VS_SYNTHETIC}
        if v < TARGET_VS_SYNTHETIC:
            out["tfrec_vs_synthetic"]["why"] = headline_diagnosis(result)
    if "tfrec_vs_tutorial" in ratios:
        bound = modes["tutorial"]["input_bound"]
        v = ratios["tfrec_vs_tutorial"]
        out["tfrec_vs_tutorial"] = {"wanted": TARGET_VS_TUTORIAL, "measured": v, "applies": bound,
                                    "met": (v >= TARGET_VS_TUTORIAL) if bound else None}
    return out


def headline_diagnosis(result: dict) -> dict:
    """Why tfrec fell short of synthetic, the DS-Analyzer way: the share of the synthetic rate lost to
    preparing (synthetic -> tfrec cached) and to fetching from storage (tfrec cached -> tfrec), the stage
    to blame (read, when fetching lost more; else the costliest stage by CPU time), whether the step
    waited for input or itself ran slower (the reader's threads and I/O taking the cores from the step, on
    a CPU), the cores the reader needed, and the run's own noise (the synthetic rate's spread over rounds)."""
    modes, cap, ratios = result["modes"], result["capacity"], result["ratios"]
    tfrec, synthetic = modes["tfrec"], modes["synthetic"]
    prepared = min(1.0, ratios.get("tfrec_cached_vs_synthetic", 1.0))
    fetch_loss = max(0.0, prepared - ratios["tfrec_vs_synthetic"])
    prepare_loss = 1.0 - prepared
    costly = max((s for s in cap["stages"] if s["cpu_us_per_image"] and s["stage"] != "read"),
                 key=lambda s: s["cpu_us_per_image"], default=None)
    rounds = synthetic["images_per_s_rounds"]
    return {"stage": "read" if fetch_loss >= prepare_loss else costly and costly["stage"],
            "fetch_loss": round(fetch_loss, 3), "prepare_loss": round(prepare_loss, 3),
            "cause": "input" if tfrec["input_bound"] else "slower step",
            "input_stall_pct": tfrec["input_stall_pct"],
            "step_p50_vs_synthetic": round(tfrec["step_ms_p50"] / synthetic["step_ms_p50"], 3),
            "costliest_prepare_stage": costly and costly["stage"],
            "costliest_prepare_stage_cpu_us": costly and costly["cpu_us_per_image"],
            "reader_cores": cap.get("cores"),
            "synthetic_spread": round(max(rounds) / min(rounds), 3) if len(rounds) > 1 and min(rounds) else None}
