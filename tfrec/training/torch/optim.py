"""The options' optimizers and learning-rate schedules as torch ones, as tfrec/training/optim.py makes them in Keras."""
from __future__ import annotations

import math

import torch

from ..options import TrainOptions

STEP_DECAY_AT = (0.5, 0.75)  # as tfrec/training/optim.py (TensorFlow) has it: x0.1 at these fractions
ADAMW_DEFAULT_DECAY = 0.004  # keras.optimizers.AdamW's default weight decay, which the Keras path uses too


def lr_factor(step: int, total_steps: int, warmup_steps: int = 0, kind: str = "constant") -> float:
    """The schedule's multiple of the base rate at `step` (0-based): linear warm-up over warmup_steps, then
    constant, cosine to 0, or x0.1 at 50% and 75% of the run (optim.WarmupSchedule's formula)."""
    total = max(1, total_steps)
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, max(0.0, (step - warmup_steps) / max(1.0, total - warmup_steps)))
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "step":
        return 0.1 ** sum(step >= f * total for f in STEP_DECAY_AT)
    return 1.0


class Optimizer:
    """The optimizer, its per-step schedule and decoupled weight decay (as Keras applies it: w -= lr * decay * w).

    `step()` applies the decay and the update and advances the schedule; `lr` is the rate of the next step.
    """

    def __init__(self, model: torch.nn.Module, options: TrainOptions, steps_per_epoch: int | None):
        params = [p for p in model.parameters() if p.requires_grad]
        lr = options.learning_rate
        if options.optimizer == "sgd":
            self.torch = torch.optim.SGD(params, lr, momentum=0.9, nesterov=True)
        else:
            self.torch = torch.optim.Adam(params, lr)
        self.decay = options.weight_decay or (ADAMW_DEFAULT_DECAY if options.optimizer == "adamw" else 0.0)
        total = options.epochs * (steps_per_epoch or 1)
        warmup = int(round(options.warmup_epochs * (steps_per_epoch or 1)))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.torch, lambda s: lr_factor(s, total, warmup, options.lr_schedule))

    def zero_grad(self) -> None:
        self.torch.zero_grad(set_to_none=True)

    def step(self, scaler: torch.amp.GradScaler | None = None) -> None:
        if self.decay:
            with torch.no_grad():
                for group in self.torch.param_groups:
                    torch._foreach_mul_(group["params"], 1.0 - group["lr"] * self.decay)
        if scaler is not None:
            scaler.step(self.torch)
            scaler.update()
        else:
            self.torch.step()
        self.schedule.step()

    @property
    def lr(self) -> float:
        return float(self.torch.param_groups[0]["lr"])

    @property
    def iterations(self) -> int:
        """Steps taken (the schedule's count)."""
        return int(self.schedule.last_epoch)

    def state_dict(self) -> dict:
        return {"optimizer": self.torch.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.torch.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
