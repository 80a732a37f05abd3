"""tf.data service vs in-process reading: what the service costs per image, on the reader and in all.

The same JPEG dataset (about 400x300, 8 shards) read with the imagenet preset at 224x224, uint8,
batch 64: in this process, and through a dispatcher and one worker (`tfrec serve-data` subprocesses
on 127.0.0.1, distributed_epoch), alternating, one full pass each, after a warm-up pass. Reported per
image: wall time, the reader's own CPU (what a GPU host still spends), and the worker's CPU (from
/proc). Prints one JSON line and rewrites the "service" section of benchmarks/RESULTS.md.
    python benchmarks/service.py [--quick] [--runs N] [--data DIR]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import arguments, footer, logger, update_section  # noqa: E402

from tfrec.demo import synth  # noqa: E402
from tfrec.timing import alternate, pair_ratio  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

log = logger("service")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def serve(*args) -> tuple[subprocess.Popen, dict]:
    p = subprocess.Popen([sys.executable, "-m", "tfrec.cli", "serve-data", "--json", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, json.loads(p.stdout.readline())


def main() -> None:
    parser = arguments(__doc__, "600 images, 2 rounds (default 2,000 images, 3 rounds)", "alternating rounds")
    args = parser.parse_args()
    images, runs = (600, 2) if args.quick else (2_000, 3)
    runs = args.runs or runs
    root = args.data or tempfile.mkdtemp(prefix="tfrec-service-")
    src, ds_path = os.path.join(root, f"jpeg-{images}"), os.path.join(root, f"ds-{images}")
    if not os.path.isdir(ds_path):
        synth.write_image_folder(src, images // 10, seed=0, num_classes=10, size=(400, 300), fmt="jpeg", vary_size=True)
        convert(src, ds_path, ConvertOptions(shards=8, progress=False, workers=1))
    import tensorflow as tf  # noqa: F401

    import tfrec

    dispatcher, info = serve("--dispatcher", "0")
    worker, _ = serve("--worker", "--dispatcher-address", f"127.0.0.1:{info['port']}", "--host", "127.0.0.1")
    address = f"grpc://127.0.0.1:{info['port']}"
    read = dict(batch_size=64, image_size=224, augment="imagenet", dtype="uint8", seed=0)
    worker_cpu: list[float] = []

    def count(ds) -> int:
        return sum(int(y.shape[0]) for _, y in ds)

    def served() -> int:
        c = cpu_seconds(worker.pid)
        n = count(tfrec.make_dataset(ds_path, data_service=address, **read))
        worker_cpu.append(cpu_seconds(worker.pid) - c)
        return n

    try:
        log(f"{images} JPEGs: {runs} alternating passes after a warm-up")
        timed = alternate({"in-process": lambda: count(tfrec.make_dataset(ds_path, **read)), "service": served},
                          runs, warmup=1)
    finally:
        for p in (worker, dispatcher):
            p.terminate()
            p.wait(timeout=30)
    assert all(n == images for row in timed.values() for n in row["results"]), "a pass lost records"
    us = lambda s: 1e6 * s / images  # noqa: E731
    local, svc = timed["in-process"], timed["service"]
    worker_us = us(sorted(worker_cpu[1:])[len(worker_cpu[1:]) // 2])
    result = {"benchmark": "service", "images": images, "runs": runs,
              "in_process_wall_us": round(us(local["median_wall_s"]), 1),
              "in_process_cpu_us": round(us(local["median_cpu_s"]), 1),
              "service_wall_us": round(us(svc["median_wall_s"]), 1),
              "service_reader_cpu_us": round(us(svc["median_cpu_s"]), 1),
              "service_worker_cpu_us": round(worker_us, 1),
              "service_vs_in_process_wall": round(pair_ratio(svc["wall_s"], local["wall_s"]), 2)}
    result["service_overhead_cpu_us"] = round(result["service_reader_cpu_us"] + worker_us
                                              - result["in_process_cpu_us"], 1)
    print(json.dumps(result))
    r = result
    md = f"""## tf.data service vs in-process reading (`benchmarks/service.py`)

{images:,} JPEGs of about 400x300 (8 shards) read with `augment="imagenet"` at 224x224, uint8, batch 64:
in the reader's process, and through `tfrec serve-data` (a dispatcher and one worker, subprocesses on
127.0.0.1, `distributed_epoch`). Medians of {runs} alternating full passes after a warm-up; every
pass delivered all {images:,} images. Per image:

| reading | wall µs/image | reader CPU µs/image | worker CPU µs/image | total CPU µs/image |
| --- | ---: | ---: | ---: | ---: |
| in-process | {r['in_process_wall_us']:,.0f} | {r['in_process_cpu_us']:,.0f} | - | {r['in_process_cpu_us']:,.0f} |
| tf.data service, 1 local worker | {r['service_wall_us']:,.0f} | {r['service_reader_cpu_us']:,.0f} | {worker_us:,.0f} | {r['service_reader_cpu_us'] + worker_us:,.0f} |

The service's cost: {r['service_overhead_cpu_us']:+,.0f} CPU µs per image in all (serialising each batch,
gRPC, the reader's watchdog thread); wall time {r['service_vs_in_process_wall']:.2f}x in-process on this one
machine, where the worker and the reader share the same cores. What it buys: the reader's own CPU per
image falls from {r['in_process_cpu_us']:,.0f} to {r['service_reader_cpu_us']:,.0f} µs, because decoding and
augmentation moved to the worker.

"""
    md += "\n".join(footer("service.py", args.quick)) + "\n"
    update_section("service", md)
    if not args.data:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
