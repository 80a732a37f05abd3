"""Viewer benchmark: `tfrec view` starts at once and pages as fast at the end of a huge dataset as at its start.

Writes a dataset of many tiny records (`synth.write_tiny_dataset`: 10,000,000 records in 10 shards
of 1,000,000; `--quick`: 1,000,000 in one shard), then measures:

- start-up: `tfrec view DIR --port 0 --json` in a subprocess, from launch until it prints its
  address, against `tfrec --help` (the floor of any tfrec command), alternating. Target: < 1 s;
- paging over HTTP (48 thumbnails a page, each page new to the thumbnail cache): a page near the
  start against a page near the end of the dataset, alternating; and one record's page, record 10
  against the last record. Target: the end costs no more than the start (ratio ~1; the test in
  tests/view allows 3x for noise);
- for context, the plain way to reach the last record of a 1,000,000-record shard without an index:
  read the shard from the start (`tfrec.iter_records`) against the viewer's record page for it.

Prints one JSON line on stdout and rewrites the "view" section of benchmarks/RESULTS.md.

    python benchmarks/view.py [--quick] [--runs N] [--data DIR]
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import arguments, footer, logger, machine, update_section  # noqa: E402

from tfrec.demo.synth import write_tiny_dataset  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.io.manifest import read_manifest  # noqa: E402
from tfrec.io.records import iter_records  # noqa: E402
from tfrec.timing import alternate, pair_ratio  # noqa: E402
from tfrec.view.server import make_server, start_in_thread  # noqa: E402
from tfrec.view.source import DatasetView  # noqa: E402

START_TARGET_S = 1.0
PER_PAGE = 48


def start_up(root: str, runs: int) -> dict:
    """Seconds from launching `tfrec view` until it prints its address, and `tfrec --help` beside it."""
    cli = [sys.executable, "-m", "tfrec.cli"]

    def view() -> None:
        proc = subprocess.Popen(cli + ["view", root, "--port", "0", "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("{"), line
        finally:
            proc.terminate()
            proc.wait()

    def help_() -> None:
        subprocess.run(cli + ["--help"], capture_output=True, check=True)

    got = alternate({"view": view, "help": help_}, runs)
    return {"view_s": got["view"]["median_wall_s"], "help_s": got["help"]["median_wall_s"],
            "view_over_help": round(pair_ratio(got["view"]["wall_s"], got["help"]["wall_s"]), 2)}


def paging(root: str, runs: int) -> dict:
    """Median seconds of a gallery page and a record page near the start and near the end."""
    view = DatasetView([root])
    server = make_server(view, "127.0.0.1", 0, count_classes=False)
    start_in_thread(server)
    total = sum(view.count(s.id) for s in view.shards)
    last_page, last_shard = -(-total // PER_PAGE), len(view.shards) - 1

    def get(target: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("GET", target)
        response = conn.getresponse()
        assert response.status == 200, (target, response.status)
        response.read()
        conn.close()

    state = {"start": 1, "end": last_page}

    def page(which: str, step: int) -> None:
        state[which] += step
        get(f"/?per={PER_PAGE}&page={state[which]}")

    try:
        for s in view.shards:  # load every index first: the first visit to a shard reads its .idx once
            get(f"/record?s={s.id}&i=0")
        pages = alternate({"start": lambda: page("start", 1), "end": lambda: page("end", -1)}, runs)
        last_index = view.count(last_shard) - 1
        records = alternate({"record_10": lambda: get("/record?s=0&i=10"),
                             "record_last": lambda: get(f"/record?s={last_shard}&i={last_index}")}, runs)
        t = time.perf_counter()
        for rec in iter_records(view.shards[last_shard].path):
            pass
        sequential = time.perf_counter() - t
        assert rec.index == last_index
    finally:
        server.shutdown()
        server.server_close()
    return {
        "records": total, "shards": len(view.shards),
        "page_start_s": pages["start"]["median_wall_s"], "page_end_s": pages["end"]["median_wall_s"],
        "page_end_over_start": round(pair_ratio(pages["end"]["wall_s"], pages["start"]["wall_s"]), 2),
        "record_10_s": records["record_10"]["median_wall_s"], "record_last_s": records["record_last"]["median_wall_s"],
        "record_last_over_10": round(pair_ratio(records["record_last"]["wall_s"], records["record_10"]["wall_s"]), 2),
        "sequential_to_last_s": round(sequential, 3),
        "sequential_over_viewer": round(sequential / records["record_last"]["median_wall_s"]),
    }


def markdown(r: dict, runs: int, quick: bool) -> str:
    p, s = r["paging"], r["start_up"]
    return "\n".join([
        "## Viewer (`benchmarks/view.py`)",
        "",
        f"A dataset of {p['records']:,} tiny records in {p['shards']} shard(s) (`synth.write_tiny_dataset`). "
        f"Medians of {runs} alternating runs; ratios are medians of per-round ratios.",
        "",
        "| what | measured | against | ratio | target | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| `tfrec view` start-up (launch to address printed) | {s['view_s']:.2f} s | `tfrec --help` {s['help_s']:.2f} s | "
        f"{s['view_over_help']}x | < {START_TARGET_S:.0f} s | {'yes' if s['view_s'] < START_TARGET_S else '**no**'} |",
        f"| gallery page of {PER_PAGE} at the end | {p['page_end_s'] * 1e3:.1f} ms | at the start {p['page_start_s'] * 1e3:.1f} ms | "
        f"{p['page_end_over_start']}x | ~1x | {'yes' if p['page_end_over_start'] <= 1.5 else '**no**'} |",
        f"| record page, record {p['records'] // p['shards'] - 1:,} of the last shard | {p['record_last_s'] * 1e3:.1f} ms | "
        f"record 10 {p['record_10_s'] * 1e3:.1f} ms | {p['record_last_over_10']}x | ~1x | "
        f"{'yes' if p['record_last_over_10'] <= 1.5 else '**no**'} |",
        f"| reading the last shard from its start to its last record (`iter_records`) | {p['sequential_to_last_s']:.2f} s | "
        f"viewer's record page {p['record_last_s'] * 1e3:.1f} ms | {p['sequential_over_viewer']:,}x | (context) | |",
        "",
        *footer("view.py", quick),
    ])


def main() -> None:
    args = arguments(__doc__, "1,000,000 records in one shard, fewer runs", "runs per contender (default 9, quick 5)").parse_args()
    runs = args.runs or (5 if args.quick else 9)
    log = logger("view")
    records, shards = (1_000_000, 1) if args.quick else (10_000_000, 10)
    root = args.data or tempfile.mkdtemp(prefix="tfrec-view-bench-")
    try:
        if not _holds(root, records, shards):
            log(f"writing {records:,} records in {shards} shard(s) to {root}")
            write_tiny_dataset(root, records, shards)
        log("start-up")
        started = start_up(root, runs)
        log("paging")
        result = {"start_up": started, "paging": paging(root, runs)}
    finally:
        if not args.data:
            shutil.rmtree(root, ignore_errors=True)
    update_section("view", markdown(result, runs, args.quick))
    met = result["start_up"]["view_s"] < START_TARGET_S and result["paging"]["page_end_over_start"] <= 1.5
    print(json.dumps({"benchmark": "view", "quick": args.quick, "runs": runs, "met": met, "machine": machine(), **result}))


def _holds(root: str, records: int, shards: int) -> bool:
    """Whether `root` already holds the tiny dataset of this size (kept from an earlier run with --data)."""
    try:
        split = read_manifest(root)["splits"]["train"]
        return split["records"] == records and len(split["shards"]) == shards
    except (TfrecError, KeyError, TypeError):  # none there, or another size: write it again
        return False


if __name__ == "__main__":
    main()
