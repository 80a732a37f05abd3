"""What skip_corrupt costs on a clean dataset: make_dataset with it against the same read without it.

A clean CIFAR-format dataset (32x32x3 raw images, 50,000 records in 8 shards; 10,000 with --quick),
plain and GZIP-compressed, read with make_dataset(batch_size=256, dtype="uint8", shuffle=False,
no augmentation) for one whole pass each, timed until StopIteration (see DESIGN.md):

* skip_corrupt=False (the anchor) and skip_corrupt=True, in the same process;
* the same over 4 epochs in one pass, shuffled as training reads (repeat=4, shuffle=True, seed=0), plain only;
* skip_corrupt=True with the process's shard-check cache emptied before the pass: the first read of
  the dataset in a process, the framing scan of every shard included (later passes and epochs
  reuse the scans while a shard's size and modification time stay the same);
* the limit: the serialized records already in memory, batched, parsed and decoded as tfrec does.

Rounds visit every pipeline in turn, every other round backwards (round 0 warms up and is dropped);
a ratio is the median over rounds of the round's ratio to skip_corrupt=False on the same files, so a
busy machine affects both sides alike; the best pass of each against the best of the other is given
too, and the CPU time per image (all threads of this process), which other processes disturb less.
Prints one JSON line; rewrites the "skip_corrupt" section of RESULTS.md unless --no-write.

    python benchmarks/skip_corrupt.py [--quick] [--rounds N] [--workdir DIR] [--no-write]
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _results import git_rev, machine, round_arguments, update_section  # noqa: E402
from tfrec import timing  # noqa: E402
from tfrec.bench.read import batch_size_of  # noqa: E402
from tfrec.codec.schema import load_schema  # noqa: E402
from tfrec.demo import synth  # noqa: E402
from tfrec.io import salvage  # noqa: E402
from tfrec.io.dataset import open_dataset  # noqa: E402
from tfrec.io.records import iter_records  # noqa: E402
from tfrec.read.pipeline import make_dataset  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

BATCH = 256
EPOCHS = 4  # the passes of the multi-epoch rows (a pipeline's fixed start-up costs spread over them)
TARGET = 0.9  # issue 23: skip_corrupt=True on a clean dataset at >= 0.9x the images/s without it
# Empties the cache of shard checks (absent before the checks existed: every pass then reads in Python).
_forget = getattr(salvage, "forget_checks", lambda: None)


def prepare(workdir: str, quick: bool) -> dict:
    """The CIFAR-format source and its plain and GZIP conversions (made once per workdir)."""
    n = 10_000 if quick else 50_000
    tag = "quick" if quick else "full"
    paths = {k: os.path.join(workdir, f"{k}-{tag}") for k in ("cifar_src", "plain", "gzip")}
    if not os.path.exists(os.path.join(paths["cifar_src"], "cifar-10-batches-bin")):
        synth.write_cifar10(paths["cifar_src"], n_train=n, n_test=100, seed=0)
    for kind, compression in (("plain", "none"), ("gzip", "gzip")):
        if not os.path.exists(os.path.join(paths[kind], "dataset.json")):
            convert(paths["cifar_src"], paths[kind], ConvertOptions(shards=8, compression=compression, progress=False,
                                                                     overwrite=True))
    return paths


def in_memory_limit(dataset: str) -> tf.data.Dataset:
    """The serialized records from memory, batched, parsed and decoded (raw uint8), prefetched: no file reading."""
    records = [r.data for path in open_dataset(dataset).shard_paths("train") for r in iter_records(path)]
    spec = load_schema("cifar10").parse_spec()

    def parse(s):
        ex = tf.io.parse_example(s, spec)
        return tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), [-1, 32, 32, 3]), ex["label"]

    ds = tf.data.Dataset.from_tensor_slices(records).batch(BATCH)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _pass(make, cold: bool = False) -> tuple[float, float]:
    """(images/s, CPU µs per image) of a whole pass of a new pipeline (start-up included, teardown not), once idle."""
    timing.settle()
    if cold:
        _forget()
    cpu = time.process_time()
    r = timing.time_pass(make(), batch_size_of)
    images = r["images"] + r["first_images"]
    return images / (r["seconds"] + r["first_batch_s"]), (time.process_time() - cpu) / images * 1e6


def run(paths: dict, rounds: int) -> dict:
    def reader(kind: str, skip: bool, epochs: bool | int = False):
        # several epochs as training reads them: shuffled (files, and records in a buffer), seeded alike
        shuffled = dict(repeat=epochs, shuffle=True, seed=0) if epochs else dict(shuffle=False)
        return lambda: make_dataset(paths[kind], batch_size=BATCH, dtype="uint8", skip_corrupt=skip, **shuffled)

    limit = in_memory_limit(paths["plain"])
    cands = {}  # name: (factory, empty the check cache first, anchor)
    for kind in ("plain", "gzip"):
        off = f"{kind}, skip_corrupt=False"
        cands[off] = (reader(kind, False), False, off)
        cands[f"{kind}, skip_corrupt=True"] = (reader(kind, True), False, off)
        cands[f"{kind}, skip_corrupt=True, first read in the process"] = (reader(kind, True), True, off)
    off = f"plain, {EPOCHS} epochs in one pass, shuffled, skip_corrupt=False"
    cands[off] = (reader("plain", False, EPOCHS), False, off)
    on = f"plain, {EPOCHS} epochs in one pass, shuffled, skip_corrupt=True"
    cands[on] = (reader("plain", True, EPOCHS), False, off)
    cands["limit: records in memory, parsed and decoded"] = (lambda: limit, False, "plain, skip_corrupt=False")
    rates, cpu = ({k: [] for k in cands} for _ in range(2))
    for r in range(rounds + 1):  # round 0 warms up and is dropped; odd rounds go backwards
        for name in (list(cands) if r % 2 == 0 else list(cands)[::-1]):
            make, cold, _ = cands[name]
            rate, us = _pass(make, cold)
            if r:
                rates[name].append(rate)
                cpu[name].append(us)
        print(f"round {r}/{rounds} done", file=sys.stderr, flush=True)
    out = {}
    for name, (_, _, anchor) in cands.items():
        a, b = np.array(rates[name]), np.array(rates[anchor])
        out[name] = {"images_per_s": round(float(np.median(a))), "best_images_per_s": round(float(a.max())),
                     "cpu_us_per_image": round(float(np.median(cpu[name])), 2), "vs": anchor,
                     "ratio": round(float(np.median(a / b)), 3), "best_ratio": round(float(a.max() / b.max()), 3),
                     "rounds": [round(float(v)) for v in a]}
    return out


def markdown(out: dict) -> str:
    res = out["results"]
    lines = [
        "## skip_corrupt on a clean dataset: `benchmarks/skip_corrupt.py`" + (" (--quick)" if out["quick"] else ""),
        "",
        f"{out['machine']}; TensorFlow {out['tensorflow']}; commit {out['git']}; {out['rounds']} rounds, medians of "
        f"per-round ratios. {out['records']:,} CIFAR-format records (raw 32x32x3) in 8 shards, plain and GZIP, "
        f"make_dataset(batch_size={BATCH}, dtype='uint8', shuffle=False), one whole pass each until StopIteration.",
        "",
        "| pipeline | images/s (median) | best | CPU µs/image | ratio | best / best | against |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in res.items():
        lines.append(f"| {name} | {r['images_per_s']:,} | {r['best_images_per_s']:,} | {r['cpu_us_per_image']} | "
                     f"{r['ratio']}x | {r['best_ratio']}x | {r['vs']} |")
    ratio = res["plain, skip_corrupt=True"]["ratio"]
    epochs = res[f"plain, {EPOCHS} epochs in one pass, shuffled, skip_corrupt=True"]["ratio"]
    lines += [
        "",
        f"Target (issue 23): skip_corrupt=True at {TARGET}x or more of the read without it on a clean dataset: "
        f"{ratio}x, {'met' if ratio >= TARGET else 'not met'} ({epochs}x over {EPOCHS} shuffled epochs in one "
        "pass). A shard whose check found nothing wrong is read by TensorFlow's own TFRecordDataset; only from a "
        "shard's first damaged record on (a damaged compressed shard: whole) does the Python salvaging reader "
        "take over. The check (the framing scan, every CRC; a compressed shard's CRC32C against dataset.json's "
        "checksum) is kept for the process while the shard's size and times stay the same; the 'first read in the"
        " process' rows pay for it, and for the salvaging branch (a from_generator dataset, never run on a clean "
        "shard), which makes creating an iterator about 10 ms slower. Once every shard has been found intact, "
        "datasets are built without it.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = round_arguments(__doc__, "10,000 records and 3 rounds", "timed rounds (default 5, 3 with --quick)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="tfrec-bench-skip-corrupt-") as tmp:
        paths = prepare(args.workdir or tmp, args.quick)
        records = json.load(open(os.path.join(paths["plain"], "dataset.json")))["splits"]["train"]["records"]
        results = run(paths, rounds)
    out = {"benchmark": "skip_corrupt", "quick": args.quick, "machine": machine(), "git": git_rev(),
           "tensorflow": tf.__version__, "rounds": rounds, "records": records, "results": results,
           "target": {"wanted": TARGET, "measured": results["plain, skip_corrupt=True"]["ratio"],
                      "met": results["plain, skip_corrupt=True"]["ratio"] >= TARGET}}
    print(json.dumps(out))
    if not args.no_write:
        update_section("skip_corrupt", markdown(out))


if __name__ == "__main__":
    main()
