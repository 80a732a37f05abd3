"""Reading from PyTorch: tfrec.torch.loader against the tfrecord package, Pillow, the decode limit, make_dataset.

One run, the same data and the same cores for everyone (issue 26, item 10):

* raw CIFAR-format records (32x32x3 uint8, 50,000 in 8 shards; 10,000 with --quick), batch 256, uint8 NCHW:
  tfrec.torch.loader (file order, shuffled: a seeded global permutation, and in file order with no worker
  processes, num_workers=0, which is not the targets' setting), (a) the `tfrecord` package's
  TFRecordDataset (one per shard, chained, with the shards' `.idx` so that each DataLoader worker reads its
  own part of every shard) + DataLoader doing the same decode (np.frombuffer, reshape, CHW), and
  (d) tfrec.make_dataset (TensorFlow; dtype uint8, in file order and shuffled);
* JPEGs of about 500x375 (ImageNet's typical size; 1,200 images, 300 with --quick) resized to 224x224,
  batch 64, uint8 NCHW: tfrec.torch.loader(image_size=224) over their pass-through conversion (file order
  and shuffled), (a) as above with tfrec's decoder (tfrec.access.decode.decode_image, then
  tfrec.access.augment's resize: the loader's own decode), (b) an ImageFolder-style Dataset over the
  original files with Pillow (open, convert("RGB"), bilinear resize to 224x224, as torchvision's
  ImageFolder + Resize do; torchvision itself does not import beside the CPU torch here), (c) the limit:
  the same decode and resize as the loader, of the JPEG bytes already in memory, into batch arrays in a
  multiprocessing pool of one process per core, nothing sent back but each batch's length (the cores'
  decode work alone), and (d) tfrec.make_dataset (image_size 224, dtype uint8);
* photos of about 1024x768 (400 images, 120 with --quick) with the imagenet preset to 224x224 (random
  resized crop and flip), batch 32, uint8 NCHW: tfrec.torch.loader(augment="imagenet", image_size=224)
  (crop windows drawn before the decode, JPEGs decoded at the DCT scale the window allows) against (b) the
  ImageFolder-style Dataset doing what torchvision's RandomResizedCrop + RandomHorizontalFlip do with
  Pillow (open, convert("RGB"), crop the same kind of random window, bilinear resize to 224, flip).

Workers = the cores (DataLoader num_workers, the pool's processes; make_dataset's own parallelism).
TensorFlow and the tfrecord package cannot share a process (DESIGN.md), so two child processes hold the
contenders: one imports torch, tfrecord and tfrec.torch with `import tensorflow` made to fail, the other
TensorFlow; this process sends them one pass at a time, so only one runs at once. A pass is timed from
making the loader (or pipeline) to StopIteration: the first batch's time is the start-up, images/s after
it is the steady state (the teardown is not counted); every pass checks it saw each record once.
Rounds visit every contender in turn, every other round backwards (round 0 warms up and is dropped); a
ratio is the median over rounds of the round's ratio, so a busy machine affects both sides alike. CPU
seconds per image count the contender's process and its worker processes.
Prints one JSON line; rewrites the "read_torch" section of benchmarks/RESULTS.md unless --no-write.

    python benchmarks/read_torch.py [--quick] [--rounds N] [--workdir DIR] [--no-write]
"""
from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from _results import git_rev, machine, machine_busy_seconds, round_arguments, update_section  # noqa: E402

