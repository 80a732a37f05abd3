"""Trainer benchmark: accuracy and time on the demo digits, the loop's speed against Keras' model.fit,
and the input stall training cifar_cnn from CIFAR-format TFRecords.

* (a) `tfrec train` on the demo digits (tfrec.demo.synth.write_mnist at the demo's sizes, 6,000
  train / 1,000 test, converted as the demo does), LeNet-5, run as a subprocess: the whole command
  (TensorFlow's import included) is timed with time.perf_counter. Target: >= 97% test accuracy in
  under two minutes.
* (b) The trainer's loop (tfrec.train with the digits already decoded in memory, through its
  `datasets=` hook) against Keras' model.fit on the same LeNet-5, batch size, optimizer and the same
  in-memory tf.data dataset (no XLA for either: Keras does not jit on CPU-only machines). Each
  round runs both for two epochs (of the train split 3 times); the figure is the second epoch's images/s (tracing apart), the
  trainer's from its input monitor, fit's from a callback's epoch timer. Contenders alternate
  (tfrec.timing.alternate); the ratio is the median of the rounds' ratios. Target: >= 0.95.
* (c) cifar_cnn trained from CIFAR-10-format TFRecords (synth.write_cifar10, 10,000 train) with the
  `cifar` preset, batch 128: the input monitor's stall, overall (start-up included) and steady
  (each epoch's first wait apart). Target: <= 5%.

Prints one JSON line; rewrites the "train" section of benchmarks/RESULTS.md unless --no-write.

    python benchmarks/train.py [--quick] [--rounds N] [--workdir DIR] [--no-write]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from _results import git_rev, machine, round_arguments, update_section  # noqa: E402
from tfrec.demo import synth  # noqa: E402
from tfrec.demo.demo import DEMO_MNIST  # noqa: E402
from tfrec.read.pipeline import make_dataset  # noqa: E402
from tfrec.timing import alternate, pair_ratio, settle  # noqa: E402
from tfrec.training.loop import train  # noqa: E402
from tfrec.training.models import build_model  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

DIGITS_ARGS = ["--model", "lenet5", "--epochs", "6", "--batch-size", "64", "--lr", "0.002", "--seed", "0"]
BATCH = 64
CIFAR_BATCH = 128
FIT_REPEAT = 3


def prepare(workdir: str, quick: bool) -> dict:
    """The demo digits and a CIFAR-10-format dataset, converted (4 shards per split, as the demo)."""
    paths = {"digits": os.path.join(workdir, "digits"), "cifar": os.path.join(workdir, "cifar-quick" if quick else "cifar")}
    if not os.path.exists(os.path.join(paths["digits"], "dataset.json")):
        synth.write_mnist(paths["digits"] + "-src", *DEMO_MNIST, seed=0, gzip=True)
        convert(paths["digits"] + "-src", paths["digits"], ConvertOptions(shards=4, progress=False, overwrite=True))
    if not os.path.exists(os.path.join(paths["cifar"], "dataset.json")):
        synth.write_cifar10(paths["cifar"] + "-src", 4_000 if quick else 10_000, 500, seed=0)
        convert(paths["cifar"] + "-src", paths["cifar"], ConvertOptions(shards=4, progress=False, overwrite=True))
    return paths


def digits_accuracy(path: str) -> dict:
    """(a): the whole `tfrec train` command on the demo digits."""
    settle()
    cmd = [sys.executable, "-m", "tfrec.cli.main", "train", path, *DIGITS_ARGS, "--json", "--quiet"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    r = json.loads(out.stdout)
    return {"command": "tfrec train DIGITS " + " ".join(DIGITS_ARGS), "wall_s": round(wall, 2),
            "test_accuracy": r["val_accuracy"], "epochs": len(r["epochs"]), "images_per_s": r["overall"]["images_per_s"],
            "input_stall_pct": r["overall"]["input_stall_pct"], "steady_stall_pct": r["overall"]["steady_stall_pct"],
            "accuracy_per_epoch": [e["val_accuracy"] for e in r["epochs"]]}


def loop_vs_fit(path: str, rounds: int) -> dict:
    """(b): the trainer's loop and model.fit on the same decoded in-memory batches."""
    x, y = next(iter(make_dataset(path, "train", 10**6, shuffle=False)))
    n = (len(y) // BATCH) * BATCH

    def in_memory(_epoch=None):  # the train split 3 times an epoch: ~280 steps, long enough to time on a busy machine
        ds = tf.data.Dataset.from_tensor_slices((x[:n], y[:n])).repeat(FIT_REPEAT)
        return ds.batch(BATCH, drop_remainder=True).prefetch(2)

    def trainer():
        r = train(path, model="lenet5", epochs=2, batch_size=BATCH, lr=0.002, val_split="", progress=False,
                  datasets=in_memory)
        return r.epochs[-1]["images_per_s"]

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    def fit():
        model = build_model("lenet5", (28, 28, 1), 10)
        model.compile(keras.optimizers.Adam(0.002), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        timer = EpochTimer()
        model.fit(in_memory(), epochs=2, verbose=0, callbacks=[timer])
        return FIT_REPEAT * n / timer.seconds

    runs = alternate({"trainer": trainer, "fit": fit}, rounds, warmup=1, idle=True)
    tr, ft = runs["trainer"]["results"], runs["fit"]["results"]
    return {"images": FIT_REPEAT * n, "batch_size": BATCH, "trainer_images_per_s": [round(v) for v in tr],
            "fit_images_per_s": [round(v) for v in ft], "ratio": round(pair_ratio(tr, ft), 3),
            "trainer_median": round(float(np.median(tr))), "fit_median": round(float(np.median(ft)))}


def cifar_stall(path: str, quick: bool) -> dict:
    """(c): cifar_cnn from CIFAR-format TFRecords with the cifar preset."""
    settle()
    r = train(path, model="cifar_cnn", epochs=2, batch_size=CIFAR_BATCH, augment="cifar", optimizer="sgd",
              lr=0.02, val_split="", seed=0, steps_per_epoch=15 if quick else 40, progress=False).to_json()
    o = r["overall"]
    return {"steps": o["steps"], "images_per_s": o["images_per_s"], "input_stall_pct": o["input_stall_pct"],
            "steady_stall_pct": o["steady_stall_pct"], "first_wait_s": o["first_wait_s"],
            "per_epoch_stall_pct": [e["input_stall_pct"] for e in r["epochs"]],
            "wait_ms_p50": o["wait_ms_p50"], "wait_ms_p95": o["wait_ms_p95"], "step_ms_p50": o["step_ms_p50"]}


def markdown(out: dict) -> str:
    a, b, c = out["digits"], out["loop_vs_fit"], out["cifar_stall"]
    ok = lambda flag: "met" if flag else "**missed**"  # noqa: E731
    return "\n".join([
        "## Training: `benchmarks/train.py`" + (" (--quick)" if out["quick"] else ""),
        "",
        f"Machine: {out['machine']}; git {out['git']}; `python benchmarks/train.py"
        + (" --quick" if out["quick"] else "") + "`.",
        "",
        "| what | measured | target | |",
        "| --- | ---: | ---: | --- |",
        f"| (a) `{a['command']}`: test accuracy, whole command | {100 * a['test_accuracy']:.2f}% in {a['wall_s']:.1f} s "
        f"| >= 97% in < 120 s | {ok(a['test_accuracy'] >= 0.97 and a['wall_s'] < 120)} |",
        f"| (b) trainer loop vs Keras `model.fit`, LeNet-5, batch {b['batch_size']}, decoded in memory (images/s, "
        f"median of {len(b['fit_images_per_s'])} rounds) | {b['ratio']:.3f}x ({b['trainer_median']:,} vs "
        f"{b['fit_median']:,}) | >= 0.95x | {ok(b['ratio'] >= 0.95)} |",
        f"| (c) input stall, cifar_cnn from CIFAR TFRecords, `cifar` preset, batch {CIFAR_BATCH}, {c['steps']} steps "
        f"| {c['input_stall_pct']:.2f}% (steady {c['steady_stall_pct']:.2f}%) | <= 5% | {ok(c['input_stall_pct'] <= 5)} |",
        "",
        f"(a) test accuracy per epoch: {', '.join(f'{100 * v:.1f}%' for v in a['accuracy_per_epoch'])}; "
        f"{a['images_per_s']:,.0f} images/s, input stall {a['input_stall_pct']:.1f}% "
        f"(steady {a['steady_stall_pct']:.1f}%).",
        "(b) per round, trainer / fit images/s: "
        + ", ".join(f"{t:,}/{f:,}" for t, f in zip(b["trainer_images_per_s"], b["fit_images_per_s"])) + ".",
        f"(c) {c['images_per_s']:,.0f} images/s; wait p50/p95 {c['wait_ms_p50']}/{c['wait_ms_p95']} ms, step p50 "
        f"{c['step_ms_p50']} ms; first batch waited {c['first_wait_s']:.2f} s (start-up); stall per epoch "
        f"{', '.join(f'{v:.2f}%' for v in c['per_epoch_stall_pct'])}.",
    ])


def main() -> None:
    parser = round_arguments(__doc__, "fewer rounds and steps (a few minutes)",
                             "timed rounds for (b) (default 5, 3 with --quick)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = prepare(args.workdir or tmp, args.quick)
        out = {"benchmark": "train", "quick": args.quick, "machine": machine(), "git": git_rev(),
               "digits": digits_accuracy(paths["digits"]),
               "loop_vs_fit": loop_vs_fit(paths["digits"], args.rounds or (3 if args.quick else 5)),
               "cifar_stall": cifar_stall(paths["cifar"], args.quick)}
    print(json.dumps(out))
    if not args.no_write:
        update_section("train", markdown(out))


if __name__ == "__main__":
    main()
