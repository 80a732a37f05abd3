"""The honest-pace row: a plain PyTorch training loop over the same model, batch, precision and device, no tfrec code.

What a PyTorch user would write to time a model: the zoo's module, `torch.optim` (the optimizer the
benchmark's trainer runs: SGD with Nesterov momentum 0.9, or Adam), one batch already on the device,
`zero_grad -> forward (autocast with mixed precision) -> cross entropy -> backward -> step` in a bare
`for` loop, timed with `perf_counter` after a warm-up (on CUDA the steps queue unsynchronised and the clock
is read after one synchronize at the end, so the step's p50 is the mean and its p95 unknown there).
The synthetic mode runs the same model through tfrec's trainer (its monitors and per-step timing);
synthetic / plain says what the trainer's own overhead costs (issue 27: >= 0.9).
"""
from __future__ import annotations

import time

import torch

from ... import timing


def amp_dtype(device: torch.device, mixed_precision: bool) -> torch.dtype | None:
    """The autocast dtype for mixed precision: bfloat16 on the CPU and on CUDA devices that have it, else float16."""
    if not mixed_precision:
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def plain_loop_rate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int, warmup: int,
                    optimizer: str = "sgd", lr: float = 0.01, mixed_precision: bool = False,
                    channels_last: bool = False) -> dict:
    """Trains `model` on one batch (already on its device) for `warmup` untimed and `steps` timed steps.

    Returns:
        {"images_per_s", "step_ms_p50", "step_ms_p95", "optimizer", "precision", "channels_last", "device"}.
    """
    device = images.device
    dtype = amp_dtype(device, mixed_precision)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr, momentum=0.9, nesterov=True) if optimizer == "sgd"
           else torch.optim.Adam(params, lr))
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    model.train()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)  # noqa: E731

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    for _ in range(warmup):
        step()
    sync()
    times = []
    start = time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        step()  # on CUDA the steps queue without a sync (a plain loop's pace); their times are then enqueue times
        times.append(time.perf_counter() - t)
    sync()
    wall = time.perf_counter() - start
    per_step = device.type != "cuda"
    summary = timing.Durations(times).summary()  # the trainer's percentiles, the same way
    return {"images_per_s": round(steps * len(images) / wall, 1),
            "step_ms_p50": summary["p50"] if per_step else round(1e3 * wall / steps, 3),
            "step_ms_p95": summary["p95"] if per_step else None,
            "optimizer": optimizer,
            "precision": str(dtype).removeprefix("torch.") if dtype else "float32", "channels_last": channels_last,
            "device": str(device)}