RAW_BATCH, JPEG_BATCH, PHOTO_BATCH, SIZE = 256, 64, 32, (224, 224)
LIMIT_TASK = 8  # images per task of the limit's pool (its "batches")
WORKERS = os.cpu_count() or 1
MARK = "@@read_torch "  # prefixes the children's answers on stdout (TensorFlow may print there too)
# name: (child, dataset, what it is)
CONTENDERS = {
    "raw/tfrec-loader": ("torch", "raw", "tfrec.torch.loader, file order (worker_mode 'auto': the workers are "
                                         "threads for these gathered batches)"),
    "raw/tfrec-loader-processes": ("torch", "raw", "tfrec.torch.loader(worker_mode='process'), file order: "
                                                   "DataLoader worker processes, batches handed to the main one"),
    "raw/tfrec-loader-shuffled": ("torch", "raw", "tfrec.torch.loader(shuffle=True, seed=0): global permutation"),
    "raw/tfrec-loader-in-process": ("torch", "raw", "tfrec.torch.loader(num_workers=0), file order: no worker "
                                                    "processes, so no batches handed between processes"),
    "raw/tfrecord-pkg": ("torch", "raw", "(a) tfrecord.torch.TFRecordDataset per shard with its .idx, chained; "
                                         "DataLoader; np.frombuffer -> CHW"),
    "raw/make_dataset": ("tf", "raw", "(d) tfrec.make_dataset(dtype='uint8', shuffle=False)"),
    "raw/make_dataset-shuffled": ("tf", "raw", "(d) tfrec.make_dataset(dtype='uint8', shuffle=True, seed=0)"),
    "jpeg/tfrec-loader": ("torch", "jpeg", "tfrec.torch.loader(image_size=224), file order"),
    "jpeg/tfrec-loader-shuffled": ("torch", "jpeg", "as jpeg/tfrec-loader, shuffle=True, seed=0"),
    "jpeg/tfrecord-pkg": ("torch", "jpeg", "(a) as raw/tfrecord-pkg; tfrec's decode_image + resize"),
    "jpeg/imagefolder-pillow": ("torch", "jpeg", "(b) folder Dataset: PIL open, convert RGB, bilinear resize "
                                                 "to 224; DataLoader"),
    "jpeg/limit-decode-resize": ("torch", "jpeg", "(c) tfrec's decode_image + resize of in-memory bytes into "
                                                  "batch arrays, a process per core, nothing sent back"),
    "jpeg/make_dataset": ("tf", "jpeg", "(d) tfrec.make_dataset(image_size=224, dtype='uint8', shuffle=False)"),
    "photo/tfrec-loader": ("torch", "photo", "tfrec.torch.loader(augment='imagenet', image_size=224), file order"),
    "photo/imagefolder-pillow": ("torch", "photo", "(b) folder Dataset: PIL open, convert RGB, random resized crop "
                                                   "(crop, bilinear resize to 224), flip; DataLoader"),
}
# Issue 26's targets: (numerator, denominator, wanted, how compared); "at least" on images/s after the first
# batch, "at most" on the first batch's time.
TARGETS = {
    "raw: loader / tfrecord package": ("raw/tfrec-loader", "raw/tfrecord-pkg", 5.0, "steady"),
    "raw: loader / make_dataset": ("raw/tfrec-loader", "raw/make_dataset", 1.0, "steady"),
    "raw, shuffled: loader / make_dataset": ("raw/tfrec-loader-shuffled", "raw/make_dataset-shuffled", 1.0, "steady"),
    "jpeg: loader / ImageFolder with Pillow": ("jpeg/tfrec-loader", "jpeg/imagefolder-pillow", 1.0, "steady"),
    "jpeg: loader / decode+resize limit": ("jpeg/tfrec-loader", "jpeg/limit-decode-resize", 0.85, "steady"),
    "photo ~1024x768, imagenet: loader / ImageFolder with Pillow": ("photo/tfrec-loader",
                                                                    "photo/imagefolder-pillow", 1.3, "steady"),
    "raw, in-process (num_workers=0, not the same workers): loader / tfrecord package": (
        "raw/tfrec-loader-in-process", "raw/tfrecord-pkg", 5.0, "steady"),
    "raw, in-process (num_workers=0, not the same workers): loader / make_dataset": (
        "raw/tfrec-loader-in-process", "raw/make_dataset", 1.0, "steady"),
    "raw: first batch, loader / make_dataset": ("raw/tfrec-loader", "raw/make_dataset", 2.0, "first"),
    "jpeg: first batch, loader / make_dataset": ("jpeg/tfrec-loader", "jpeg/make_dataset", 2.0, "first"),
}


# --- data -----------------------------------------------------------------------------------------

