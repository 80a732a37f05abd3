#!/usr/bin/env bash
# The prepared GPU run of issue 12, for a session that is lent a GPU machine (run from the repository root).
#
# With TensorFlow (and a GPU it sees): generates the data on the machine and runs `tfrec bench train`
#   1. CIFAR-format at full size (50,000 train records): cifar_cnn and resnet20, the cifar preset;
#   2. 20,000 JPEGs of about 500x375 (ImageNet's typical size), 10 classes: resnet50 at 224x224 with
#      the imagenet preset and mixed precision;
# each as JSON under $OUT (or ./gpu-results), with the sweep's chart for resnet50.
# Without TensorFlow (the lent machines so far have PyTorch but no TensorFlow, and no network to
# install it): benchmarks/gpu_rate.py measures the GPU's synthetic ResNet-50 rate with PyTorch, which,
# with the reader's CPU µs/image from RESULTS.md, gives the cores a host needs to keep that GPU fed.
# Sized to finish in under 10 minutes on one H100/H200-class GPU with 16 cores.
set -euo pipefail
OUT="${OUT:-gpu-results}"
DATA="${DATA:-/tmp/tfrec-gpu-data}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT" "$DATA"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt" || true
nproc | tee "$OUT/cores.txt"

if ! "$PY" -c "import tensorflow as tf, sys; sys.exit(0 if tf.config.list_physical_devices('GPU') else 1)" 2>/dev/null; then
  echo "no TensorFlow with a GPU here: measuring the GPU's synthetic rate with PyTorch only" | tee "$OUT/note.txt"
  "$PY" benchmarks/gpu_rate.py --model resnet50 --batch-size 256 | tee "$OUT/gpu_rate_resnet50.json"
  "$PY" benchmarks/gpu_rate.py --model resnet50 --batch-size 256 --fp32 | tee "$OUT/gpu_rate_resnet50_fp32.json"
  exit 0
fi

export TF_CPP_MIN_LOG_LEVEL=2
"$PY" - "$DATA" <<'PYEOF'
import os, sys
from tfrec.demo import synth
from tfrec.write.convert import ConvertOptions, convert
data = sys.argv[1]
if not os.path.exists(f"{data}/cifar/dataset.json"):
    synth.write_cifar10(f"{data}/cifar-src", 50_000, 10_000, seed=0)
    convert(f"{data}/cifar-src", f"{data}/cifar", ConvertOptions(shards=16, progress=False, overwrite=True))
if not os.path.exists(f"{data}/jpeg/dataset.json"):
    synth.write_image_folder(f"{data}/jpeg-src", n_per_class=2_000, seed=0, num_classes=10, size=(500, 375),
                             fmt="jpeg", vary_size=True)
    convert(f"{data}/jpeg-src", f"{data}/jpeg", ConvertOptions(shards=64, progress=False, overwrite=True))
PYEOF
for model in cifar_cnn resnet20; do
  tfrec bench train "$DATA/cifar" --model "$model" --augment cifar --batch-size 256 --steps-per-epoch 50 --rounds 3 \
    --json > "$OUT/train_cifar_$model.json"
done
tfrec bench train "$DATA/jpeg" --model resnet50 --image-size 224 --augment imagenet --batch-size 256 \
  --mixed-precision --steps-per-epoch 40 --rounds 2 --json > "$OUT/train_jpeg_resnet50.json"
tfrec bench train "$DATA/jpeg" --model resnet50 --image-size 224 --augment imagenet --batch-size 256 \
  --mixed-precision --quick --sweep --chart "$OUT/sweep_resnet50.png" --json > "$OUT/sweep_jpeg_resnet50.json"
"$PY" benchmarks/gpu_rate.py --model resnet50 --batch-size 256 > "$OUT/gpu_rate_resnet50.json" 2>/dev/null || true
ls -l "$OUT"
