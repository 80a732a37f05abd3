"""A GPU's synthetic training rate with PyTorch: ResNet-50, one batch already on the device, images/s.

How fast the accelerator alone steps torchvision's ResNet-50 at 224x224, mixed precision (autocast
float16, channels_last): a cross-check, outside tfrec, of the synthetic and plain-loop rates that
`tfrec bench train --framework torch` (benchmarks/gpu_run.sh) reports with the zoo's own resnet50 on
a GPU machine without TensorFlow. With it and the reader's CPU µs per image measured on a host (RESULTS.md, the
utilisation and read sections), the cores a host needs to keep this GPU fed are
rate x µs / 1e6. GPU utilisation (NVML, when pynvml is installed) is sampled during the timed steps.

Prints one JSON line:

    python benchmarks/gpu_rate.py [--batch-size 256] [--steps 50] [--warmup 15] [--model resnet50] [--fp32]
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time


def nvml_sampler(stop: threading.Event, out: list[float], interval_s: float = 0.1) -> None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no pynvml or no driver: utilisation is not measured (None, never 0)
        return
    while not stop.is_set():
        out.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
        stop.wait(interval_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", help="a torchvision model name (default resnet50)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--fp32", action="store_true", help="no mixed precision")
    args = parser.parse_args()

    import torch
    import torchvision

    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_rate", "gpu": None, "error": "no CUDA device"}))
        return
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = getattr(torchvision.models, args.model)(num_classes=1000).to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=not args.fp32)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=dev).to(
        memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch_size,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=not args.fp32):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    util: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=nvml_sampler, args=(stop, util), daemon=True)
    sampler.start()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        torch.cuda.synchronize()  # per-step times; the steps themselves queue nothing across the sync
        times.append(time.perf_counter() - t)
    stop.set()
    sampler.join()
    total = sum(times)
    print(json.dumps({
        "benchmark": "gpu_rate", "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "model": args.model, "batch_size": args.batch_size, "image_size": args.image_size,
        "mixed_precision": not args.fp32, "steps": args.steps, "images_per_s": round(args.steps * args.batch_size / total, 1),
        "step_ms_p50": round(1e3 * statistics.median(times), 2),
        "step_ms_p95": round(1e3 * sorted(times)[int(0.95 * (len(times) - 1))], 2),
        "gpu_util_mean_pct": round(statistics.mean(util), 1) if util else None,
        "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
    }))


if __name__ == "__main__":
    main()