def prepare(workdir: str, quick: bool) -> dict:
    """The CIFAR-format and JPEG sources and their conversions (made once per workdir)."""
    from tfrec.demo import synth
    from tfrec.write.convert import ConvertOptions, convert

    n_raw, per_class = (10_000, 30) if quick else (50_000, 120)
    tag = "quick" if quick else "full"
    paths = {k: os.path.join(workdir, f"torch-{k}-{tag}")
             for k in ("cifar_src", "raw", "jpeg_src", "jpeg", "photo_src", "photo")}
    if not os.path.exists(os.path.join(paths["raw"], "dataset.json")):
        synth.write_cifar10(paths["cifar_src"], n_train=n_raw, n_test=100, seed=0)
        convert(paths["cifar_src"], paths["raw"], ConvertOptions(shards=8, progress=False, overwrite=True))
    if not os.path.exists(os.path.join(paths["jpeg"], "dataset.json")):
        # 500x375 is ImageNet's most common size; vary_size gives each image 0.75-1.25x of it.
        synth.write_image_folder(paths["jpeg_src"], n_per_class=per_class, seed=0, num_classes=10,
                                 size=(500, 375), fmt="jpeg", vary_size=True)
        convert(paths["jpeg_src"], paths["jpeg"], ConvertOptions(shards=8, progress=False, overwrite=True))
    if not os.path.exists(os.path.join(paths["photo"], "dataset.json")):
        synth.write_image_folder(paths["photo_src"], n_per_class=12 if quick else 40, seed=1, num_classes=10,
                                 size=(1024, 768), fmt="jpeg", vary_size=True)
        convert(paths["photo_src"], paths["photo"], ConvertOptions(shards=8, progress=False, overwrite=True))
    return paths


def _records(dataset: str) -> int:
    return json.load(open(os.path.join(dataset, "dataset.json")))["splits"]["train"]["records"]


# --- the children ---------------------------------------------------------------------------------

def _cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its reaped children (DataLoader and pool workers)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def time_pass(make, expected: int) -> dict:
    """One pass of a new loader from `make()`: start-up (making it and its first batch), then the rest."""
    from tfrec import timing

    timing.settle()
    cpu, t0 = _cpu_seconds(), time.perf_counter()
    it = iter(make())
    first = next(it)
    t1 = time.perf_counter()
    rest = 0
    for batch in it:
        rest += len(batch[0])
    t2 = time.perf_counter()
    images = len(first[0]) + rest
    del it, first
    cpu = _cpu_seconds() - cpu  # after the workers were joined
    if images != expected:
        raise RuntimeError(f"a pass gave {images} images, the split has {expected}")
    return {"first_batch_s": t1 - t0, "steady_images_per_s": rest / (t2 - t1) if rest else float("nan"),
            "images_per_s": images / (t2 - t0), "cpu_us_per_image": cpu / images * 1e6}


class FolderDataset:
    """ImageFolder's layout (a folder per class, sorted) read with Pillow: (uint8 CHW tensor, label).

    augment 'none' resizes the whole image (Resize); 'imagenet' crops a random window of 8-100% of the area
    and 3/4-4/3 aspect, resizes it and flips half the images (RandomResizedCrop + RandomHorizontalFlip).
    """

    def __init__(self, root: str, size: tuple[int, int], augment: str = "none"):
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.files = [(os.path.join(root, c, f), k) for k, c in enumerate(classes)
                      for f in sorted(os.listdir(os.path.join(root, c)))]
        self.size, self.augment = size, augment

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        import torch
        from PIL import Image

        path, label = self.files[i]
        with open(path, "rb") as f:
            img = Image.open(f).convert("RGB")  # torchvision's pil_loader
        if self.augment == "imagenet":
            from tfrec.access.augment import random_crop_window

            rng = np.random.default_rng(i)
            top, left, h, w = random_crop_window(img.height, img.width, rng)
            img = img.crop((left, top, left + w, top + h)).resize((self.size[1], self.size[0]), Image.BILINEAR)
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()), label


class _Decode:
    """The loader's own decode for image_size (tfrec.access: decode_image, then the 'none' preset's resize)."""

    def __init__(self, size: tuple[int, int] | None):
        from tfrec.access.augment import make_augment

        self.augment = make_augment("none", size) if size else None

    def __call__(self, data: bytes) -> np.ndarray:
        from tfrec.access.decode import decode_image

        img = decode_image(data, channels=3)
        return self.augment(img, None) if self.augment else img


class _TfrecordTransform:
    """The tfrecord package's features -> (uint8 CHW tensor, label), with the same decode as the loader."""

    def __init__(self, raw_shape: tuple[int, int, int] | None, size: tuple[int, int] | None):
        self.raw_shape, self.decode = raw_shape, _Decode(size)

    def __call__(self, features: dict):
        import torch

        data = features["image"]
        if self.raw_shape:
            img = np.frombuffer(data, np.uint8).reshape(self.raw_shape)
        else:
            img = self.decode(bytes(data))
        return torch.from_numpy(img.transpose(2, 0, 1).copy()), int(features["label"][0])


_JPEGS: list[bytes] = []  # the limit's images, set before its pool forks


