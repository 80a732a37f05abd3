#!/usr/bin/env bash
# Issue 27's GPU run, for a session that is lent a GPU machine (PyTorch, JAX, NVML, no TensorFlow; run from the
# repository root). Everything goes through `tfrec bench train --framework torch`: no TensorFlow is imported.
#
#   1. checks what tfrec[torch] needs and installs only the missing ones from the carried wheels (.whl/, built
#      here by benchmarks/gpu_prepare.sh: tfrec, google-crc32c, simplejpeg, tfrecord, crc32c, < 1 MiB in all);
#      prints what is missing before and after;
#   2. builds its data in place with tfrec's demo writers and `tfrec convert`: 50,000 + 10,000 CIFAR-format
#      records (16 shards) and 20,000 JPEGs of about 500x375 in 10 classes (64 shards);
#   3. one JSON + one modes chart per run:
#        cifar_cnn   CIFAR, full size (32x32), the cifar preset, batch 256
#        resnet20    the same
#        r50_cpu     the JPEGs at 224 with the imagenet preset, resnet50, mixed precision, decoded on the CPU
#        r50_gpu     the same, decoded on the GPU (tfrec.torch.loader(decode_device="cuda")); where torchvision
#                    cannot decode JPEGs on CUDA here, or the loader has no decode_device, its JSON says
#                    "available": false and why;
#   4. summary.json: the machine, what was missing, each run's command, budget, seconds, exit status, and its
#      headline figures (images/s and stall per mode, GPU utilisation, tfrec/synthetic, synthetic/plain, cores).
#
# Budgets, enforced with `timeout` (a run past its budget is stopped and recorded as timed out; the next goes
# on): setup 30 s, data 90 s, cifar_cnn 55 s, resnet20 65 s, r50_cpu 120 s, r50_gpu 105 s = 465 s, so the whole
# script ends within 8 minutes on one H100 + 16 cores, leaving a 15-minute lease room for one rerun. Estimated
# (no GPU run yet): data ~30 s (20,000 JPEGs drawn by 10 threads, converted by 16 processes); a resnet50 run
# ~75 s, of which ~40 s are the in-process stage timings (2 batches of 256 per stage and round, 3 rounds).
#
# Results go to $RESULTS (default ./gpu-results, or $OUT/gpu-results.tar.gz plus $OUT/summary.json where the
# device tool's $OUT is set: it returns at most 8 files). GPU_RUN_SMALL=1: tiny data and steps, for a dry run on
# a CPU (CIFAR 1,000 records, 200 JPEGs, resnet50 at 32x32; the runs' budgets tripled).
#
#     bash benchmarks/gpu_prepare.sh                      # here: the wheels into .whl/
#     run(command="bash benchmarks/gpu_run.sh", carry=[".whl"], timeout_s=540)
set -uo pipefail  # not -e: a run that fails or times out is recorded, and the next one runs
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-.whl}"
DATA="${DATA:-/tmp/tfrec-gpu-data}"
SMALL="${GPU_RUN_SMALL:-0}"
if [ -n "${OUT:-}" ]; then RESULTS="${RESULTS:-/tmp/gpu-results}"; else RESULTS="${RESULTS:-gpu-results}"; fi
SITE=/tmp/tfrec-site
B_SETUP=30 B_DATA=90 B_CIFAR_CNN=55 B_RESNET20=65 B_R50_CPU=120 B_R50_GPU=105
START=$SECONDS
rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$DATA"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
log() { echo "[gpu_run +$((SECONDS - START))s] $*" | tee -a "$RESULTS/log.txt" >&2; }
tfrec() { "$PY" -m tfrec.cli "$@"; }

# ---------------------------------------------------------------- 1. what is missing (budget B_SETUP)
missing() {  # the modules tfrec[torch] and this run need that do not import; one per line, "?" for optional
  "$PY" - <<'EOF'
import importlib
need = ["tfrec.cli.main", "click", "numpy", "PIL", "tqdm", "pyarrow", "fsspec", "google_crc32c", "torch",
        "simplejpeg", "tfrecord", "crc32c"]
optional = ["torchvision", "pynvml"]
for name in need + optional:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - absent, or present and broken: either way it is missing
        print(name.split(".")[0] + ("?" if name in optional else ""))
EOF
}
wheel_of() { case "$1" in google_crc32c) echo google_crc32c ;; *) echo "$1" ;; esac; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$RESULTS/gpu.txt" 2>/dev/null \
  || echo "no GPU (nvidia-smi failed)" > "$RESULTS/gpu.txt"
