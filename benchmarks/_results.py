"""Shared by the benchmark scripts: their common options, logging, machine description, section-wise RESULTS.md."""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
_HEADER = "# Benchmark results\n\nEach section is rewritten by the script named in it; figures are medians of several runs.\n"


def machine() -> str:
    """One line describing this machine: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.+)", f.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes on the machine have used since boot (None where /proc/stat is missing).

    Benchmarks compare it with their own CPU time to say how much other work shared the machine.
    """
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def git_rev() -> str:
    """The short commit the benchmark ran at (with '+dirty' for uncommitted changes), whatever the working directory."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=repo).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               cwd=repo).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except OSError:
        return "unknown"


def update_section(name: str, markdown: str) -> None:
    """Replaces (or appends) the section between <!-- NAME:begin --> and <!-- NAME:end --> in RESULTS.md."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = open(RESULTS).read() if os.path.exists(RESULTS) else _HEADER
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(RESULTS, "w") as f:
        f.write(text)


def arguments(doc: str, quick: str, runs: str, data: str = "generate the data here (kept and reused) instead of a "
              "temporary folder") -> argparse.ArgumentParser:
    """The options every benchmark takes: --quick, --runs N, --data DIR (help texts say each one's defaults)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--runs", type=int, help=runs)
    parser.add_argument("--data", help=data)
    return parser


def footer(script: str, quick: bool) -> list[str]:
    """The closing lines of a section: the machine, the command that wrote it, the revision and date."""
    return [f"Machine: {machine()}  ", f"Command: `python benchmarks/{script}{' --quick' if quick else ''}`  ",
            f"Revision: {git_rev()}, {time.strftime('%Y-%m-%d')}"]


def logger(name: str):
    """A log function that prints '[NAME-bench] message' lines on stderr."""
    return lambda msg: print(f"[{name}-bench] {msg}", file=sys.stderr, flush=True)


def round_arguments(doc: str, quick: str, rounds: str) -> argparse.ArgumentParser:
    """The options of the benchmarks timed in rounds: --quick, --rounds N, --workdir DIR, --no-write."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--rounds", type=int, help=rounds)
    parser.add_argument("--workdir", help="keep the generated data here (kept, reused; default: a temporary directory)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite benchmarks/RESULTS.md")
    return parser