def _decode_batch(bounds: tuple[int, int]) -> list[int]:
    """Decodes and resizes images lo..hi into one uint8 NCHW batch array; returns only its length (the limit
    is the cores' decode work: nothing is sent back that a loader would have to send)."""
    decode = _Decode(SIZE)
    lo, hi = bounds
    out = np.empty((hi - lo, 3, *SIZE), np.uint8)
    for k in range(lo, hi):
        out[k - lo] = decode(_JPEGS[k]).transpose(2, 0, 1)
    return [len(out)]


def _pool_batches(n: int, batch: int):
    """The limit's batches ((n,), None pairs, so a pass counts them as loaders' batches) from a process per core."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        spans = [(i, min(i + batch, n)) for i in range(0, n, batch)]  # small tasks: the cores stay busy to the end
        yield from ((range(size[0]), None) for size in pool.imap(_decode_batch, spans))


def torch_contenders(paths: dict) -> dict:
    """The contenders that run without TensorFlow: name -> a function making a fresh loader."""
    import torch.utils.data
    from tfrecord.torch.dataset import TFRecordDataset

    import tfrec.torch
    from tfrec.io.dataset import open_dataset

    global _JPEGS
    _JPEGS = [open(f, "rb").read() for f, _ in FolderDataset(paths["jpeg_src"], SIZE).files]

    def tfrecord_pkg(kind: str):
        shards = open_dataset(paths[kind]).shard_paths("train")
        transform = _TfrecordTransform((32, 32, 3) if kind == "raw" else None, None if kind == "raw" else SIZE)
        chained = torch.utils.data.ChainDataset(
            [TFRecordDataset(s, s + ".idx", {"image": "byte", "label": "int"}, transform=transform) for s in shards])
        return torch.utils.data.DataLoader(chained, batch_size=RAW_BATCH if kind == "raw" else JPEG_BATCH,
                                           num_workers=WORKERS)

    def loader(kind: str, shuffle: bool, workers: int = WORKERS, mode: str = "auto"):
        if kind == "photo":
            return tfrec.torch.loader(paths["photo"], batch_size=PHOTO_BATCH, num_workers=WORKERS, shuffle=shuffle,
                                      seed=0, image_size=SIZE, augment="imagenet")
        if kind == "raw":
            return tfrec.torch.loader(paths["raw"], batch_size=RAW_BATCH, num_workers=workers, shuffle=shuffle, seed=0,
                                      worker_mode=mode)
        return tfrec.torch.loader(paths["jpeg"], batch_size=JPEG_BATCH, num_workers=WORKERS, shuffle=shuffle, seed=0,
                                  image_size=SIZE)

    folder = FolderDataset(paths["jpeg_src"], SIZE)
    photos = FolderDataset(paths["photo_src"], SIZE, "imagenet")
    return {
        "raw/tfrec-loader": lambda: loader("raw", False),
        "raw/tfrec-loader-shuffled": lambda: loader("raw", True),
        "raw/tfrec-loader-in-process": lambda: loader("raw", False, 0),
        "raw/tfrec-loader-processes": lambda: loader("raw", False, mode="process"),
        "raw/tfrecord-pkg": lambda: tfrecord_pkg("raw"),
        "jpeg/tfrec-loader": lambda: loader("jpeg", False),
        "jpeg/tfrec-loader-shuffled": lambda: loader("jpeg", True),
        "jpeg/tfrecord-pkg": lambda: tfrecord_pkg("jpeg"),
        "jpeg/imagefolder-pillow": lambda: torch.utils.data.DataLoader(folder, batch_size=JPEG_BATCH,
                                                                      num_workers=WORKERS),
        "jpeg/limit-decode-resize": lambda: _pool_batches(len(_JPEGS), LIMIT_TASK),
        "photo/tfrec-loader": lambda: loader("photo", False),
        "photo/imagefolder-pillow": lambda: torch.utils.data.DataLoader(photos, batch_size=PHOTO_BATCH,
                                                                       num_workers=WORKERS),
    }


def tf_contenders(paths: dict) -> dict:
    from tfrec.read.pipeline import make_dataset

    return {
        "raw/make_dataset": lambda: make_dataset(paths["raw"], batch_size=RAW_BATCH, dtype="uint8", shuffle=False),
        "raw/make_dataset-shuffled": lambda: make_dataset(paths["raw"], batch_size=RAW_BATCH, dtype="uint8",
                                                          shuffle=True, seed=0),
        "jpeg/make_dataset": lambda: make_dataset(paths["jpeg"], batch_size=JPEG_BATCH, image_size=SIZE,
                                                  dtype="uint8", shuffle=False),
    }


def child(kind: str, paths: dict) -> None:
    """Answers one line per request on stdin (a contender's name) with its pass's figures."""
    if kind == "torch":
        sys.modules["tensorflow"] = None  # `import tensorflow` raises: this side runs without it
        makers = torch_contenders(paths)
    else:
        makers = tf_contenders(paths)
    expected = {k: _records(paths[k]) for k in ("raw", "jpeg", "photo")}
    print(MARK + json.dumps(versions(kind)), flush=True)
    for line in iter(sys.stdin.readline, ""):
        name = line.strip()
        result = time_pass(makers[name], expected[CONTENDERS[name][1]])
        print(MARK + json.dumps(result), flush=True)


class Child:
    """A contender process, asked for one pass at a time."""

    def __init__(self, kind: str, paths: dict):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", kind, json.dumps(paths)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.versions = self.ask(None)

    def ask(self, name: str | None) -> dict:
        if name is not None:
            self.proc.stdin.write(name + "\n")
            self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        raise RuntimeError(f"the {name or 'starting'} pass's process ended (exit {self.proc.wait()}); see above")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# --- the run --------------------------------------------------------------------------------------

def run(paths: dict, rounds: int, log) -> tuple[dict, dict]:
    """Every contender's passes (round 0's dropped), and the children's versions."""
    children = {k: Child(k, paths) for k in ("torch", "tf")}
    try:
        names = list(CONTENDERS)
        passes = {k: [] for k in names}
        for r in range(rounds + 1):  # round 0 warms up (page cache, tracing) and is dropped
            for name in (names if r % 2 == 0 else names[::-1]):
                res = children[CONTENDERS[name][0]].ask(name)
                if r:
                    passes[name].append(res)
            log(f"round {r}/{rounds} done")
    finally:
        for c in children.values():
            c.close()
    return passes, {**children["torch"].versions, **children["tf"].versions}


