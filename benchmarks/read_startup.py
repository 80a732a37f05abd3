"""Reader start-up and parallelism: the `imagenet` preset against its limit, one pass and 4 epochs.

The JPEG set of benchmarks/read.py (about 500x375, 1,200 images; 300 with --quick), batch 64, to
224x224, against jpeg/limit-crop-resize-flip (the preset's image work alone, the bytes in memory):

* one pass: tfrec as it is (warm start on) and with tf.data's warm start off. Start-up (making the
  iterator and its first batch) apart, and the ratio after the first batch;
* 4 epochs in one pass: tfrec's default parallelism (the per-image decode at 2x the cores, the other
  stages AUTOTUNE), AUTOTUNE in every stage, and every stage at the cores.

Rounds visit every pipeline in turn; ratios are medians of the per-round ratios against the limit
of the same length. Prints one JSON line; rewrites the "read_startup" section of RESULTS.md unless
--no-write.

    python benchmarks/read_startup.py [--quick] [--rounds N] [--workdir DIR] [--no-write]
"""
from __future__ import annotations

import glob
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import read as R  # noqa: E402  (benchmarks/read.py: the data, the limit and the timing)
from _results import git_rev, machine, round_arguments, update_section  # noqa: E402
from tfrec.read.options import usable_cores  # noqa: E402
from tfrec.read.pipeline import make_dataset  # noqa: E402

EPOCHS = R.EPOCHS


def _warm_start_off(ds: tf.data.Dataset) -> tf.data.Dataset:
    opt = tf.data.Options()
    opt.experimental_warm_start = False
    return ds.with_options(opt)


def run(paths: dict, rounds: int) -> dict:
    jpegs = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(paths["jpeg_src"], "*", "*.jpg")))]

    def tfrec(**kw):
        return lambda: make_dataset(paths["jpeg"], batch_size=R.JPEG_BATCH, image_size=R.SIZE, augment="imagenet", **kw)

    cands = {  # name: (factory, its limit)
        "limit": (lambda: R.crop_resize_limit(jpegs), "limit"),
        "tfrec": (tfrec(), "limit"),
        "tfrec, warm start off": (lambda: _warm_start_off(tfrec()()), "limit"),
        f"limit, {EPOCHS} epochs": (lambda: R.crop_resize_limit(jpegs * EPOCHS), f"limit, {EPOCHS} epochs"),
        f"tfrec, {EPOCHS} epochs, default parallelism": (tfrec(repeat=EPOCHS), f"limit, {EPOCHS} epochs"),
        f"tfrec, {EPOCHS} epochs, AUTOTUNE everywhere": (tfrec(repeat=EPOCHS, num_parallel_calls=R.AUTOTUNE),
                                                        f"limit, {EPOCHS} epochs"),
        f"tfrec, {EPOCHS} epochs, every stage at the cores": (tfrec(repeat=EPOCHS, num_parallel_calls=usable_cores()),
                                                             f"limit, {EPOCHS} epochs"),
    }
    got = {k: [] for k in cands}  # per round: (images/s, start-up s, images/s after the first batch)
    for r in range(rounds + 1):  # round 0 warms up and is dropped
        for name, (make, _) in cands.items():
            wall, _, images, first_s, after = R.time_whole_pass(make)
            if r:
                got[name].append((images / wall, first_s, after))
        print(f"round {r}/{rounds} done", file=sys.stderr)
    out = {}
    for name, (_, anchor) in cands.items():
        a, lim = np.array(got[name]), np.array(got[anchor])
        out[name] = {"images_per_s": round(float(np.median(a[:, 0]))), "startup_ms": round(float(np.median(a[:, 1])) * 1e3),
                     "vs": anchor, "ratio": round(float(np.median(a[:, 0] / lim[:, 0])), 3),
                     "after_first_batch_ratio": round(float(np.median(a[:, 2] / lim[:, 2])), 3)}
    return out


def markdown(out: dict) -> str:
    lines = [
        "## Reader start-up and parallelism: `benchmarks/read_startup.py`" + (" (--quick)" if out["quick"] else ""),
        "",
        f"{out['machine']}; TensorFlow {out['tensorflow']}; commit {out['git']}; {out['rounds']} rounds, medians of "
        f"per-round ratios. The `imagenet` preset on {out['records']:,} JPEGs of about 500x375, batch "
        f"{R.JPEG_BATCH}, to 224x224, against its image work alone with the bytes in memory "
        f"(jpeg/limit-crop-resize-flip of the read section); start-up: making the iterator and its first batch.",
        "",
        "| pipeline | images/s | start-up ms | ratio | ratio after the first batch | against |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in out["results"].items():
        lines.append(f"| {name} | {r['images_per_s']:,} | {r['startup_ms']} | {r['ratio']}x | "
                     f"{r['after_first_batch_ratio']}x | {r['vs']} |")
    lines += ["", f"The default parallelism runs the per-image decode at 2x the machine's {usable_cores()} cores and "
              "the other stages AUTOTUNE; warm start reads records and fills the shuffle buffer while TensorFlow "
              "optimises the map functions of a new iterator."]
    return "\n".join(lines)


def main() -> None:
    parser = round_arguments(__doc__, "300 images and 3 rounds", "timed rounds (default 10, 3 with --quick)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 10)
    with tempfile.TemporaryDirectory(prefix="tfrec-bench-startup-") as tmp:
        paths = R.prepare(args.workdir or tmp, args.quick)
        records = json.load(open(os.path.join(paths["jpeg"], "dataset.json")))["splits"]["train"]["records"]
        results = run(paths, rounds)
    out = {"benchmark": "read_startup", "quick": args.quick, "machine": machine(), "git": git_rev(),
           "tensorflow": tf.__version__, "rounds": rounds, "records": records, "results": results}
    print(json.dumps(out))
    if not args.no_write:
        update_section("read_startup", markdown(out))


if __name__ == "__main__":
    main()
