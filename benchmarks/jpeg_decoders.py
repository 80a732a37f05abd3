"""JPEG decoders inside tf.data: TensorFlow's decode_and_crop_jpeg against simplejpeg (libjpeg-turbo), with threads.

The `imagenet` preset's image work on ~500x375 JPEGs (1,200; 300 with --quick), bytes in memory, all
cores, batch 64, to 224x224 float32 (the `jpeg/limit-crop-resize-flip` row of benchmarks/read.py):

- tensorflow: decode_and_crop_jpeg of the random crop window (TensorFlow's JPEG defaults), cast,
  bilinear resize, x / 255, flip;
- simplejpeg: the same window from simplejpeg.decode_jpeg (libjpeg-turbo through its maintained
  binding) in a tf.numpy_function, at the smallest DCT scale M/8 that keeps the window at least
  224x224 (simplejpeg has no crop: it decodes the whole image at that scale, then the window is
  sliced out), then the same resize and flip.

The GIL and threads are measured, not assumed: each decoder decodes the same images in 1 and 2
Python threads, and the cores it kept busy (process CPU seconds / wall seconds) are set beside
those of a pure-Python loop (holds the GIL: at most 1 core) and hashlib.sha256 of large buffers
(releases it), measured in the same run, so that other load on the machine shows on the controls
too. Pipelines alternate, medians of per-round ratios. Prints one JSON line; rewrites the
"jpeg-decoders" section of benchmarks/RESULTS.md.

The TensorFlow-free decode (tfrec/access/decode.py, for the PyTorch and Grain readers) is timed per
image in one thread, the same way, for each JPEG decoder it can use: Pillow at full scale, Pillow with
draft() at the crop window's DCT scale (the default path), simplejpeg and OpenCV (when installed), each
followed by the imagenet preset's crop, resize and flip (tfrec/access/augment.py), on the ~500x375
JPEGs and on ~1024x768 ones. `--access-only` runs only that table (seconds).

    python benchmarks/jpeg_decoders.py [--quick] [--runs N] [--data DIR] [--no-write] [--access-only]
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _results import arguments, footer, git_rev, machine, machine_busy_seconds, update_section  # noqa: E402
from read import JPEG_BATCH, SIZE, crop_resize_limit, time_whole_pass  # noqa: E402
from tfrec.demo import synth  # noqa: E402
from tfrec.read.augment import RandomFlip, RandomResizedCrop  # noqa: E402


def simplejpeg_window(data: bytes, window: np.ndarray) -> np.ndarray:
    """The crop window of a JPEG from simplejpeg, decoded at the smallest scale that keeps it >= SIZE."""
    import simplejpeg

    y, x, h, w = (int(v) for v in window)
    height, width = simplejpeg.decode_jpeg_header(data)[:2]
    img = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=-(-height * SIZE[0] // h),
                                 min_width=-(-width * SIZE[1] // w))
    sy, sx = img.shape[0] / height, img.shape[1] / width
    top, left = int(y * sy), int(x * sx)
    return np.ascontiguousarray(img[top : top + max(1, int(h * sy)), left : left + max(1, int(w * sx))])


def simplejpeg_pipeline(jpegs: list[bytes]) -> tf.data.Dataset:
    """As read.crop_resize_limit, with the window decoded by simplejpeg in a tf.numpy_function."""
    crop, flip = RandomResizedCrop(*SIZE), RandomFlip()
    base = tf.constant([0, 1], tf.int64)

    def decode(i, s):
        seed = tf.random.experimental.stateless_fold_in(base, i)
        img = tf.numpy_function(simplejpeg_window, [s, crop.window(tf.io.extract_jpeg_shape(s), seed)], tf.uint8,
                                stateful=False)
        img.set_shape([None, None, 3])
        return flip.per_image(tf.image.resize(tf.cast(img, tf.float32), SIZE) * (1 / 255), seed)

    ds = tf.data.Dataset.from_tensor_slices(jpegs).enumerate().map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(JPEG_BATCH).prefetch(tf.data.AUTOTUNE)


def windows(jpegs: list[bytes]) -> list[np.ndarray]:
    crop, base = RandomResizedCrop(*SIZE), tf.constant([0, 1], tf.int64)
    return [crop.window(tf.io.extract_jpeg_shape(s), tf.random.experimental.stateless_fold_in(base, i)).numpy()
            for i, s in enumerate(jpegs)]


def threaded(fn, items: list, threads: int) -> dict:
    """Wall and CPU microseconds per item, and cores kept busy, calling fn on every item from `threads` threads."""
    parts = [items[k::threads] for k in range(threads)]
    workers = [threading.Thread(target=lambda p=p: [fn(*a) for a in p]) for p in parts]
    wall, cpu = time.perf_counter(), time.process_time()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_us": wall / len(items) * 1e6, "cpu_us": cpu / len(items) * 1e6, "cores": cpu / wall}


def thread_table(jpegs: list[bytes], wins: list[np.ndarray], repeats: int) -> dict:
    """Cores busy with 1 and 2 threads for each decoder and the two controls (medians of `repeats`)."""
    tf_decode = lambda s, w: tf.io.decode_and_crop_jpeg(s, w, channels=3)  # noqa: E731  eager, one op
    calls = {
        "simplejpeg": (simplejpeg_window, list(zip(jpegs, wins))),
        "tensorflow (eager decode_and_crop_jpeg)": (tf_decode, list(zip(jpegs, wins))),
        "control: Python loop (holds the GIL)": (lambda _: sum(range(20_000)), [(j,) for j in jpegs]),
        "control: hashlib.sha256 of 1 MB (releases it)": (lambda d: hashlib.sha256(d).digest(),
                                                          [(j * max(1, (1 << 20) // len(j)),) for j in jpegs[:200]]),
    }
    out = {}
    for name, (fn, items) in calls.items():
        threaded(fn, items[:50], 1)  # warm-up
        out[name] = {}
        for threads in (1, 2):
            runs = [threaded(fn, items, threads) for _ in range(repeats)]
            out[name][threads] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    return out


def access_table(jpegs: list[bytes], repeats: int) -> dict:
    """CPU µs per image (medians of `repeats`) of decode + imagenet crop/resize/flip without TensorFlow,
    per JPEG decoder, in one thread; the same windows and flips for every decoder."""
    from tfrec.access import decode as access_decode
    from tfrec.access.augment import make_augment
    from tfrec.codec.images import image_header

    aug = make_augment("imagenet", SIZE)
    sizes = [image_header(j)[:2] for j in jpegs]
    modes = {"pillow (full scale)": ("pillow", False), "pillow + draft (DCT-scaled)": ("pillow", True),
             "simplejpeg (DCT-scaled)": ("simplejpeg", True), "opencv (DCT-scaled)": ("opencv", True)}
    out = {}
    for name, (decoder, scaled) in modes.items():
        try:
            access_decode.set_decoder(decoder)
        except Exception:  # noqa: BLE001  not installed: no row
            continue

        def one(k: int) -> None:
            rng = np.random.default_rng(k)
            (h, w), data = sizes[k], jpegs[k]
            window = aug.crop_window(h, w, rng)
            target = aug.decode_target(h, w, window) if scaled else None
            aug(access_decode.decode_image(data, channels=3, target=target), rng, window=window, source_size=(h, w))

        for k in range(min(20, len(jpegs))):  # warm-up
            one(k)
        runs = []
        for _ in range(repeats):
            cpu = time.process_time()
            for k in range(len(jpegs)):
                one(k)
            runs.append((time.process_time() - cpu) / len(jpegs) * 1e6)
        out[name] = round(statistics.median(runs))
    access_decode.set_decoder("pillow")
    return out


def write_jpegs(folder: str, per_class: int, size: tuple[int, int]) -> list[bytes]:
    if not glob.glob(os.path.join(folder, "*", "*.jpg")):
        synth.write_image_folder(folder, n_per_class=per_class, seed=0, num_classes=10, size=size, fmt="jpeg",
                                 vary_size=True)
    return [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(folder, "*", "*.jpg")))]


def access_markdown(access: dict) -> list[str]:
    names = list(next(iter(access.values())))
    lines = ["", "Without TensorFlow (`tfrec/access/decode.py` + the `imagenet` preset of `tfrec/access/augment.py`, "
             "to 224x224 uint8), CPU µs per image, one thread:", "",
             "| JPEG decoder | " + " | ".join(access) + " |", "| --- |" + " ---: |" * len(access)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(access[k].get(name, "-")) for k in access) + " |")
    return lines


def markdown(out: dict) -> str:
    r, t = out["pipelines"], out["threads"]
    lines = [
        "## JPEG decoders in tf.data (`benchmarks/jpeg_decoders.py`)" + (" (--quick)" if out["quick"] else ""),
        "",
        f"{out['machine']}; TensorFlow {out['tensorflow']}; simplejpeg {out['simplejpeg']}; commit {out['git']}; "
        f"{out['rounds']} rounds, medians. The `imagenet` preset's image work on {out['images']:,} JPEGs of about "
        "500x375, bytes in memory, all cores, batch 64, to 224x224 float32.",
        "",
        "| decoder in the pipeline | images/s | CPU µs/image | ratio to tensorflow |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, v in r.items():
        lines.append(f"| {name} | {v['images_per_s']:,} | {v['cpu_us_per_image']} | {v['ratio']}x |")
    lines += ["", "Threads (the same images; per item; cores busy = process CPU s / wall s):", "",
              "| calls | 1 thread µs | 2 threads µs | cores busy, 1 thread | cores busy, 2 threads |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, v in t.items():
        lines.append(f"| {name} | {v[1]['wall_us']:.0f} | {v[2]['wall_us']:.0f} | {v[1]['cores']:.2f} | {v[2]['cores']:.2f} |")
    sj, tfd = r["simplejpeg"], r["tensorflow"]
    kept = sj["ratio"] > 1.0
    lines += [
        "",
        f"simplejpeg ran at {sj['ratio']}x TensorFlow's images/s, using {sj['cpu_us_per_image']} CPU µs per image "
        f"against {tfd['cpu_us_per_image']}: " + (
            "it wins end to end here." if kept else
            "it loses end to end, so tfrec keeps TensorFlow's decoder and adds no extra for it. simplejpeg "
            "cannot decode a window: it decodes the whole image (at the smallest M/8 scale that keeps the window "
            "at least 224x224, which for ~500x375 images is almost always 8/8), where decode_and_crop_jpeg "
            "decodes only the window's columns and stops after its last row."),
        f"Threads: with 2 threads simplejpeg kept {t['simplejpeg'][2]['cores']:.2f} cores busy, against "
        f"{t['control: Python loop (holds the GIL)'][2]['cores']:.2f} for the GIL-holding control and "
        f"{t['control: hashlib.sha256 of 1 MB (releases it)'][2]['cores']:.2f} for the GIL-releasing one in the "
        "same run (other sessions' load caps the controls too).",
        f"Other work on the machine during the run: {out['other_cores_busy']} of {os.cpu_count()} cores busy on average.",
        "",
        *access_markdown(out["access"]),
        "",
        *footer("jpeg_decoders.py", out["quick"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = arguments(__doc__, "300 images, 3 rounds", "timed rounds (default 5, 3 with --quick)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--access-only", action="store_true",
                        help="only the TensorFlow-free decoders' table (prints JSON, writes nothing)")
    args = parser.parse_args()
    try:
        import simplejpeg
    except ImportError:
        sys.exit("simplejpeg is not installed: pip install -e '.[bench]'")

    rounds = args.runs or (3 if args.quick else 5)
    per_class = 30 if args.quick else 120
    with tempfile.TemporaryDirectory(prefix="tfrec-bench-jpeg-") as tmp:
        jpegs = write_jpegs(os.path.join(args.data or tmp, f"jpeg_src-{per_class}"), per_class, (500, 375))
        large = write_jpegs(os.path.join(args.data or tmp, f"jpeg_src-1024-{per_class // 4}"), per_class // 4,
                            (1024, 768))
    access = {"~500x375": access_table(jpegs, rounds), "~1024x768": access_table(large, rounds)}
    if args.access_only:
        print(json.dumps({"benchmark": "jpeg-decoders-access", "machine": machine(), "git": git_rev(),
                          "images": [len(jpegs), len(large)], "cpu_us_per_image": access}))
        return
    busy0, ours0, t0 = machine_busy_seconds(), time.process_time(), time.perf_counter()
    cands = {"tensorflow": lambda: crop_resize_limit(jpegs), "simplejpeg": lambda: simplejpeg_pipeline(jpegs)}
    rates, cpu = {k: [] for k in cands}, {k: [] for k in cands}
    for r in range(rounds + 1):  # round 0 warms up
        for name, make in cands.items():
            wall, cpu_s, images, *_ = time_whole_pass(make)  # also start-up and the steady rate
            if r:
                rates[name].append(images / wall)
                cpu[name].append(cpu_s / images * 1e6)
    pipelines = {k: {"images_per_s": round(statistics.median(rates[k])),
                     "cpu_us_per_image": round(statistics.median(cpu[k])),
                     "ratio": round(float(np.median(np.array(rates[k]) / np.array(rates["tensorflow"]))), 2)}
                 for k in cands}
    threads = thread_table(jpegs, windows(jpegs), 3)
    busy1, wall = machine_busy_seconds(), time.perf_counter() - t0
    other = None if busy0 is None or busy1 is None else round(
        max(0.0, (busy1 - busy0) - (time.process_time() - ours0)) / wall, 2)
    out = {"benchmark": "jpeg-decoders", "quick": args.quick, "machine": machine(), "git": git_rev(),
           "tensorflow": tf.__version__, "simplejpeg": simplejpeg.__version__, "rounds": rounds, "images": len(jpegs),
           "pipelines": pipelines, "threads": threads, "access": access, "other_cores_busy": other,
           "simplejpeg_wins": pipelines["simplejpeg"]["ratio"] > 1.0}
    print(json.dumps(out))
    if not args.no_write:
        update_section("jpeg-decoders", markdown(out))


if __name__ == "__main__":
    main()
