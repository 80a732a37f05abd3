"""The embedded demo: generate small sample datasets in the three source formats and convert each; or (kind
'detection') a generated COCO-format detection set, converted with its boxes and label map."""
from __future__ import annotations

import os
import time
from typing import Any

from . import synth, synth_detection
from ..write.convert import ConvertOptions, convert
from ..check.inspect import InspectOptions, inspect
from ..check.verify import VerifyOptions, verify

# Sizes chosen so the whole demo runs in seconds on 2 cores yet has enough data to learn from.
DEMO_MNIST = (6000, 1000)
DEMO_CIFAR = (5000, 1000)
DEMO_IMAGES_PER_CLASS = 60
DEMO_TRAIN = dict(model="lenet5", epochs=3, batch_size=64, lr=0.002, seed=0)  # ~5 s of training on 2 cores


def make_demo_sources(directory: str, seed: int = 0) -> dict[str, str]:
    """Writes the demo sources under DIRECTORY/sources; returns format -> source path."""
    src = os.path.join(directory, "sources")
    paths = {
        "mnist": os.path.join(src, "mnist"),
        "cifar10": os.path.join(src, "cifar10"),
        "imagefolder": os.path.join(src, "shapes"),
    }
    synth.write_mnist(paths["mnist"], *DEMO_MNIST, seed=seed, gzip=True)
    synth.write_cifar10(paths["cifar10"], *DEMO_CIFAR, seed=seed)
    synth.write_image_folder(paths["imagefolder"], n_per_class=DEMO_IMAGES_PER_CLASS, seed=seed, num_classes=5,
                             size=(64, 64), fmt="jpeg", vary_size=True)
    return paths


def train_digits(dataset: str, progress: bool = True) -> dict[str, Any]:
    """A short training run (DEMO_TRAIN) on the demo digits: the trainer's result as JSON."""
    from ..training.loop import train  # TensorFlow: only when the demo trains

    return train(dataset, progress=progress, **DEMO_TRAIN).to_json()


def run_demo(directory: str = "tfrec-demo", progress: bool = True, train: bool = True) -> dict[str, Any]:
    """Generates the demo sources, converts each into DIRECTORY/datasets/<format>, verifies every
    dataset (down to decoding each image), writes a contact sheet of each, and (with `train`) trains
    LeNet-5 on the digits for a few epochs.

    Returns:
        {"directory", "datasets": {format: conversion result}, "verify": {format: report},
        "contact_sheets": {format: path}, "train": the training result or None, "summary": human-readable text}.
    """
    start = time.perf_counter()
    sources = make_demo_sources(directory)
    datasets = {}
    for fmt, src in sources.items():
        out = os.path.join(directory, "datasets", fmt)
        split = (("train", 0.8), ("val", 0.2)) if fmt == "imagefolder" else None
        # Several shards even for small data, so the reader has files to interleave.
        options = ConvertOptions(overwrite=True, split=split, shards=4, progress=progress)
        datasets[fmt] = convert(src, out, options)
    checks, sheets = {}, {}
    for fmt, result in datasets.items():
        report = verify([result["out"]], VerifyOptions(level="decode", progress=False))
        checks[fmt] = report.to_json()
        sheets[fmt] = os.path.join(directory, f"contact-sheet-{fmt}.png")
        inspect([result["out"]], InspectOptions(grid=sheets[fmt], grid_images=48, progress=False))
    lines = [f"tfrec demo: sample data in {directory}/sources, TFRecords in {directory}/datasets"]
    for fmt, result in datasets.items():
        splits = ", ".join(f"{k} {v['records']:,} records in {len(v['shards'])} shard(s)" for k, v in result["splits"].items())
        verdict = "verified clean" if checks[fmt]["ok"] else f"{checks[fmt]['problems_found']} problem(s)!"
        lines.append(f"  {fmt:<12} {result['out']}: {splits}; {verdict}; contact sheet {sheets[fmt]}")
    trained = train_digits(datasets["mnist"]["out"], progress) if train else None
    if trained:
        o = trained["overall"]
        lines.append(f"  trained {trained['model']} on the digits for {len(trained['epochs'])} epochs: test accuracy "
                     f"{100 * trained['val_accuracy']:.2f}%, {o['images_per_s']:,.0f} images/s, input stall "
                     f"{o['input_stall_pct']:.1f}% (waiting for batches / training time)")
    lines.append(f"done in {time.perf_counter() - start:.1f} s. Next: tfrec inspect {directory}/datasets/cifar10, "
                 f"tfrec train {directory}/datasets/cifar10 --augment cifar, tfrec convert YOUR_DATA OUT")
    return {"directory": directory, "datasets": datasets, "verify": checks, "contact_sheets": sheets,
            "train": trained, "summary": "\n".join(lines)}


DEMO_DETECTION = (160, 40)  # train, val images: converted in a second or two


def run_detection_demo(directory: str = "tfrec-demo", progress: bool = True) -> dict[str, Any]:
    """Generates coloured shapes with known boxes in the COCO layout (DIRECTORY/sources/shapes-coco), converts
    them with the Object Detection API's keys (DIRECTORY/datasets/detection, label_map.pbtxt beside it), and
    verifies the result down to decoding each image.

    Returns:
        {"directory", "datasets": {"detection": conversion result}, "verify": {"detection": report},
        "contact_sheets": {}, "train": None, "summary": human-readable text}.
    """
    start = time.perf_counter()
    src = synth_detection.write_detection_coco(os.path.join(directory, "sources", "shapes-coco"), *DEMO_DETECTION)
    out = os.path.join(directory, "datasets", "detection")
    result = convert(src, out, ConvertOptions(overwrite=True, shards=2, progress=progress))
    report = verify([out], VerifyOptions(level="decode", progress=False)).to_json()
    a = result["annotations"]
    splits = ", ".join(f"{k} {v['records']:,} records" for k, v in result["splits"].items())
    verdict = "verified clean" if report["ok"] else f"{report['problems_found']} problem(s)!"
    lines = [f"tfrec demo --kind detection: COCO-format shapes in {src}",
             f"  detection    {out}: {splits}; classes {', '.join(result['label_names'])} in label_map.pbtxt; "
             f"{a['boxes_clipped']} boxes clipped, {a['boxes_dropped']} dropped; {verdict}",
             f"done in {time.perf_counter() - start:.1f} s. Next: tfrec inspect {out}, "
             f"tfrec convert {src} OUT --schema instance_segmentation (a PNG mask per shape)"]
    return {"directory": directory, "datasets": {"detection": result}, "verify": {"detection": report},
            "contact_sheets": {}, "train": None, "summary": "\n".join(lines)}
