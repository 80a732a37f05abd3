"""Example encoding on MNIST-shaped records: bulk NumPy vs one Example at a time (ours and TensorFlow's).

Prints one JSON line and rewrites the "encode" section of benchmarks/RESULTS.md.
    python benchmarks/encode.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import git_rev, machine, update_section  # noqa: E402

from tfrec.timing import median_time  # noqa: E402
from tfrec.codec.example import encode_example, encode_examples_bulk  # noqa: E402
from tfrec.io.records import FOOTER_BYTES, HEADER_BYTES, frame_record, frame_rows_inplace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 records, 3 runs")
    args = parser.parse_args()
    n, runs = (10_000, 3) if args.quick else (70_000, 5)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, n)

    def bulk():
        for _, mat in encode_examples_bulk({"image": ("bytes", images), "label": ("int64", labels)}, (HEADER_BYTES, FOOTER_BYTES)):
            frame_rows_inplace(mat)

    def ours_per_record():
        for img, lab in zip(images, labels.tolist()):
            frame_record(encode_example({"image": img.tobytes(), "label": lab}))

    import tensorflow as tf

    def tf_per_record():
        for img, lab in zip(images, labels.tolist()):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[lab])),
            }))
            frame_record(ex.SerializeToString())

    figures = {name: median_time(fn, runs) for name, fn in
               (("bulk", bulk), ("per_record", ours_per_record), ("tf_example_per_record", tf_per_record))}
    result = {
        "benchmark": "encode", "records": n, "runs": runs,
        **{f"{k}_s": round(v, 4) for k, v in figures.items()},
        **{f"{k}_records_per_s": round(n / v) for k, v in figures.items()},
        "bulk_speedup_vs_per_record": round(figures["per_record"] / figures["bulk"], 1),
        "bulk_speedup_vs_tf_example": round(figures["tf_example_per_record"] / figures["bulk"], 1),
    }
    print(json.dumps(result))
    rows = "\n".join(f"| {k} | {v:.4f} | {n / v:,.0f} | {figures['tf_example_per_record'] / v:.1f}x |" for k, v in figures.items())
    update_section("encode", f"""## Example encoding + framing, {n:,} MNIST-shaped records (784-byte image, int64 label)

`python benchmarks/encode.py{' --quick' if args.quick else ''}` at {git_rev()}; {machine()}; median of {runs} runs after a warm-up.

| encoder | seconds | records/s | vs tf.train.Example loop |
| --- | --- | --- | --- |
{rows}

The bulk encoder builds every record of a fixed-shape source as rows of one NumPy matrix (framing
included) and is what `tfrec convert` uses for MNIST and CIFAR.""")


if __name__ == "__main__":
    main()
