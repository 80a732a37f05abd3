"""Detection reader against the classification reader: the same JPEGs, the `imagenet` preset, the same image size.

The JPEG set of benchmarks/read.py (about 500x375 with sizes varied 0.75-1.25x, 1,200 images; 300
with --quick) is written twice: as the tfrec classification dataset (`tfrec convert` of the class
folders) and as detection records with the same image bytes (the Object Detection API's keys, 1 to 8
boxes per image, 8 shards). Both are read with make_dataset(augment='imagenet'): a random resized crop
decoded from the JPEG window and a horizontal flip, to 224x224, batch 64, shuffled; the detection
reader also moves, clips or drops the boxes and pads them per batch. Target (issue 28): the detection
reader at >= 0.85x the classification reader's images/s. Rounds alternate the two readers; the ratio
is the median of the per-round ratios (one pass each: wall time to the end of the pass, start-up
included, and apart the rate after the first batch). Prints one JSON line; rewrites the
"read_detection" section of RESULTS.md unless --no-write.

    python benchmarks/read_detection.py [--quick] [--rounds N] [--workdir DIR] [--no-write]
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

import read as R  # noqa: E402  (benchmarks/read.py: time_whole_pass, the batch and image size)
from _results import git_rev, machine, round_arguments, update_section  # noqa: E402
from tfrec.codec.example import encode_example  # noqa: E402
from tfrec.codec.images import image_header  # noqa: E402
from tfrec.demo import synth  # noqa: E402
from tfrec.io.records import write_records  # noqa: E402
from tfrec.read.pipeline import make_dataset  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

TARGET = 0.85  # issue 28: detection images/s / classification images/s, same JPEGs and size
SHARDS = 8


def detection_record(encoded: bytes, rng: np.random.Generator) -> bytes:
    h, w, _ = image_header(encoded)
    n = int(rng.integers(1, 9))
    y0, x0 = rng.uniform(0, 0.7, n), rng.uniform(0, 0.7, n)
    y1, x1 = y0 + rng.uniform(0.05, 0.3, n), x0 + rng.uniform(0.05, 0.3, n)
    labels = rng.integers(1, 11, n)
    return encode_example({
        "image/height": [h], "image/width": [w], "image/encoded": encoded, "image/format": b"jpeg",
        "image/object/bbox/ymin": ("float", y0.tolist()), "image/object/bbox/xmin": ("float", x0.tolist()),
        "image/object/bbox/ymax": ("float", y1.tolist()), "image/object/bbox/xmax": ("float", x1.tolist()),
        "image/object/class/label": ("int64", labels.tolist()),
        "image/object/class/text": ("bytes", [f"class{i}".encode() for i in labels]),
    })


def prepare(workdir: str, quick: bool) -> dict:
    """The JPEG class folders, their tfrec conversion, and detection shards of the same bytes (made once)."""
    tag = "quick" if quick else "full"
    paths = {k: os.path.join(workdir, f"{k}-{tag}") for k in ("jpeg_src", "jpeg", "detection")}
    if not os.path.exists(os.path.join(paths["jpeg"], "dataset.json")):
        synth.write_image_folder(paths["jpeg_src"], n_per_class=30 if quick else 120, seed=0, num_classes=10,
                                 size=(500, 375), fmt="jpeg", vary_size=True)
        convert(paths["jpeg_src"], paths["jpeg"], ConvertOptions(shards=SHARDS, progress=False, overwrite=True))
    if not os.path.exists(os.path.join(paths["detection"], "done")):
        os.makedirs(paths["detection"], exist_ok=True)
        rng = np.random.default_rng(0)
        records = [detection_record(open(f, "rb").read(), rng)
                   for f in sorted(glob.glob(os.path.join(paths["jpeg_src"], "*", "*.jpg")))]
        for i in range(SHARDS):
            write_records(os.path.join(paths["detection"], f"objects.tfrecord-{i:05d}-of-{SHARDS:05d}"),
                          records[i::SHARDS])
        open(os.path.join(paths["detection"], "done"), "w").close()
    return paths


def run(paths: dict, rounds: int) -> dict:
    common = dict(batch_size=R.JPEG_BATCH, image_size=R.SIZE, augment="imagenet")
    shards = sorted(f for f in glob.glob(os.path.join(paths["detection"], "objects.tfrecord-*")) if not f.endswith(".idx"))
    cands = {
        "classification": lambda: make_dataset(paths["jpeg"], **common),
        "detection": lambda: make_dataset(shards, task="detection", **common),
    }
    got = {k: [] for k in cands}  # per round: (images/s whole pass, images/s after the first batch, start-up s)
    for r in range(rounds + 1):  # round 0 warms up and is dropped
        for name, make in cands.items():
            wall, _, images, first_s, after = R.time_whole_pass(make)
            if r:
                got[name].append((images / wall, after, first_s))
        print(f"round {r}/{rounds} done", file=sys.stderr)
    det, cls = np.array(got["detection"]), np.array(got["classification"])
    out = {name: {"images_per_s": round(float(np.median(np.array(v)[:, 0]))),
                  "after_first_batch_images_per_s": round(float(np.median(np.array(v)[:, 1]))),
                  "startup_ms": round(float(np.median(np.array(v)[:, 2])) * 1e3)} for name, v in got.items()}
    out["ratio"] = round(float(np.median(det[:, 0] / cls[:, 0])), 3)
    out["ratio_after_first_batch"] = round(float(np.median(det[:, 1] / cls[:, 1])), 3)
    return out


def markdown(out: dict) -> str:
    r = out["results"]
    met = "met" if r["ratio"] >= TARGET else "NOT met"
    return "\n".join([
        "## Detection reader: `benchmarks/read_detection.py`" + (" (--quick)" if out["quick"] else ""),
        "",
        f"{out['machine']}; TensorFlow {out['tensorflow']}; commit {out['git']}; {out['rounds']} alternating rounds, "
        f"medians. The same {out['records']:,} JPEGs of about 500x375 read with the `imagenet` preset to 224x224, "
        f"batch {R.JPEG_BATCH}: as a classification dataset, and as detection records (1 to 8 boxes each, moved "
        "with the crop and flip, padded per batch).",
        "",
        "| reader | images/s | after the first batch | start-up ms |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {k} | {r[k]['images_per_s']:,} | {r[k]['after_first_batch_images_per_s']:,} | {r[k]['startup_ms']} |"
          for k in ("classification", "detection")],
        "",
        f"Detection / classification: {r['ratio']}x over whole passes ({r['ratio_after_first_batch']}x after the "
        f"first batch); target >= {TARGET}x: {met}.",
    ])


def main() -> None:
    parser = round_arguments(__doc__, "300 images and 3 rounds", "timed rounds (default 7, 3 with --quick)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="tfrec-bench-detection-") as tmp:
        paths = prepare(args.workdir or tmp, args.quick)
        records = json.load(open(os.path.join(paths["jpeg"], "dataset.json")))["splits"]["train"]["records"]
        results = run(paths, rounds)
    out = {"benchmark": "read_detection", "quick": args.quick, "machine": machine(), "git": git_rev(),
           "tensorflow": tf.__version__, "rounds": rounds, "records": records, "target": TARGET, "results": results}
    print(json.dumps(out))
    if not args.no_write:
        update_section("read_detection", markdown(out))


if __name__ == "__main__":
    main()
