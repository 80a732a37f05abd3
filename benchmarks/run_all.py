"""Runs every benchmark, one after the other, and regenerates benchmarks/RESULTS.md.

Each benchmark is run as its own process (`python benchmarks/NAME.py [--quick]`), so that none
shares TensorFlow's threads or memory with the next; each rewrites its own section of RESULTS.md
(and its charts). This script then writes the "run_all" section at the top: the machine (CPU model,
cores, memory, GPU if any, TensorFlow and Python versions), the date, the git revision, and per
benchmark its command, exit status and wall time (time.perf_counter around the process). Running
them one at a time matters: on a 2-core machine two benchmarks at once would time each other.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--skip NAME ...]

--quick passes --quick to every benchmark, and one round (three for the sub-second timings of verify
and view) instead of their medians, and skips the utilisation sweep: the whole run takes about five and a
half minutes on the 2-core reference machine (see the run_all section). Without it each runs at its full size.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _results import RESULTS, git_rev, machine, update_section  # noqa: E402

BENCHMARKS = ("convert", "convert_detection", "encode", "verify", "read", "read_startup", "read_detection", "read_torch",
              "skip_corrupt", "jpeg_decoders", "train", "utilisation", "service", "scale", "view")  # jpeg_decoders needs the [bench] extra (simplejpeg)
# With --quick, fewer alternating rounds than each script's own --quick (which alone added up to 509 s
# here; 312 s with single rounds), and no sweep for utilisation (its chart stays the full run's): the eight
# then in the list took 261 s together; jpeg_decoders and service, added later, 13 s and 17 s alone, and
# read_torch (needs torch and the tfrecord package; see its docstring) about 40 s: the whole run takes
# about five and a half minutes, and its figures are single rounds, for checks, not records.
QUICK_ROUNDS = {"convert": ["--runs", "1"], "convert_detection": ["--rounds", "1"], "verify": ["--runs", "3"],
                "read": ["--rounds", "1"],
                "read_startup": ["--rounds", "1"], "read_detection": ["--rounds", "1"], "read_torch": ["--rounds", "1"],
                "skip_corrupt": ["--rounds", "1"],
                "train": ["--rounds", "1"], "utilisation": ["--rounds", "1", "--no-sweep"], "scale": ["--runs", "1"],
                "view": ["--runs", "3"], "jpeg_decoders": ["--runs", "1"], "service": ["--runs", "1"]}


def gpu_description() -> str:
    """The GPUs (nvidia-smi's names and memory), or "none" without a driver or a device."""
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return "; ".join(line.strip() for line in out.stdout.strip().splitlines())
    return "none"


def tensorflow_version() -> str:
    out = subprocess.run([sys.executable, "-c", "import tensorflow as tf; print(tf.__version__)"], capture_output=True,
                         text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out.stdout.strip() or "not installed"


def run_one(name: str, quick: bool) -> dict:
    """Runs benchmarks/NAME.py as a process; its JSON line (the last line of stdout) is kept in the result."""
    args = ["--quick", *QUICK_ROUNDS.get(name, [])] if quick else []
    cmd = [sys.executable, os.path.join(HERE, f"{name}.py"), *args]
    print(f"[run_all] {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    print(f"[run_all] {name}: exit {proc.returncode} after {wall:.1f} s", file=sys.stderr, flush=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return {"name": name, "command": " ".join([f"python benchmarks/{name}.py", *args]),
            "returncode": proc.returncode, "wall_s": round(wall, 1), "json": lines[-1] if lines else None}


def markdown(out: dict) -> str:
    charts = sorted(f for f in os.listdir(HERE) if f.endswith(".png"))
    lines = [
        "## All benchmarks: `benchmarks/run_all.py`",
        "",
        f"Last run: {out['date']}, `{out['command']}`, git {out['git']}, {out['wall_s']:.0f} s in all.",
        f"Machine: {out['machine']}; GPU: {out['gpu']}; TensorFlow {out['tensorflow']}.",
        "",
        "| benchmark | command | exit | wall s | section |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    lines += [f"| {r['name']} | `{r['command']}` | {r['returncode']} | {r['wall_s']:.1f} | {r['name']} |"
              for r in out["runs"]]
    lines += ["", "Each section below is rewritten by its own script and says the command, the machine and the "
              "revision it ran at (a section may be newer than this run when its script was run alone). Charts: "
              + ", ".join(f"[{c}]({c})" for c in charts) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="pass --quick to every benchmark (about five and a half minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--skip", nargs="+", choices=BENCHMARKS, default=[], help="leave these out")
    args = parser.parse_args()
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    start = time.perf_counter()
    runs = [run_one(name, args.quick) for name in names]
    out = {"benchmark": "run_all", "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M %Z"),
           "command": "python benchmarks/run_all.py" + (" --quick" if args.quick else ""), "git": git_rev(),
           "machine": machine(), "gpu": gpu_description(), "tensorflow": tensorflow_version(),
           "wall_s": time.perf_counter() - start, "runs": [{k: v for k, v in r.items() if k != "json"} for r in runs]}
    print(json.dumps(out))
    update_section("run_all", markdown(out))
    failed = [r["name"] for r in runs if r["returncode"]]
    if failed:
        print(f"[run_all] failed: {', '.join(failed)} (see their output above); {RESULTS} has the others' figures",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
