#!/usr/bin/env bash
# Builds, here, the wheels benchmarks/gpu_run.sh carries to a lent GPU machine (run from the repository root).
#
# The lent machines (KINDS.md: Python 3.12, x86-64, no network) have PyTorch, torchvision, JAX, NumPy, Pillow,
# click, tqdm, pyarrow, fsspec, protobuf, OpenCV and nvidia-ml-py, and no TensorFlow. tfrec[torch] needs beside
# them: tfrec itself, google-crc32c (install_requires) and simplejpeg (the torch extra's JPEG decoder); the
# tutorial mode needs the `tfrecord` package and its import-time need crc32c. This writes those five wheels
# into .whl/ (ignored by git: .gitignore), prints each with its size and the total, and fails
# if the total passes the 64 MiB a device call may carry. Then:
#
#     run(command="bash benchmarks/gpu_run.sh", carry=[".whl"], timeout_s=540)
#
#     bash benchmarks/gpu_prepare.sh [WHEEL_DIR]
set -euo pipefail
DIR="${1:-.whl}"
PY="${PYTHON:-python3}"
PYVER="${GPU_PYTHON_VERSION:-3.12}"  # the lent machines' python3 (KINDS.md)
LIMIT=$((64 * 1024 * 1024))
mkdir -p "$DIR"
rm -f "$DIR"/*.whl
version() { "$PY" -m pip show "$1" 2>/dev/null | awk '/^Version:/{print $2}'; }

# tfrec from this tree, built from a copy so that no build/ or egg-info lands in the working tree. Without its
# optional C module (tfrec.io._framing, which would tie the wheel to this CPython): a py3-none-any wheel, whose
# scans use the NumPy/Python walk (the same problems found; the bench reads through the .idx files).
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$SRC" 2>/dev/null || true
echo 'from setuptools import setup; setup()' > "$SRC/setup.py"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DIR" "$SRC"

# pure Python: the same wheel everywhere (built from the registry's sdist where it has no wheel)
"$PY" -m pip wheel -q --no-deps -w "$DIR" "tfrecord==$(version tfrecord || echo 1.14.6)"
# compiled: for the machine's CPython and manylinux x86-64
for pkg in google-crc32c simplejpeg crc32c; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    -d "$DIR" "$pkg==$(version "$pkg")"
done

total=0
for whl in "$DIR"/*.whl; do
  size=$(stat -c %s "$whl")
  total=$((total + size))
  printf '%10d  %s\n' "$size" "$(basename "$whl")"
done
printf '%10d  total (%.2f MiB of the 64 MiB a call carries)\n' "$total" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt "$LIMIT" ]; then
  echo "gpu_prepare: the wheels pass 64 MiB" >&2
  exit 1
fi