nproc > "$RESULTS/cores.txt"
before=$(missing | tr '\n' ' ')
echo "$before" > "$RESULTS/missing_before.txt"
log "missing before install: ${before:-nothing}"
to_install=()
for m in $before; do
  case "$m" in *\?) continue ;; esac
  w=$(ls "$WHEELS"/"$(wheel_of "$m")"-*.whl 2>/dev/null | head -1)
  if [ -n "$w" ]; then to_install+=("$w"); else log "no carried wheel for $m"; fi
done
if [ "${#to_install[@]}" -gt 0 ]; then
  log "installing ${to_install[*]##*/} into $SITE"
  timeout "$B_SETUP" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${to_install[@]}" || log "pip install failed"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
after=$(missing | tr '\n' ' ')
echo "$after" > "$RESULTS/missing_after.txt"
log "missing after install: ${after:-nothing}"
for m in $after; do
  case "$m" in *\?) ;; *) log "cannot run without $m: build the wheels with benchmarks/gpu_prepare.sh, carry .whl"
                          exit 2 ;; esac
done
"$PY" -c "
try:
    import tensorflow
    print('tensorflow importable: yes, not used')
except ImportError:
    print('tensorflow importable: no')" >> "$RESULTS/log.txt" 2>&1

# ---------------------------------------------------------------- 2. data, in place (budget B_DATA)
if [ "$SMALL" = 1 ]; then
  CIFAR=(1000 200 4) JPEG=(20 4) DATA="$DATA-small"
else
  CIFAR=(50000 10000 16) JPEG=(2000 64)
fi
make_data() {
  set -e
  if [ ! -f "$DATA/cifar/dataset.json" ]; then
    "$PY" -c "from tfrec.demo import synth; synth.write_cifar10('$DATA/cifar-src', ${CIFAR[0]}, ${CIFAR[1]}, seed=0)"
    tfrec convert "$DATA/cifar-src" "$DATA/cifar" --shards "${CIFAR[2]}" --overwrite --quiet
  fi
  if [ ! -f "$DATA/jpeg/dataset.json" ]; then
    "$PY" -c "from tfrec.demo import synth; synth.write_image_folder('$DATA/jpeg-src', n_per_class=${JPEG[0]}, seed=0,
num_classes=10, size=(500, 375), fmt='jpeg', vary_size=True)"
    tfrec convert "$DATA/jpeg-src" "$DATA/jpeg" --shards "${JPEG[1]}" --overwrite --quiet
  fi
}
export -f make_data tfrec
export PY DATA
t=$SECONDS
CIFAR="${CIFAR[*]}" JPEG="${JPEG[*]}" timeout "$B_DATA" bash -c 'CIFAR=($CIFAR); JPEG=($JPEG); make_data' \
  >> "$RESULTS/log.txt" 2>&1
rc=$?
log "data: exit $rc in $((SECONDS - t)) s ($DATA)"
[ "$rc" = 0 ] || { log "no data: stopping"; exit 1; }

# ---------------------------------------------------------------- 3. the runs
runs=()
bench() {  # NAME BUDGET ARGS...: one `tfrec bench train` run, its JSON, chart, stderr, exit status and seconds
  local name=$1 budget=$2
  shift 2
  local t=$SECONDS
  timeout --kill-after=10 "$budget" "$PY" -m tfrec.cli bench train "$@" --framework torch --json \
    --chart "$RESULTS/$name.png" > "$RESULTS/$name.json" 2> "$RESULTS/$name.err"
  local rc=$?
  # a run stopped at its budget could not remove its /dev/shm copy of the shards (this machine is ours alone)
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then rm -rf /dev/shm/tfrec-bench-*; fi
  echo "{\"name\": \"$name\", \"budget_s\": $budget, \"seconds\": $((SECONDS - t)), \"exit\": $rc, \"args\": \"$*\"}" \
    > "$RESULTS/$name.run.json"
  log "$name: exit $rc in $((SECONDS - t)) s (budget $budget s)$([ "$rc" = 124 ] && echo ': TIMED OUT')"
  runs+=("$name")
}
if [ "$SMALL" = 1 ]; then
  CIFAR_ARGS=(--batch-size 16 --quick --steps-per-epoch 2 --stage-batches 1)
  # without --mixed-precision: this CPU has no bfloat16 units, and autocast made resnet50's step 10x slower
  R50_ARGS=(--image-size 32 --batch-size 8 --quick --steps-per-epoch 2 --stage-batches 1)
  MIXED=()
  # a busy 2-core CPU steps these models some 100x slower than an H100: the dry run's budgets are tripled
  B_CIFAR_CNN=$((3 * B_CIFAR_CNN)) B_RESNET20=$((3 * B_RESNET20)) B_R50_CPU=$((3 * B_R50_CPU))
