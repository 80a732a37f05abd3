"""Conversion benchmark: `tfrec convert` against the TF-tutorial loop and the I/O limit, on MNIST, CIFAR-10 and JPEGs.

Generates full-size MNIST-format (60,000 + 10,000, gzipped IDX like the official download) and
CIFAR-10-format (50,000 + 10,000, binary version) data and a folder of 3,000 JPEGs (10 classes,
300x225 to 500x375, sizes varied like real photos), then measures in one run:

- whole commands, interpreter start-up included: `tfrec convert SRC OUT --overwrite -q` against a
  tutorial script (NumPy parses the same files; a Python loop builds one `tf.train.Example` per
  record and writes it with `tf.io.TFRecordWriter`, one file per split). Alternating pairs after a
  warm-up; target: tfrec >= 5x faster (median of the per-pair ratios).
- the conversion work in-process (`tfrec.write.convert.convert`, start-up excluded) against the I/O limit
  measured in the same process: read every source file (gunzipping .gz ones) and write as many bytes
  as the output shards hold to a file in the output filesystem. Target: work / limit <= 3.
- `--resize 224x224` on the JPEG folder with 1 and 2 workers. Target: >= 1.8x images/s with 2.
- peak RSS of the JPEG-folder command (largest process of its tree) for N and 2N images.
  Target: roughly constant (2N within 1.25x of N).

Other sessions may share the machine: each measurement also records the cores other processes kept
busy meanwhile (the machine's busy time from /proc/stat less this benchmark's own CPU), and the
report warns where that was enough to skew it.

Prints one JSON line on stdout and rewrites the "convert" section of benchmarks/RESULTS.md; progress
goes to stderr. `--quick` uses smaller data and fewer runs (under two minutes on 2 cores).

    python benchmarks/convert.py [--quick] [--data DIR] [--runs N] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import arguments, git_rev, logger, machine, machine_busy_seconds, update_section  # noqa: E402
from tfrec.timing import pair_ratio  # noqa: E402

# Targets from the issue.
COMMAND_SPEEDUP_MIN = 5.0
COMMAND_MARGIN = 1.1  # issue 15: 10% over the speed-up target, so that a busy machine does not flip it
WORK_OVER_LIMIT_MAX = 3.0
RESIZE_SCALING_MIN = 1.8
# "Roughly constant memory": doubling the folder may raise peak RSS by at most this factor.
RSS_GROWTH_MAX = 1.25
RESIZE = (224, 224)
# When other processes keep more than this many cores busy during a measurement, the report warns.
OTHER_CORES_WARN = 0.3


@dataclass(frozen=True)
class Sizes:
    """How much data to generate and how often to repeat each measurement."""

    mnist: tuple[int, int]  # train, test
    cifar: tuple[int, int]
    classes: int
    per_class: int
    image_size: tuple[int, int]  # base (width, height); each image varies 0.75x-1.25x
    resize_images: int  # images of the folder used for the --resize scaling runs
    runs: int


FULL = Sizes(mnist=(60_000, 10_000), cifar=(50_000, 10_000), classes=10, per_class=300,
             image_size=(400, 300), resize_images=3_000, runs=5)
QUICK = Sizes(mnist=(20_000, 5_000), cifar=(15_000, 5_000), classes=10, per_class=100,
              image_size=(400, 300), resize_images=600, runs=3)

TUTORIAL = textwrap.dedent('''\
    """The TensorFlow tutorial way: parse with NumPy, one tf.train.Example per record, one file per split."""
    import gzip, os, sys
    import numpy as np
    import tensorflow as tf

    def _bytes_feature(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int64_feature(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def read_idx(path):
        with gzip.open(path, "rb") as f:
            data = f.read()
        ndim = data[3]
        dims = np.frombuffer(data, ">u4", ndim, 4)
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)

    def mnist_splits(src):
        for split, prefix in (("train", "train"), ("test", "t10k")):
            images = read_idx(os.path.join(src, prefix + "-images-idx3-ubyte.gz"))
            labels = read_idx(os.path.join(src, prefix + "-labels-idx1-ubyte.gz"))
            yield split, images[..., None], labels

    def cifar_splits(src):
        names = sorted(n for n in os.listdir(src) if n.startswith("data_batch_"))
        for split, files in (("train", names), ("test", ["test_batch.bin"])):
            rows = np.concatenate([np.fromfile(os.path.join(src, n), np.uint8).reshape(-1, 3073) for n in files])
            yield split, rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), rows[:, 0]

    def main(fmt, src, out):
        os.makedirs(out, exist_ok=True)
        splits = mnist_splits(src) if fmt == "mnist" else cifar_splits(src)
        for split, images, labels in splits:
            with tf.io.TFRecordWriter(os.path.join(out, split + ".tfrecord")) as writer:
                for image, label in zip(images, labels):
                    example = tf.train.Example(features=tf.train.Features(feature={
                        "image": _bytes_feature(image.tobytes()),
                        "label": _int64_feature(int(label)),
                    }))
                    writer.write(example.SerializeToString())

    if __name__ == "__main__":
        main(*sys.argv[1:4])
''')

# Runs a command and prints its peak RSS (KiB): the largest process of the tree it waited for.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(rc)\n"
)


log = logger("convert")


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the children it has waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class OtherLoad:
    """Over a with-block: the cores other processes kept busy (the machine's busy time less ours).

    Other sessions share this machine; a measurement they crowded out is flagged instead of trusted.
    """

    def __enter__(self) -> "OtherLoad":
        self.cores: float | None = None
        self._start = (machine_busy_seconds(), cpu_seconds(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        busy0, ours0, t0 = self._start
        busy1, wall = machine_busy_seconds(), time.perf_counter() - t0
        if busy0 is not None and busy1 is not None and wall > 0:
            self.cores = round(max(0.0, (busy1 - busy0) - (cpu_seconds() - ours0)) / wall, 2)


# ----------------------------------------------------------------------------- data


def generate_data(root: str, sizes: Sizes) -> dict[str, str]:
    """Writes (or reuses, when root/data.json matches) the three sources; returns their paths."""
    from tfrec.demo import synth

    paths = {
        "mnist": os.path.join(root, "mnist"),
        "cifar10": os.path.join(root, "cifar10", "cifar-10-batches-bin"),
        "jpeg_folder": os.path.join(root, "jpeg"),
        "jpeg_folder_2x": os.path.join(root, "jpeg-2x"),
    }
    stamp = os.path.join(root, "data.json")
    wanted = json.dumps({k: v for k, v in asdict(sizes).items() if k not in ("runs", "resize_images")}, sort_keys=True)
    if _read_text(stamp) == wanted and all(os.path.exists(p) for p in paths.values()):
        log(f"reusing data in {root}")
        return paths
    for p in (os.path.join(root, "mnist"), os.path.join(root, "cifar10"), paths["jpeg_folder"], paths["jpeg_folder_2x"]):
        shutil.rmtree(p, ignore_errors=True)
    start = time.perf_counter()
    # No background noise: the gzip files then compress like the real MNIST's (about 4.7 to 1),
    # so gunzip, which both tfrec and the tutorial pay, weighs what it does on the real download.
    synth.write_mnist(paths["mnist"], *sizes.mnist, seed=0, gzip=True, noise=False)
    synth.write_cifar10(os.path.join(root, "cifar10"), *sizes.cifar, seed=0, batches=5)
    synth.write_image_folder(paths["jpeg_folder"], sizes.per_class, seed=0, num_classes=sizes.classes,
                             size=sizes.image_size, fmt="jpeg", vary_size=True)
    double_folder(paths["jpeg_folder"], paths["jpeg_folder_2x"])
    with open(stamp, "w") as f:
        f.write(wanted)
    log(f"generated data in {root} in {time.perf_counter() - start:.1f} s")
    return paths


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def double_folder(src: str, dst: str) -> None:
    """An image folder holding every image of `src` twice (hard links, so it costs no disk)."""
    for dirpath, _, files in os.walk(src):
        target = os.path.join(dst, os.path.relpath(dirpath, src))
        os.makedirs(target, exist_ok=True)
        for name in files:
            for copy in ("a_", "b_"):
                try:
                    os.link(os.path.join(dirpath, name), os.path.join(target, copy + name))
                except OSError:
                    shutil.copyfile(os.path.join(dirpath, name), os.path.join(target, copy + name))


def source_files(src: str) -> list[str]:
    """Every file under `src`, in walk order."""
    return [os.path.join(d, n) for d, _, files in sorted(os.walk(src)) for n in sorted(files)]


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in source_files(path))


# ----------------------------------------------------------------------------- whole commands


def tfrec_command() -> list[str]:
    """The `tfrec` console script installed beside this interpreter (or the same entry point via -c)."""
    script = os.path.join(os.path.dirname(sys.executable), "tfrec")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-c", "import sys; from tfrec.cli.main import main; sys.argv[0] = 'tfrec'; main()"]


def run_timed(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one subprocess run, start-up included; raises with its stderr if it fails.

    Python may write .pyc files (PYTHONDONTWRITEBYTECODE is dropped), so the warm-up run leaves
    compiled modules as an installed package has them, for both contenders.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cpu, start = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return seconds, cpu


def time_commands(name: str, src: str, work: str, tutorial: str, runs: int) -> dict:
    """Alternating tfrec/tutorial command pairs after one warm-up of each; medians and pair ratios."""
    fmt = "mnist" if name == "mnist" else "cifar"

    def tfrec_run(i: int) -> tuple[float, float]:
        return fresh_run(work, f"cmd-tfrec-{i}", lambda out: run_timed(
            tfrec_command() + ["convert", src, out, "--overwrite", "-q"]))

    def tutorial_run(i: int) -> tuple[tuple[float, float], int]:
        return fresh_run(work, f"cmd-tutorial-{i}", lambda out: (
            run_timed([sys.executable, tutorial, fmt, src, out]), dir_bytes(out)))

    tfrec_run(-1)  # warm-up: page cache, .pyc files
    tutorial_run(-1)
    tfrec_s, tutorial_s, tfrec_cpu, tutorial_cpu, tutorial_bytes = [], [], [], [], 0
    for i in range(runs):
        if i % 2:  # alternate which goes first, so drift within a pair cancels out
            (t, tc), ((u, uc), tutorial_bytes) = tfrec_run(i), tutorial_run(i)
        else:
            ((u, uc), tutorial_bytes), (t, tc) = tutorial_run(i), tfrec_run(i)
        tfrec_s.append(t)
        tutorial_s.append(u)
        tfrec_cpu.append(tc)
        tutorial_cpu.append(uc)
        log(f"{name} command {i + 1}/{runs}: tfrec {t:.2f} s, tutorial {u:.2f} s")
    pair = pair_ratio(tutorial_s, tfrec_s)
    return {
        "tfrec_s": round(median(tfrec_s), 3),
        "tutorial_s": round(median(tutorial_s), 3),
        "tfrec_cpu_s": round(median(tfrec_cpu), 3),
        "tutorial_cpu_s": round(median(tutorial_cpu), 3),
        "tutorial_output_mb": round(tutorial_bytes / 1e6, 2),
        "speedup": round(median(tutorial_s) / median(tfrec_s), 2),
        "speedup_pair_median": round(pair, 2),
        "target_min": COMMAND_SPEEDUP_MIN,
        "met": pair >= COMMAND_SPEEDUP_MIN,
        "margin_met": pair >= COMMAND_MARGIN * COMMAND_SPEEDUP_MIN,
    }


def fresh_run(work: str, label: str, fn: Callable[[str], object]):
    """Calls fn(out) with a new, absent output directory under `work`, deleted afterwards."""
    out = os.path.join(work, label)
    shutil.rmtree(out, ignore_errors=True)
    try:
        return fn(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ----------------------------------------------------------------------------- in-process work


def convert_once(src: str, out: str, **options) -> tuple[float, float, dict]:
    """(wall, CPU) seconds of one in-process `tfrec.write.convert.convert` into a new directory, and its manifest.

    CPU counts this process and the worker processes, which the pool has reaped when convert returns;
    the manifest gets `parent_cpu_s`, this process's share.
    """
    from tfrec.write.convert import ConvertOptions, convert

    opts = ConvertOptions(overwrite=True, progress=False, **options)
    cpu, own, start = cpu_seconds(), time.process_time(), time.perf_counter()
    manifest = convert(src, out, opts)
    seconds, cpu, own = time.perf_counter() - start, cpu_seconds() - cpu, time.process_time() - own
    return seconds, cpu, {**manifest, "parent_cpu_s": own}


def io_limit_once(src: str, out_bytes: int, out_dir: str) -> float:
    """Seconds to read every file under `src` (gunzipping .gz) and write `out_bytes` of it into out_dir.

    .gz files are inflated by the fastest inflater tfrec has here (tfrec.io.gunzip: ISA-L with the
    `fast` extra), so the limit moves with the converter's own gunzip.
    """
    from tfrec.io.gunzip import gunzip

    path = os.path.join(out_dir, "io-limit.bin")
    start = time.perf_counter()
    buffers = []
    for p in source_files(src):
        with open(p, "rb") as f:
            data = f.read()
        buffers.append(gunzip(data) if p.endswith(".gz") else data)
    left = out_bytes
    with open(path, "wb") as f:
        while left > 0:  # the output is larger than the source (framing, features): wrap around
            for data in buffers:
                piece = memoryview(data)[:left]
                f.write(piece)
                left -= len(piece)
                if left <= 0:
                    break
    seconds = time.perf_counter() - start
    os.remove(path)
    return seconds


def output_size(manifest: dict) -> tuple[int, int]:
    """(records, bytes) over all splits: the shard bytes the conversion wrote."""
    splits = manifest["splits"].values()
    return sum(s["records"] for s in splits), sum(s["bytes"] for s in splits)


def time_work(name: str, src: str, work: str, runs: int) -> dict:
    """In-process conversion against the I/O limit, in alternating pairs after a warm-up of each."""
    os.makedirs(work, exist_ok=True)
    manifest = fresh_run(work, "work-warmup", lambda out: convert_once(src, out))[2]
    records, out_bytes = output_size(manifest)
    skipped = len(manifest.get("skipped") or [])
    io_limit_once(src, out_bytes, work)
    conv_s, conv_cpu, limit_s = [], [], []
    for i in range(runs):
        seconds, cpu, _ = fresh_run(work, f"work-{i}", lambda out: convert_once(src, out))
        conv_s.append(seconds)
        conv_cpu.append(cpu)
        limit_s.append(io_limit_once(src, out_bytes, work))
        log(f"{name} work {i + 1}/{runs}: convert {conv_s[-1]:.3f} s, I/O limit {limit_s[-1]:.3f} s")
    c, lim = median(conv_s), median(limit_s)
    ratio = pair_ratio(conv_s, limit_s)
    return {
        "records": records,
        "skipped": skipped,
        "source_mb": round(dir_bytes(src) / 1e6, 2),
        "output_mb": round(out_bytes / 1e6, 2),
        "convert_s": round(c, 3),
        "convert_cpu_s": round(median(conv_cpu), 3),
        "records_per_s": round(records / c),
        "mb_per_s": round(out_bytes / 1e6 / c, 1),
        "limit_s": round(lim, 3),
        "limit_mb_per_s": round(out_bytes / 1e6 / lim, 1),
        "ratio": round(c / lim, 2),
        "ratio_pair_median": round(ratio, 2),
        "target_max": WORK_OVER_LIMIT_MAX,
        "met": ratio <= WORK_OVER_LIMIT_MAX,
    }


# ----------------------------------------------------------------------------- resize scaling, memory


def subset_folder(src: str, dst: str, count: int) -> str:
    """A folder of the first `count` images of `src` (round-robin over classes), as hard links."""
    if os.path.exists(dst):
        return dst
    classes = sorted(os.listdir(src))
    files = {c: sorted(os.listdir(os.path.join(src, c))) for c in classes}
    for k in range(count):
        c = classes[k % len(classes)]
        name = files[c][k // len(classes)]
        os.makedirs(os.path.join(dst, c), exist_ok=True)
        os.link(os.path.join(src, c, name), os.path.join(dst, c, name))
    return dst


def time_resize(src: str, work: str, runs: int) -> dict:
    """--resize 224x224 in-process with 1 and 2 workers, alternating, after a warm-up."""
    def once(workers: int, i: int) -> tuple[float, float, float, int]:
        seconds, cpu, manifest = fresh_run(
            work, f"resize-{workers}-{i}", lambda out: convert_once(src, out, resize=RESIZE, workers=workers))
        return seconds, cpu, manifest["parent_cpu_s"], output_size(manifest)[0]

    once(2, -1)
    one, two, cpu_1, cpu_2, parent_2 = [], [], [], [], []
    for i in range(runs):
        seconds, cpu, _, _ = once(1, i)
        one.append(seconds)
        cpu_1.append(cpu)
        seconds, cpu, parent, images = once(2, i)
        two.append(seconds)
        cpu_2.append(cpu)
        parent_2.append(parent / cpu)
        log(f"resize {i + 1}/{runs}: 1 worker {one[-1]:.2f} s, 2 workers {two[-1]:.2f} s "
            f"({cpu / seconds:.2f} cores busy, {parent_2[-1]:.0%} of the CPU in the parent; {images} images)")
    pair = pair_ratio(one, two)
    return {
        "images": images,
        "workers_1_s": round(median(one), 3),
        "workers_2_s": round(median(two), 3),
        # CPU seconds (parent + workers) per wall second, and the extra CPU the same work takes with 2 workers
        "workers_1_cores_used": round(median([c / s for c, s in zip(cpu_1, one)]), 2),
        "workers_2_cores_used": round(median([c / s for c, s in zip(cpu_2, two)]), 2),
        "workers_2_cpu_overhead": round(median(cpu_2) / median(cpu_1) - 1, 3),
        # the parent lists, hands out and writes; the workers decode, resize and encode. A parent share
        # near 50% would mean the work is serialised in the parent, not spread over the pool.
        "workers_2_parent_cpu_share": round(median(parent_2), 3),
        "workers_1_images_per_s": round(images / median(one), 1),
        "workers_2_images_per_s": round(images / median(two), 1),
        "scaling": round(median(one) / median(two), 2),
        "scaling_pair_median": round(pair, 2),
        "target_min": RESIZE_SCALING_MIN,
        "met": pair >= RESIZE_SCALING_MIN,
    }


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS in MB of the largest process in the tree of `cmd`, measured by a fresh wrapper process."""
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return int(proc.stdout.split()[-1]) * 1024 / 1e6


def measure_memory(small: str, large: str, work: str) -> dict:
    """Peak RSS of `tfrec convert` (pass-through) on an image folder of N and of 2N images."""
    rows = []
    for src in (small, large):
        images = sum(1 for _ in source_files(src))
        rss = fresh_run(work, "rss", lambda out: peak_rss_mb(tfrec_command() + ["convert", src, out, "--overwrite", "-q"]))
        log(f"peak RSS, {images} images: {rss:.0f} MB")
        rows.append({"images": images, "peak_rss_mb": round(rss, 1)})
    growth = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    return {
        "measure": "ru_maxrss of the largest process (main or worker) of `tfrec convert SRC OUT --overwrite -q`",
        "runs": rows,
        "growth": round(growth, 3),
        "target_max": RSS_GROWTH_MAX,
        "met": growth <= RSS_GROWTH_MAX,
    }


# ----------------------------------------------------------------------------- report


def _mark(met: bool) -> str:
    return "yes" if met else "**no**"


def markdown(result: dict, command: str) -> str:
    """The RESULTS.md section: one table per measurement, the machine, the command and the revision."""
    lines = [
        "## Conversion (`benchmarks/convert.py`)",
        "",
        f"Whole command: `tfrec convert SRC OUT --overwrite -q` vs the tutorial script (one `tf.train.Example` per "
        f"record, `tf.io.TFRecordWriter`), both as fresh processes, target >= {COMMAND_SPEEDUP_MIN:g}x. Work: "
        f"`tfrec.write.convert.convert` in-process vs the I/O limit (read the sources, gunzip, write the output's "
        f"byte count), target <= {WORK_OVER_LIMIT_MAX:g}x. Ratios are medians of alternating pairs.",
        "",
        "| dataset | records | output MB | tfrec command s | tutorial s | speed-up | work s | I/O limit s "
        "| work/limit | targets met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, d in result["datasets"].items():
        w, c = d["work"], d.get("command")
        cmd = (f"{c['tfrec_s']:.2f} | {c['tutorial_s']:.2f} | {c['speedup_pair_median']:.1f}x" if c else "- | - | -")
        met = (f"speed-up {_mark(c['met'])} (10% margin {_mark(c['margin_met'])}), " if c else "") + f"work {_mark(w['met'])}"
        lines.append(
            f"| {name} | {w['records']:,} | {w['output_mb']:.1f} | {cmd} | {w['convert_s']:.3f} | "
            f"{w['limit_s']:.3f} | {w['ratio_pair_median']:.2f}x | {met} |"
        )
    r, m = result["resize"], result["memory"]
    lines += [
        "",
        f"| `--resize {RESIZE[0]}x{RESIZE[1]}`, {r['images']:,} JPEGs | 1 worker | 2 workers | scaling "
        f"(target >= {RESIZE_SCALING_MIN:g}x) | met |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| images/s | {r['workers_1_images_per_s']:.0f} | {r['workers_2_images_per_s']:.0f} | "
        f"{r['scaling_pair_median']:.2f}x | {_mark(r['met'])} |",
        f"| cores busy (CPU s / wall s) | {r['workers_1_cores_used']:.2f} | {r['workers_2_cores_used']:.2f} | | |",
        f"| CPU s for the same work | 1.00x | {1 + r['workers_2_cpu_overhead']:.2f}x | | |",
        f"| parent's share of the CPU | 100% | {r['workers_2_parent_cpu_share']:.0%} | | |",
        *_crowded_resize_note(r, result["other_processes_cores"].get("resize")),
        "",
        f"| peak RSS, JPEG folder pass-through | {m['runs'][0]['images']:,} images | {m['runs'][1]['images']:,} images "
        f"| growth (target <= {RSS_GROWTH_MAX:g}x) | met |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| MB (largest process) | {m['runs'][0]['peak_rss_mb']:.0f} | {m['runs'][1]['peak_rss_mb']:.0f} | "
        f"{m['growth']:.2f}x | {_mark(m['met'])} |",
        "",
        f"All targets met: {_mark(result['all_targets_met'])}{' (quick run: smaller data)' if result['quick'] else ''}. "
        f"Gunzip: {result['gunzip']} (tfrec.io.gunzip; the I/O limit inflates with it too).",
        "",
        *_other_load_note(result["other_processes_cores"]),
        f"Machine: {result['machine']}  ",
        f"Command: `{command}`  ",
        f"Revision: {result['git']}, {result['date']}",
    ]
    return "\n".join(lines)


def _crowded_resize_note(r: dict, other: float | None) -> list[str]:
    """Where other processes held cores during the resize runs: what that left, and where our CPU went."""
    if other is None or other <= OTHER_CORES_WARN:
        return []
    return ["", f"Other processes kept {other:.2f} of {os.cpu_count()} cores busy during the resize runs, so 2 "
            f"workers could not have 2 cores; with 2 workers the parent used "
            f"{r['workers_2_parent_cpu_share']:.0%} of the CPU, the workers the rest."]


def _other_load_note(other: dict) -> list[str]:
    """A line on the cores other processes used during each measurement; a warning where they crowded it."""
    known = {k: v for k, v in other.items() if v is not None}
    if not known:
        return []
    line = "Cores kept busy by other processes during each measurement: " + ", ".join(
        f"{k} {v:.2f}" for k, v in known.items()) + "."
    crowded = [k for k, v in known.items() if v > OTHER_CORES_WARN and k != "whole run"]
    if crowded:
        line += (f" **Warning: other work shared the machine during {', '.join(crowded)}; those timings (and the "
                 "worker scaling most) are pessimistic.**")
    return [line, ""]


def measure_all(tmp: str, paths: dict[str, str], sizes: Sizes, runs: int) -> dict:
    """Every measurement, each with the cores other processes used meanwhile."""
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    tutorial = os.path.join(tmp, "tutorial.py")
    with open(tutorial, "w") as f:
        f.write(TUTORIAL)
    datasets, other = {}, {}
    for name in ("mnist", "cifar10", "jpeg_folder"):
        log(f"{name}: in-process work vs I/O limit")
        with OtherLoad() as load:
            datasets[name] = {"work": time_work(name, paths[name], work, runs)}
        other[f"{name} work"] = load.cores
        if name != "jpeg_folder":
            log(f"{name}: whole commands")
            with OtherLoad() as load:
                datasets[name]["command"] = time_commands(name, paths[name], work, tutorial, runs)
            other[f"{name} commands"] = load.cores
    resize_src = paths["jpeg_folder"]
    if sizes.resize_images < sizes.classes * sizes.per_class:
        resize_src = subset_folder(resize_src, os.path.join(tmp, "resize-subset"), sizes.resize_images)
    log("resize scaling")
    with OtherLoad() as load:
        resize = time_resize(resize_src, work, runs)
    other["resize"] = load.cores
    memory = measure_memory(paths["jpeg_folder"], paths["jpeg_folder_2x"], work)
    return {"datasets": datasets, "resize": resize, "memory": memory, "other_processes_cores": other}


def run(args: argparse.Namespace) -> dict:
    """Generates the data, measures, and returns the result dict that becomes the JSON line."""
    sizes = QUICK if args.quick else FULL
    runs = args.runs or sizes.runs
    tmp = tempfile.mkdtemp(prefix="tfrec-bench-convert-")
    try:
        with OtherLoad() as whole:
            paths = generate_data(args.data or os.path.join(tmp, "data"), sizes)
            found = measure_all(tmp, paths, sizes, runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found["other_processes_cores"]["whole run"] = whole.cores  # average cores other processes kept busy
    met = [d["work"]["met"] and d.get("command", {}).get("met", True) for d in found["datasets"].values()]
    return {
        "benchmark": "convert",
        "quick": bool(args.quick),
        "tfrec_command": "tfrec convert SRC OUT --overwrite -q",
        "runs": runs,
        **found,
        "all_targets_met": all(met) and found["resize"]["met"] and found["memory"]["met"],
        "gunzip": gunzip_backend(),
        "machine": machine(),
        "git": git_rev(),
        "date": time.strftime("%Y-%m-%d"),
    }


def gunzip_backend() -> str:
    from tfrec.io.gunzip import BACKEND

    return BACKEND


def main() -> None:
    parser = arguments(__doc__, "smaller data and 3 runs (under two minutes)",
                       "timed runs per measurement (default 5, or 3 with --quick)")
    parser.add_argument("--no-write", action="store_true", help="print the JSON line only; leave RESULTS.md alone")
    args = parser.parse_args()
    if args.runs is not None and args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    start = time.perf_counter()
    result = run(args)
    result["total_s"] = round(time.perf_counter() - start, 1)
    command = "python benchmarks/convert.py" + "".join(f" {a}" for a in sys.argv[1:])
    if args.no_write:
        log(f"done in {result['total_s']:.0f} s (--no-write: RESULTS.md left alone)")
    else:
        update_section("convert", markdown(result, command))
        log(f"done in {result['total_s']:.0f} s; wrote the convert section of benchmarks/RESULTS.md")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
