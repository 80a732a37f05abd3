"""What a training run did (TrainResult), shared by every backend: the same `--json` keys whatever trains (no framework here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Interrupted, TfrecError
from .options import TrainOptions
from .plan import DataPlan


@dataclass
class TrainResult:
    """What a run did: per-epoch and overall figures, the input monitor's, GPU figures (None without a
    GPU), what the reader skipped, where checkpoints and exports went. `model` is the trained model (Keras, or a torch.nn.Module)."""

    plan: DataPlan
    options: TrainOptions
    epochs: list[dict] = field(default_factory=list)
    overall: dict = field(default_factory=dict)
    read_stats: dict = field(default_factory=dict)
    resumed_from: dict | None = None
    checkpoint: str | None = None
    exported: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    startup_s: float = 0.0  # opening the first reader, tracing the step and its first run (compile_s in it)
    compile_s: float = 0.0  # tracing the step and its first run, when TensorFlow optimises the graph
    seconds: float = 0.0
    model: Any = None

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}

    def to_json(self) -> dict:
        final = self.final
        gpu = [e["gpu"] for e in self.epochs if e.get("gpu")]
        return {"data": self.plan.to_json(), "model": self.plan.model, "epochs": self.epochs,
                "overall": self.overall, "loss": final.get("loss"), "accuracy": final.get("accuracy"),
                "val_loss": final.get("val_loss"), "val_accuracy": final.get("val_accuracy"),
                "gpu": gpu or None, "read_stats": self.read_stats, "resumed_from": self.resumed_from,
                "checkpoint": self.checkpoint, "exported": self.exported, "notes": self.notes,
                "startup_s": round(self.startup_s, 3), "compile_s": round(self.compile_s, 3), "seconds": round(self.seconds, 3), "seed": self.options.seed,
                "deterministic": self.options.deterministic}


class TrainingDiverged(TfrecError):
    """The loss became NaN or infinite (exit code 1); the last good checkpoint is kept."""


class TrainingInterrupted(Interrupted):
    """Ctrl-C or SIGTERM stopped training; a checkpoint was written when a directory was given (exit code 130)."""