else
  CIFAR_ARGS=(--batch-size 256 --steps-per-epoch 40 --rounds 2 --stage-batches 10)
  R50_ARGS=(--image-size 224 --batch-size 256 --steps-per-epoch 20 --rounds 1 --stage-batches 1)
  MIXED=(--mixed-precision)
fi
bench cifar_cnn "$B_CIFAR_CNN" "$DATA/cifar" --model cifar_cnn --augment cifar "${CIFAR_ARGS[@]}"
bench resnet20 "$B_RESNET20" "$DATA/cifar" --model resnet20 --augment cifar "${CIFAR_ARGS[@]}"
bench r50_cpu "$B_R50_CPU" "$DATA/jpeg" --model resnet50 --augment imagenet "${MIXED[@]}" "${R50_ARGS[@]}"

gpu_decode=$("$PY" - <<'EOF'
import inspect, io
try:
    import numpy as np, torch, torchvision
    from PIL import Image
    from tfrec.torch import loader
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    if "decode_device" not in inspect.signature(loader).parameters:
        raise RuntimeError("tfrec.torch.loader has no decode_device in this tree")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    torchvision.io.decode_jpeg(data, device="cuda")
    print("yes")
except Exception as e:  # noqa: BLE001 - whatever stops it is the reason given
    print(f"no: {type(e).__name__}: {e}".replace('"', "'"))
EOF
)
if [ "$gpu_decode" = yes ]; then
  bench r50_gpu "$B_R50_GPU" "$DATA/jpeg" --model resnet50 --augment imagenet "${MIXED[@]}" --decode-device cuda \
    "${R50_ARGS[@]}"
else
  echo "{\"decode_device\": \"cuda\", \"available\": false, \"why\": \"${gpu_decode#no: }\"}" > "$RESULTS/r50_gpu.json"
  log "r50_gpu: GPU decode not available (${gpu_decode#no: })"
fi

# ---------------------------------------------------------------- 4. the summary
"$PY" - "$RESULTS" <<'EOF'
import glob, json, os, sys
root = sys.argv[1]
read = lambda name: open(os.path.join(root, name)).read().strip() if os.path.exists(os.path.join(root, name)) else None
summary = {"gpu": read("gpu.txt"), "cores": read("cores.txt"), "missing_before": read("missing_before.txt"),
           "missing_after": read("missing_after.txt"), "runs": {}}
for meta in sorted(glob.glob(os.path.join(root, "*.run.json"))):
    run = json.load(open(meta))
    name = run["name"]
    try:
        r = json.load(open(os.path.join(root, f"{name}.json")))
    except (OSError, ValueError):
        run["stderr_tail"] = (read(f"{name}.err") or "")[-1500:]
        summary["runs"][name] = run
        continue
    run.update({"model": r["model"], "image_size": r["image_size"], "batch_size": r["batch_size"],
                "gpu": r["gpu"], "num_workers": r["num_workers"], "decode_device": r.get("decode_device"),
                "modes": {m: {"images_per_s": v["images_per_s"], "input_stall_pct": v["input_stall_pct"],
                              "gpu_util_mean_pct": v["gpu"] and v["gpu"].get("util_mean_pct")}
                          for m, v in r["modes"].items()},
                "plain_images_per_s": r["plain"]["images_per_s"], "ratios": r["ratios"],
                "cores_needed": r["capacity"].get("cores"), "limits": r["limits"], "warnings": r["warnings"]})
    summary["runs"][name] = run
gpu = json.load(open(os.path.join(root, "r50_gpu.json"))) if os.path.exists(os.path.join(root, "r50_gpu.json")) else {}
if gpu.get("available") is False:
    summary["runs"]["r50_gpu"] = gpu
json.dump(summary, open(os.path.join(root, "summary.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
EOF
log "done in $((SECONDS - START)) s"
if [ -n "${OUT:-}" ] && [ "$(cd "$RESULTS" && pwd)" != "$(cd "$OUT" && pwd)" ]; then
  tar -czf "$OUT/gpu-results.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
  cp "$RESULTS/summary.json" "$OUT/summary.json"
fi
ls -l "$RESULTS"
