"""Utilisation benchmark: cifar_cnn trained from CIFAR-format TFRecords in four input modes (`tfrec bench train`).

One run, the same data for every mode: synthetic (one batch fed again and again: the model alone),
tfrec from storage (the shards evicted from the page cache before each timed epoch), tfrec with the
serialized records cached in memory, and the tutorial pipeline (one record at a time). The modes
alternate, round after round; figures are medians over rounds, ratios medians of per-round ratios.
Per-stage rates of both pipelines (as `tfrec bench read` measures them) name the limiting stage and
give the capacity plan. Then the sweep (reader parallelism, batch size, augmentation preset) and its
chart. Targets (issue 12): tfrec / synthetic >= 0.95; tfrec >= 3x tutorial where the tutorial mode
is input-bound.

Prints one JSON line; rewrites the "utilisation" section of benchmarks/RESULTS.md and the charts
benchmarks/utilisation.png and benchmarks/utilisation-sweep.png unless --no-write.

    python benchmarks/utilisation.py [--quick] [--rounds N] [--workdir DIR] [--no-sweep] [--no-write] [--from-json F]
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


from _results import git_rev, machine, round_arguments, update_section  # noqa: E402
from tfrec.bench.chart import modes_chart, sweep_chart  # noqa: E402
from tfrec.bench.options import TrainBenchOptions  # noqa: E402
from tfrec.bench.sweep import sweep_train  # noqa: E402
from tfrec.bench.train import benchmark_train, targets  # noqa: E402
from tfrec.cli.bench import headline_miss  # noqa: E402
from tfrec.demo import synth  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

FULL = {"records": 50_000, "steps": 30, "rounds": 3, "stage_batches": 20, "sweep_steps": 10}
QUICK = {"records": 5_000, "steps": 12, "rounds": 2, "stage_batches": 8, "sweep_steps": 4}
BATCH, MODEL, AUGMENT = 128, "cifar_cnn", "cifar"
LABELS = {"synthetic": "synthetic (one batch, again and again)", "tfrec": "tfrec, from storage",
          "tfrec_cached": "tfrec, records cached in memory", "tutorial": "tutorial pipeline"}


def prepare(workdir: str, records: int) -> str:
    """CIFAR-10-format binaries (synthetic pictures), converted into 8 shards (made once per workdir)."""
    out = os.path.join(workdir, f"cifar-{records}")
    if not os.path.exists(os.path.join(out, "dataset.json")):
        synth.write_cifar10(out + "-src", records, 1_000, seed=0)
        convert(out + "-src", out, ConvertOptions(shards=8, progress=False, overwrite=True))
    return out


def command(quick: bool) -> str:
    return "python benchmarks/utilisation.py" + (" --quick" if quick else "")


def _fmt(v, spec=",.0f"):
    return "-" if v is None else format(v, spec)


def markdown(out: dict) -> str:
    r, size = out["result"], out["sizes"]
    gpu = r["gpu"] or "no GPU"
    lines = [
        "## Input against the model: `benchmarks/utilisation.py`" + (" (--quick)" if out["quick"] else ""),
        "",
        f"Machine: {out['machine']}; TensorFlow {r['tensorflow']}; GPU: {gpu}; git {out['git']}; {out['date']}; "
        f"`{command(out['quick'])}` ({out['seconds']:.0f} s).",
        "",
        f"{MODEL} trained on {size['records']:,} CIFAR-format records (8 shards, 32x32x3), batch {BATCH}, `{AUGMENT}` "
        f"preset; per mode a warm-up epoch of {r['warmup_steps']} steps, then {r['steps']} timed steps; "
        f"{r['rounds']} rounds alternating the modes; medians. The same measurement on your data: "
        f"`tfrec bench train DATA --model {MODEL} --augment {AUGMENT} --batch-size {BATCH}`. Images/s and stall leave "
        "out each timed epoch's first wait (the reader's start-up: opening the shards from cold storage and filling "
        "the shuffle buffer), shown apart.",
        "",
        "| mode | images/s | per round | step p50 / p95 ms | input stall | first wait s | GPU utilisation |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for mode, m in r["modes"].items():
        util = "no GPU" if not m["gpu"] else f"{m['gpu']['util_mean_pct']:.0f}% (p10 {m['gpu']['util_p10_pct']:.0f}%)"
        lines.append(f"| {LABELS[mode]} | {m['images_per_s']:,.0f} | {', '.join(_fmt(v) for v in m['images_per_s_rounds'])} "
                     f"| {m['step_ms_p50']:.1f} / {m['step_ms_p95']:.1f} | {m['input_stall_pct']:.2f}% "
                     f"| {m['first_wait_s']:.2f} | {util} |")
    ratios = r["ratios"]
    lines += ["", "| target | wanted | measured | met |", "| --- | ---: | ---: | --- |"]
    t = r["targets"]
    lines.append(f"| tfrec / synthetic (headline) | >= {t['tfrec_vs_synthetic']['wanted']} | "
                 f"{t['tfrec_vs_synthetic']['measured']:.3f} | {'yes' if t['tfrec_vs_synthetic']['met'] else '**no**'} |")
    tt = t["tfrec_vs_tutorial"]
    lines.append(f"| tfrec / tutorial, where the tutorial mode is input-bound | >= {tt['wanted']}x | "
                 f"{tt['measured']:.2f}x in training; {ratios['reader_tfrec_vs_tutorial']:.2f}x as readers alone | "
                 + ("yes" if tt["met"] else "**no**" if tt["applies"] else
                    "does not apply: the tutorial mode is not input-bound here") + " |")
    why = t["tfrec_vs_synthetic"].get("why")
    if why:
        cached = ratios.get("tfrec_cached_vs_synthetic")
        lines += ["", "Headline " + headline_miss(why) + "." + (
            f" tfrec cached / synthetic = {cached:.3f}, above 1.0, shows the same noise: no input can make the model "
            "step faster than one batch already in memory." if cached and cached > 1 else "")]
    lines += ["", f"Other ratios: tfrec cached / synthetic {ratios['tfrec_cached_vs_synthetic']:.3f}, tutorial / "
              f"synthetic {ratios['tutorial_vs_synthetic']:.3f}. Page cache: "
              + (f"evicted with {r['page_cache']['method']} before each timed tfrec epoch (the shards' pages resident: "
                 f"{100 * r['page_cache']['resident_before']:.0f}% before, {100 * r['page_cache']['resident_after']:.0f}% "
                 "after, by mincore)" if r["page_cache"]["method"] else "not evicted") + "."]
    for mode, lim in r["limits"].items():
        if lim["cause"] == "contention":
            lines.append(f"- {mode} waited {r['modes'][mode]['input_stall_pct']:.1f}% of its time although its pipeline "
                         f"alone gives {lim['pipeline_images_per_s']:,.0f} images/s, {1 / lim['shortfall']:,.0f}x the model's "
                         f"{lim['model_images_per_s']:,.0f}: on a CPU the reader's threads and the step share the cores, "
                         f"so the step waits while they run; its costliest stage is {lim['stage']} "
                         f"({lim['adds_us_per_image']:.1f} µs/image).")
        else:
            lines.append(f"- {mode} is input-bound by its {lim['stage']} stage: the pipeline gives "
                         f"{lim['pipeline_images_per_s']:,.0f} images/s, the model takes {lim['model_images_per_s']:,.0f} "
                         f"({lim['shortfall']:.2f}x); {lim['stage']} adds {lim['adds_us_per_image']:.1f} µs/image.")
    if not r["limits"]:
        lines.append("- No mode is input-bound (every input stall <= 5%).")
    lines += ["", "Per-stage rates, measured in the same run (each cumulative stage run alone, "
              f"{r['stages'] and out['sizes']['stage_batches']} batches; CPU µs/image: all threads of the process):", "",
              "| pipeline | " + " | ".join(s["stage"] for s in r["stages"]["tfrec"]) + " |",
              "| --- |" + " ---: |" * len(r["stages"]["tfrec"])]
    for name, stages in r["stages"].items():
        lines.append(f"| {name} | " + " | ".join(f"{s['images_per_s']:,.0f}/s ({s['cpu_us_per_image']:.1f} µs)"
                                                 for s in stages) + " |")
    cap = r["capacity"]
    lines += ["", f"Capacity: {cap['arithmetic']}. Per core, stage by stage: " + ", ".join(
        f"{s['stage']} {s['images_per_s_per_core']:,} images/s ({s['cpu_us_per_image']:.1f} µs)"
        for s in cap["stages"] if s["images_per_s_per_core"]) + ". A GPU that steps N images/s needs "
        f"N x {cap['cpu_us_per_image']:.1f} µs of reader CPU per second: N / {cap['images_per_s_per_core']:,} cores "
        "(this preset and image size; JPEG decoding costs far more per image, see the read section).", "",
        "On this machine the reader and the model compete for the same 2 cores (shared with other engineers' "
        "benchmarks): every µs of reader CPU is taken from the step, so tfrec / synthetic measures the reader's CPU "
        "share as much as its speed. On a GPU the step runs on the device and the reader has the host's cores "
        "to itself.", "", "![modes](utilisation.png)"]
    if out.get("sweep"):
        lines += ["", f"Sweep ({out['sizes']['sweep_steps']} timed steps per setting, one round; the other options as "
                  "above):", "", "| dimension | setting | reader alone images/s | model (synthetic) images/s | "
                  "training from tfrec images/s | input stall | GPU |", "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
        for row in out["sweep"]["rows"]:
            gpu_u = "no GPU" if row["gpu_util_mean_pct"] is None else f"{row['gpu_util_mean_pct']:.0f}%"
            lines.append(f"| {row['dimension']} | {row['setting']} | {row['reader_images_per_s']:,.0f} | "
                         f"{row['synthetic_images_per_s']:,.0f} | {row['tfrec_images_per_s']:,.0f} | "
                         f"{row['input_stall_pct']:.1f}% | {gpu_u} |")
        lines += ["", "![sweep](utilisation-sweep.png)"]
    lines += ["", "GPU: no accelerator was lent to the session that made these figures (CPU only: the GPU columns "
              "say \"no GPU\", never zero). `benchmarks/gpu_run.sh` is the prepared GPU run (CIFAR-format at full size "
              "with cifar_cnn and resnet20; 20,000 ~500x375 JPEGs at 224 with the imagenet preset and resnet50, mixed "
              "precision) and `benchmarks/gpu_rate.py` measures a GPU's synthetic ResNet-50 rate with PyTorch where "
              "TensorFlow is not installed: future work."]
    return "\n".join(lines)


def main() -> None:
    parser = round_arguments(__doc__, "5,000 records, 12 steps, 2 rounds, a short sweep (~2 min)",
                             "alternating rounds (default 3, 2 with --quick)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep")
    parser.add_argument("--from-json", help="re-render RESULTS.md and the charts from a run's saved JSON line "
                        "(nothing is measured)")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            out = json.loads(f.read().strip().splitlines()[-1])
        out["result"]["targets"] = targets(out["result"])  # as the current code states them
        write(out)
        return
    sizes = dict(QUICK if args.quick else FULL)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(args.workdir or tmp, sizes["records"])
        opts = TrainBenchOptions(model=MODEL, batch_size=BATCH, augment=AUGMENT, steps=sizes["steps"],
                                 rounds=args.rounds or sizes["rounds"], stage_batches=sizes["stage_batches"])
        result = benchmark_train(data, opts)
        sweep = None if args.no_sweep else sweep_train(data, opts, steps=sizes["sweep_steps"],
                                                       stage_batches=max(3, sizes["stage_batches"] // 2))
    out = {"benchmark": "utilisation", "quick": args.quick, "machine": machine(), "git": git_rev(),
           "date": time.strftime("%Y-%m-%d"), "sizes": sizes, "seconds": time.perf_counter() - start,
           "result": result, "sweep": sweep}
    print(json.dumps(out))
    if not args.no_write:
        write(out)


def write(out: dict) -> None:
    """The charts and the "utilisation" section of RESULTS.md."""
    modes_chart(out["result"], os.path.join(HERE, "utilisation.png"))
    if out["sweep"]:
        sweep_chart(out["sweep"], os.path.join(HERE, "utilisation-sweep.png"))
    update_section("utilisation", markdown(out))


if __name__ == "__main__":
    main()
