"""Detection conversion benchmark: `tfrec convert` on a COCO-format set against create_coco_tf_record.py's approach.

Generates COCO-format val-sized data (5,000 small JPEGs, 160x120 to 320x240, about 7 objects each over
COCO's 80 category ids with their gaps, 1% of the images without objects; `--quick`: 1,000), then,
alternating, after a warm-up round:

- tfrec: `tfrec.write.convert.convert(SRC, OUT, workers=W, shards=S)` (the JSON parsed, every image read,
  checked, boxes checked and normalised, Examples encoded, shards + .idx + label_map.pbtxt + dataset.json
  written); W = the CPU count and 1;
- the Object Detection API's `create_coco_tf_record.py` approach, as its code does it: one process loads the
  JSON, groups the annotations per image, and per image reads the file (tf.io.gfile), opens it with PIL,
  hashes it, builds a `tf.train.Example` from `tf.train.Feature` lists and writes it with a
  `tf.io.TFRecordWriter` into S shards (image i into shard i % S).

Each conversion runs in its own fresh process (as a user runs either), timed around the conversion alone
(imports and interpreter start-up excluded; whole commands are reported too). Both write the same images
and keys; `os.sync()` before each. Prints one JSON line (images/s of each, the median of the per-round
ratios; target: tfrec >= 3x) and rewrites the "convert_detection" section of benchmarks/RESULTS.md
unless --no-write.

    python benchmarks/convert_detection.py [--quick] [--rounds N] [--workdir DIR] [--no-write]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import footer, logger, round_arguments, update_section  # noqa: E402
from tfrec.timing import pair_ratio  # noqa: E402

TARGET_SPEEDUP = 3.0
SHARDS = 4
IMAGES, QUICK_IMAGES = 5000, 1000
ROUNDS, QUICK_ROUNDS = 3, 2
# COCO's 80 category ids (1..90 with gaps), as instances_val2017.json has them
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
log = logger("convert_detection")


def make_coco(root: str, n: int, seed: int = 0) -> str:
    """A COCO-format val2017 set of n small JPEGs with boxes inside each image; returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images_dir = os.path.join(root, "val2017")
    os.makedirs(images_dir, exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    images, anns = [], []
    yy, xx = np.mgrid[0:240, 0:320]
    for i in range(n):
        w, h = int(rng.integers(160, 321)), int(rng.integers(120, 241))
        base = np.stack([(xx[:h, :w] * (1 + i % 3)) % 256, (yy[:h, :w] * 2) % 256,
                         np.full((h, w), (i * 37) % 256)], -1).astype(np.uint8)
        noise = rng.integers(0, 24, (h, w, 3), dtype=np.uint8)
        name = f"{i:012d}.jpg"
        Image.fromarray(base + noise).save(os.path.join(images_dir, name), "JPEG", quality=85)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        count = 0 if i % 100 == 0 else int(rng.integers(1, 14))
        for _ in range(count):
            bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(rng.choice(COCO_IDS)),
                         "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                         "area": round(bw * bh * 0.7, 2), "iscrowd": int(rng.random() < 0.01)})
    cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in COCO_IDS]
    with open(os.path.join(root, "annotations", "instances_val2017.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    return root


def tutorial_convert(root: str, out: str, shards: int = SHARDS) -> int:
    """create_coco_tf_record.py's way (object_detection/dataset_tools), with its dataset_util helpers inlined."""
    import PIL.Image
    import tensorflow as tf

    def int64_feature(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    def int64_list_feature(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=v))

    def bytes_feature(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def bytes_list_feature(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

    def float_list_feature(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    with tf.io.gfile.GFile(os.path.join(root, "annotations", "instances_val2017.json"), "r") as fid:
        groundtruth = json.load(fid)
    category_index = {c["id"]: c for c in groundtruth["categories"]}
    annotations_index = {image["id"]: [] for image in groundtruth["images"]}
    for a in groundtruth["annotations"]:
        annotations_index[a["image_id"]].append(a)
    os.makedirs(out, exist_ok=True)
    image_dir = os.path.join(root, "val2017")
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(tf.io.TFRecordWriter(os.path.join(out, f"coco_val.record-{i:05d}-of-{shards:05d}")))
                   for i in range(shards)]
        for idx, image in enumerate(groundtruth["images"]):
            image_height, image_width = image["height"], image["width"]
            filename, image_id = image["file_name"], image["id"]
            with tf.io.gfile.GFile(os.path.join(image_dir, filename), "rb") as fid:
                encoded_jpg = fid.read()
            pil = PIL.Image.open(io.BytesIO(encoded_jpg))
            assert pil.format == "JPEG"
            key = hashlib.sha256(encoded_jpg).hexdigest()
            xmin, xmax, ymin, ymax, is_crowd, names, ids, area = [], [], [], [], [], [], [], []
            for obj in annotations_index[image_id]:
                x, y, width, height = tuple(obj["bbox"])
                if width <= 0 or height <= 0 or x + width > image_width or y + height > image_height:
                    continue
                xmin.append(float(x) / image_width)
                xmax.append(float(x + width) / image_width)
                ymin.append(float(y) / image_height)
                ymax.append(float(y + height) / image_height)
                is_crowd.append(obj["iscrowd"])
                ids.append(int(obj["category_id"]))
                names.append(category_index[obj["category_id"]]["name"].encode("utf8"))
                area.append(obj["area"])
            feature_dict = {
                "image/height": int64_feature(image_height), "image/width": int64_feature(image_width),
                "image/filename": bytes_feature(filename.encode("utf8")),
                "image/source_id": bytes_feature(str(image_id).encode("utf8")),
                "image/key/sha256": bytes_feature(key.encode("utf8")),
                "image/encoded": bytes_feature(encoded_jpg), "image/format": bytes_feature(b"jpeg"),
                "image/object/bbox/xmin": float_list_feature(xmin), "image/object/bbox/xmax": float_list_feature(xmax),
                "image/object/bbox/ymin": float_list_feature(ymin), "image/object/bbox/ymax": float_list_feature(ymax),
                "image/object/class/text": bytes_list_feature(names),
                "image/object/class/label": int64_list_feature(ids),
                "image/object/is_crowd": int64_list_feature(is_crowd), "image/object/area": float_list_feature(area),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature_dict))
            writers[idx % shards].write(example.SerializeToString())
    return len(groundtruth["images"])


def tfrec_convert(root: str, out: str, workers: int) -> int:
    from tfrec.write.convert import ConvertOptions, convert

    result = convert(root, out, ConvertOptions(workers=workers, shards=SHARDS, overwrite=True, progress=False))
    return sum(s["records"] for s in result["splits"].values())


def child(kind: str, src: str, out: str, workers: int) -> None:
    """One timed conversion in this (fresh) process: prints {"seconds": conversion only, "images": n}."""
    if kind == "tutorial":
        import tensorflow as tf  # noqa: F401  imported before the clock starts, as tfrec's imports are
        fn = lambda: tutorial_convert(src, out)  # noqa: E731
    else:
        import tfrec.write.convert  # noqa: F401
        fn = lambda: tfrec_convert(src, out, workers)  # noqa: E731
    os.sync()
    start = time.perf_counter()
    n = fn()
    print(json.dumps({"seconds": time.perf_counter() - start, "images": n}))


def run_child(kind: str, src: str, out: str, workers: int = 1) -> tuple[float, float, int]:
    """(conversion seconds, whole-command seconds with start-up, images) of one contender in its own process.

    Each runs alone in a fresh interpreter: tfrec's CLI never imports TensorFlow, so its pool forks; in a
    process that has imported TensorFlow it would have to spawn (tfrec/_parallel.py)."""
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--src", src, "--out", out,
                           "--workers", str(workers)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    whole = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["seconds"], whole, result["images"]


def main() -> None:
    parser = round_arguments(__doc__, f"{QUICK_IMAGES:,} images, {QUICK_ROUNDS} rounds",
                             f"alternating rounds (default {ROUNDS})")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.src, args.out, args.workers)
    n = QUICK_IMAGES if args.quick else IMAGES
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    work = args.workdir or tempfile.mkdtemp(prefix="tfrec-detbench-")
    src = os.path.join(work, f"coco-{n}")
    if not os.path.isfile(os.path.join(src, "annotations", "instances_val2017.json")):
        log(f"generating {n:,} COCO-format images in {src}")
        make_coco(src, n)
    cores = os.cpu_count() or 1
    contenders = {"tutorial": ("tutorial", 1), f"tfrec_w{cores}": ("tfrec", cores), "tfrec_w1": ("tfrec", 1)}
    times: dict[str, list[float]] = {k: [] for k in contenders}
    wholes: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(rounds + 1):  # round 0: warm-up (page cache)
        for name, (kind, workers) in contenders.items():
            seconds, whole, count = run_child(kind, src, os.path.join(work, f"out-{name}"), workers)
            if count != n:
                raise SystemExit(f"{name} wrote {count} records, not {n}")
            if r:
                times[name].append(seconds)
                wholes[name].append(whole)
            log(f"round {r}{' (warm-up)' if not r else ''}: {name} {seconds:.2f} s converting "
                f"({n / seconds:,.0f} images/s), {whole:.2f} s with start-up")
    ratio = {name: pair_ratio(times["tutorial"], times[name]) for name in contenders if name != "tutorial"}
    whole_ratio = {name: pair_ratio(wholes["tutorial"], wholes[name]) for name in contenders if name != "tutorial"}
    src_bytes = sum(os.path.getsize(os.path.join(src, "val2017", f)) for f in os.listdir(os.path.join(src, "val2017")))
    best = f"tfrec_w{cores}"
    result = {"benchmark": "convert_detection", "images": n, "source_mb": round(src_bytes / 1e6, 1), "rounds": rounds,
              "shards": SHARDS, "cores": cores,
              **{f"{k}_images_per_s": round(n / statistics.median(v), 1) for k, v in times.items()},
              **{f"{k}_speedup": round(v, 2) for k, v in ratio.items()},
              **{f"{k}_command_speedup": round(v, 2) for k, v in whole_ratio.items()},
              "target_speedup": TARGET_SPEEDUP, "target_met": ratio[best] >= TARGET_SPEEDUP}
    print(json.dumps(result))
    print(f"tfrec ({cores} workers) {ratio[best]:.2f}x and (1 worker) {ratio['tfrec_w1']:.2f}x the throughput of "
          f"create_coco_tf_record.py's approach (target >= {TARGET_SPEEDUP}x); whole commands with start-up "
          f"{whole_ratio[best]:.2f}x", file=sys.stderr)
    if not args.no_write:
        update_section("convert_detection", _markdown(result, args.quick))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


def _markdown(r: dict, quick: bool) -> str:
    cores = r["cores"]
    lines = ["## Detection conversion (COCO format)", "",
             f"{r['images']:,} generated COCO-format JPEGs ({r['source_mb']} MB, ~7 boxes each, 80 category ids with gaps), "
             f"{r['shards']} shards; median of {r['rounds']} alternating rounds in one process.", "",
             "| converter | images/s | vs create_coco_tf_record.py |", "| --- | ---: | ---: |",
             f"| create_coco_tf_record.py's approach (1 process, tf.train.Example) | {r['tutorial_images_per_s']:,.0f} | 1.00x |",
             f"| tfrec convert, {cores} workers | {r[f'tfrec_w{cores}_images_per_s']:,.0f} | {r[f'tfrec_w{cores}_speedup']:.2f}x |",
             f"| tfrec convert, 1 worker | {r['tfrec_w1_images_per_s']:,.0f} | {r['tfrec_w1_speedup']:.2f}x |", "",
             f"Target: >= {r['target_speedup']}x with {cores} workers: {'met' if r['target_met'] else 'NOT met'}.", ""]
    return "\n".join(lines + footer("convert_detection.py", quick))


if __name__ == "__main__":
    main()