def summarise(passes: dict) -> tuple[dict, dict]:
    def series(name, key):
        return np.array([p[key] for p in passes[name]])

    results = {name: {"child": CONTENDERS[name][0], "what": CONTENDERS[name][2],
                      **{k: float(np.median(series(name, k))) for k in passes[name][0]}} for name in passes}
    targets = {}
    for label, (num, den, wanted, how) in TARGETS.items():
        key = "steady_images_per_s" if how == "steady" else "first_batch_s"
        ratio = float(np.median(series(num, key) / series(den, key)))
        met = ratio >= wanted if how == "steady" else ratio <= wanted
        # the same comparison in CPU cost (the denominator's CPU µs/image over the numerator's): steadier than
        # images/s where other work shares the cores, but not what the targets are set on
        cpu = float(np.median(series(den, "cpu_us_per_image") / series(num, "cpu_us_per_image")))
        targets[label] = {"numerator": num, "denominator": den, "measured": round(ratio, 2), "wanted": wanted,
                          "compare": ">=" if how == "steady" else "<=", "met": met,
                          "cpu_cost_ratio": round(cpu, 2) if how == "steady" else None}
    return results, targets


def markdown(out: dict) -> str:
    q = " --quick" if out["quick"] else ""
    lines = [
        "## Reading from PyTorch: `benchmarks/read_torch.py`" + (" (--quick)" if out["quick"] else ""),
        "",
        f"Raw: {out['records']['raw']:,} CIFAR-format records, batch {RAW_BATCH}, uint8 NCHW. JPEG: "
        f"{out['records']['jpeg']:,} images of about 500x375, batch {JPEG_BATCH}, resized to 224x224, uint8 NCHW. "
        f"Photo: {out['records']['photo']:,} images of about 1024x768, batch {PHOTO_BATCH}, the imagenet preset "
        "(random resized crop to 224x224, flip), uint8 NCHW. "
        f"{out['workers']} workers (= the cores) for every DataLoader and the pool; {out['rounds']} rounds, medians; "
        f"ratios are medians of per-round ratios. JPEG decoder: {out['jpeg_decoder']}; torch {out['torch']}, "
        f"TensorFlow {out['tensorflow']}.",
        "",
        "Steady state: images/s after the first batch; first batch: making the loader (or pipeline) and its "
        "first batch, worker start included; CPU µs/image: the contender's process and its workers, whole pass.",
        "",
        "| contender | steady images/s | first batch ms | whole pass images/s | CPU µs/image | what |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in out["results"].items():
        lines.append(f"| {name} | {r['steady_images_per_s']:,.0f} | {r['first_batch_s'] * 1e3:.0f} | "
                     f"{r['images_per_s']:,.0f} | {r['cpu_us_per_image']:,.0f} | {r['what']} |")
    lines += ["", "| target (issue 26) | measured | wanted | met | CPU cost, theirs / ours |",
              "| --- | ---: | ---: | --- | ---: |"]
    for label, t in out["targets"].items():
        cpu = f"{t['cpu_cost_ratio']}x" if t.get("cpu_cost_ratio") is not None else ""
        lines.append(f"| {label} | {t['measured']}x | {t['compare']} {t['wanted']}x | {'yes' if t['met'] else 'no'} "
                     f"| {cpu} |")
    res = out["results"]
    handed = res["raw/tfrec-loader-processes"]["cpu_us_per_image"] - \
        res["raw/tfrec-loader-in-process"]["cpu_us_per_image"]
    lines += [
        "",
        f"Raw CIFAR in one process (raw/tfrec-loader-in-process) cost "
        f"{res['raw/tfrec-loader-in-process']['cpu_us_per_image']:.1f} CPU µs/image, with {out['workers']} threads "
        f"(raw/tfrec-loader) {res['raw/tfrec-loader']['cpu_us_per_image']:.1f}, with {out['workers']} worker "
        f"processes {res['raw/tfrec-loader-processes']['cpu_us_per_image']:.1f}: about {handed:.0f} µs/image go "
        "to the workers' start and to handing each batch from a worker process to the main one, which is why "
        "worker_mode='auto' takes threads for these batches.",
        "",
        (f"Other work on the machine during the timed rounds: {out['other_cores_busy']} of {os.cpu_count()} cores "
         "busy on average, besides this benchmark's processes." if out.get("other_cores_busy") is not None else ""),
        "",
        f"Machine: {out['machine']}  ",
        f"Command: `python benchmarks/read_torch.py{q}`  ",
        f"Revision: {out['git']}, {out['date']}",
    ]
    return "\n".join(lines)


def versions(kind: str) -> dict:
    """What a child runs with: torch's version and the access layer's JPEG decoder, or TensorFlow's version."""
    if kind == "torch":
        import torch
        from tfrec.access.decode import get_decoder

        return {"torch": torch.__version__, "jpeg_decoder": get_decoder()}
    import tensorflow as tf

    return {"tensorflow": tf.__version__}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], json.loads(sys.argv[3]))
        return
    parser = round_arguments(__doc__, "smaller data (about a minute)", "timed rounds (default 5, 2 with --quick)")
    args = parser.parse_args()
    missing = [m for m in ("torch", "tfrecord", "tensorflow") if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"read_torch: needs {', '.join(missing)} (pip install torch tfrecord tensorflow-cpu; torch's CPU "
                 "build from https://download.pytorch.org/whl/cpu)")
    rounds = args.rounds or (2 if args.quick else 5)
    from _results import logger

    log = logger("read_torch")
    with tempfile.TemporaryDirectory(prefix="tfrec-bench-read-torch-") as tmp:
        paths = prepare(args.workdir or tmp, args.quick)
        log(f"data ready: {paths}")
        busy0, ours0, t0 = machine_busy_seconds(), _cpu_seconds(), time.perf_counter()
        passes, found = run(paths, rounds, log)  # its children are reaped: their CPU time is in _cpu_seconds()
        busy1, ours, wall = machine_busy_seconds(), _cpu_seconds() - ours0, time.perf_counter() - t0
        other = None if busy0 is None or busy1 is None else round(max(0.0, busy1 - busy0 - ours) / wall, 2)
        records = {k: _records(paths[k]) for k in ("raw", "jpeg", "photo")}
    results, targets = summarise(passes)
    out = {"benchmark": "read_torch", "quick": args.quick, "machine": machine(), "git": git_rev(),
           "date": time.strftime("%Y-%m-%d"), "rounds": rounds, "workers": WORKERS, "records": records,
           **found, "results": results, "targets": targets, "other_cores_busy": other}
    for label, t in targets.items():
        log(f"{label}: {t['measured']}x (wanted {t['compare']} {t['wanted']}x): {'met' if t['met'] else 'NOT met'}")
    print(json.dumps(out))
    if not args.no_write:
        update_section("read_torch", markdown(out))


if __name__ == "__main__":
    main()
