"""What a training run is asked to do: TrainOptions, checked before anything is built (no TensorFlow here)."""
from __future__ import annotations

from dataclasses import dataclass

from .zoo import TrainUsageError, get_model_info

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "step")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")  # multi_worker: the cluster from TF_CONFIG
FRAMEWORKS = ("tf", "torch", "jax")  # the backends `--framework` names (tfrec.training.frameworks finds them)
EXPORT_SUFFIXES = {"tf": ".keras", "torch": ".pt", "jax": ".keras"}  # each backend's native export format
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}  # the usual starting points for these optimizers


@dataclass(frozen=True)
class TrainOptions:
    """Every option of a training run but the dataset path; checks itself (TrainUsageError, exit code 2)."""

    model: str | None = None  # None: chosen from the schema (zoo.choose_model)
    epochs: int = 5
    steps_per_epoch: int | None = None  # None: one pass over the train split
    batch_size: int = 64
    image_size: tuple[int, int] | None = None  # (height, width); None: the stored size, or the model's default
    augment: str = "none"
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR[optimizer]
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    train_split: str = "train"
    val_split: str | None = None  # None: the dataset's "val" or "test" split if it has one; "" for none
    skip_corrupt: bool = False
    logdir: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None  # steps; checkpoints are also written at every epoch's end
    export: str | None = None  # a .keras file
    saved_model: bool = False
    weights: str | None = None
    freeze_base: bool = False
    fine_tune_at: int | None = None
    mixed_precision: bool = False
    strategy: str = "auto"
    seed: int | None = None
    deterministic: bool = False
    progress: bool = True
    framework: str = "tf"  # which backend trains: tfrec.training.loop (tf) or tfrec.training.torch.loop

    def __post_init__(self):
        size = self.image_size
        if isinstance(size, int):
            object.__setattr__(self, "image_size", (size, size))
        if self.model is not None:
            get_model_info(self.model)  # an unknown name lists the known ones
        checks = [
            (self.optimizer in OPTIMIZERS, "optimizer", f"one of {', '.join(OPTIMIZERS)}", self.optimizer),
            (self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {', '.join(LR_SCHEDULES)}", self.lr_schedule),
            (self.strategy in STRATEGIES, "strategy", f"one of {', '.join(STRATEGIES)}", self.strategy),
            (self.epochs >= 1, "epochs", "at least 1", self.epochs),
            (self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch", "at least 1",
             self.steps_per_epoch),
            (self.batch_size >= 1, "batch_size", "at least 1", self.batch_size),
            (self.lr is None or self.lr > 0, "lr", "a positive number", self.lr),
            (self.warmup_epochs >= 0, "warmup_epochs", "0 or more", self.warmup_epochs),
            (self.weight_decay >= 0, "weight_decay", "0 or more", self.weight_decay),
            (0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)", self.label_smoothing),
            (self.checkpoint_every is None or self.checkpoint_every >= 1, "checkpoint_every", "at least 1",
             self.checkpoint_every),
            (self.framework in FRAMEWORKS, "framework", f"one of {', '.join(FRAMEWORKS)}", self.framework),
            (self.export is None or self.export.endswith(self.export_suffix), "export",
             f"a file name ending in {self.export_suffix}" + (f" (--framework {self.framework})"
                                                              if self.framework != "tf" else ""), self.export),
            (not self.saved_model or bool(self.export), "saved_model", "an export path too (--export)",
             self.saved_model),
            (not self.deterministic or self.seed is not None, "deterministic", "a seed too (--seed)",
             self.deterministic),
        ]
        for ok, name, expected, found in checks:
            if not ok:
                raise TrainUsageError(f"{name}: expected {expected}, found {found!r}")

    @property
    def export_suffix(self) -> str:
        return EXPORT_SUFFIXES.get(self.framework, ".keras")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def epoch_seed(self, epoch: int) -> int | None:
        """The reader's seed for `epoch`: a fresh, seeded order and augmentation every epoch, the same
        in a resumed run as in an uninterrupted one."""
        return None if self.seed is None else (self.seed * 1_000_003 + epoch) % 2**31
