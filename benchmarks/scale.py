"""Beam DirectRunner vs local convert on the same image folder: the engine's overhead on one machine.

Both convert the same JPEG folder (about 400x300, as benchmarks/convert.py) with the same shards
and seed, in this process, alternating: pass-through (local: 1 process, its default; Beam: the
DirectRunner with 2 worker processes, its default) and `--resize 224x224` (2 processes each).
Every Beam output is checked byte-identical to the local one. Prints one JSON line and rewrites
the "scale" section of benchmarks/RESULTS.md.
    python benchmarks/scale.py [--quick] [--runs N] [--data DIR]
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import arguments, footer, logger, machine_busy_seconds, update_section  # noqa: E402

from tfrec.demo import synth  # noqa: E402
from tfrec.timing import alternate, pair_ratio  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

log = logger("scale")


def same_bytes(a: str, b: str) -> bool:
    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)):
        return False
    for n in names:
        if n == "dataset.json":
            ja, jb = (json.load(open(os.path.join(d, n))) for d in (a, b))
            ja.pop("runner"), jb.pop("runner")
            if ja != jb:
                return False
        elif not filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False):
            return False
    return True


def main() -> None:
    parser = arguments(__doc__, "600 images, 2 rounds (default 3,000 images, 3 rounds)", "alternating rounds")
    args = parser.parse_args()
    images, runs = (600, 2) if args.quick else (3_000, 3)
    runs = args.runs or runs
    root = args.data or tempfile.mkdtemp(prefix="tfrec-scale-")
    src = os.path.join(root, f"jpeg-{images}")
    if not os.path.isdir(src):
        synth.write_image_folder(src, images // 10, seed=0, num_classes=10, size=(400, 300), fmt="jpeg", vary_size=True)
    shards = 8
    cases = {
        "pass-through": (dict(shards=shards, workers=1), dict(shards=shards, workers=2)),
        "resize 224x224": (dict(shards=shards, workers=2, resize=(224, 224)), dict(shards=shards, workers=2, resize=(224, 224))),
    }
    rows, result = [], {"benchmark": "scale", "images": images, "shards": shards, "runs": runs}
    busy0, wall0 = machine_busy_seconds(), time.perf_counter()
    for case, (local_opts, beam_opts) in cases.items():
        outs = {k: os.path.join(root, f"out-{case.split()[0]}-{k}") for k in ("local", "beam")}
        contenders = {
            "local": lambda: convert(src, outs["local"], ConvertOptions(**local_opts, overwrite=True, progress=False)),
            "beam": lambda: convert(src, outs["beam"], ConvertOptions(**beam_opts, overwrite=True, progress=False,
                                                                       runner="beam")),
        }
        log(f"{case}: {runs} alternating rounds after a warm-up")
        timed = alternate(contenders, runs, warmup=1)
        identical = same_bytes(outs["local"], outs["beam"])
        local_s, beam_s = timed["local"]["median_wall_s"], timed["beam"]["median_wall_s"]
        ratio = pair_ratio(timed["beam"]["wall_s"], timed["local"]["wall_s"])
        overhead = beam_s - local_s
        key = case.split()[0].replace("-", "_")
        result.update({f"{key}_local_s": round(local_s, 3), f"{key}_beam_s": round(beam_s, 3),
                       f"{key}_beam_vs_local": round(ratio, 2), f"{key}_overhead_s": round(overhead, 2),
                       f"{key}_identical": identical})
        rows.append(f"| {case} | {images:,} | {local_opts['workers']} | {local_s:.2f} | {images / local_s:,.0f} | "
                    f"{beam_s:.2f} | {images / beam_s:,.0f} | {ratio:.2f}x | {overhead:+.2f} | "
                    f"{'yes' if identical else 'NO'} |")
    busy, wall = machine_busy_seconds(), time.perf_counter() - wall0
    print(json.dumps(result))
    md = f"""## Beam DirectRunner vs local convert (`benchmarks/scale.py`)

The same JPEG folder (about 400x300, 10 classes, {shards} shards, seed 0) converted in this process by
`--runner local` and by `--runner beam` (the DirectRunner in multi-processing mode, 2 worker processes,
each shard one work unit). Medians of {runs} alternating rounds after a warm-up round; the ratio is
the median of per-round ratios. "Identical": every shard and .idx byte-identical, dataset.json equal
apart from its `runner` field.

| work | images | local processes | local s | local images/s | Beam s | Beam images/s | Beam / local | Beam overhead s | identical |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{chr(10).join(rows)}

The overhead is mostly fixed: the DirectRunner's job service and two worker processes start for each
run (several seconds here), so it matters for small folders and vanishes against hours of work on a
cluster; on one machine, `--runner local` stays the fast choice.

Cores busy on average during the run, this benchmark included: {'unknown' if busy is None or busy0 is None else f'{(busy - busy0) / wall:.2f}'} of {os.cpu_count()}.

"""
    md += "\n".join(footer("scale.py", args.quick)) + "\n"
    update_section("scale", md)
    if not args.data:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
