"""What `tfrec bench train` runs: TrainBenchOptions, which checks itself, and the benchmark's targets (no TensorFlow)."""
from __future__ import annotations

from dataclasses import dataclass

from ..training.options import TrainOptions
from ..training.zoo import TrainUsageError

MODES = ("synthetic", "tfrec", "tfrec_cached", "tutorial")
DECODE_DEVICES = ("cpu", "cuda")
INPUT_BOUND_STALL_PCT = 5.0  # a mode whose step waits longer than this share of its wall is input-bound
TARGET_VS_SYNTHETIC = 0.95  # tfrec / synthetic (issue 12)
TARGET_VS_TUTORIAL = 3.0  # tfrec / tutorial, wherever the tutorial mode is input-bound (issue 12)


@dataclass(frozen=True)
class TrainBenchOptions:
    """What `benchmark_train` runs; checks itself (TrainUsageError, exit code 2)."""

    model: str | None = None  # None: the trainer's choice for the data
    batch_size: int = 128
    steps: int = 30  # timed steps per mode and round
    warmup_steps: int = 5  # an untimed epoch first: the reader fills its buffers, the step warms up
    rounds: int = 3  # the modes alternate, round after round; figures are medians over rounds
    augment: str = "none"
    image_size: tuple[int, int] | None = None  # (height, width)
    num_parallel_calls: int | None = None  # the reader's parallelism (None: its default)
    mixed_precision: bool = False
    split: str = "train"
    drop_cache: bool = True  # evict the shards from the page cache before each timed tfrec epoch
    stage_batches: int = 20  # batches each stage is timed for, in each of stage_rounds rounds
    stage_rounds: int = 3  # the stages alternate, round after round; medians, weighed against the rounds' spread
    modes: tuple[str, ...] = MODES
    progress: bool = False  # a bar on stderr: the mode and round running, parts done, time elapsed
    decode_device: str = "cpu"  # torch only: "cuda" decodes the loader's JPEGs on the GPU (tfrec.torch.loader's)

    def __post_init__(self):
        if isinstance(self.image_size, int):
            object.__setattr__(self, "image_size", (self.image_size, self.image_size))
        unknown = [m for m in self.modes if m not in MODES]
        checks = [(self.batch_size >= 1, "batch_size", "at least 1", self.batch_size),
                  (self.steps >= 2, "steps", "at least 2", self.steps),
                  (self.warmup_steps >= 1, "warmup_steps", "at least 1", self.warmup_steps),
                  (self.rounds >= 1, "rounds", "at least 1", self.rounds),
                  (self.stage_batches >= 1, "stage_batches", "at least 1", self.stage_batches),
                  (self.stage_rounds >= 1, "stage_rounds", "at least 1", self.stage_rounds),
                  (not unknown and "synthetic" in self.modes, "modes", f"synthetic and any of {', '.join(MODES)}",
                   self.modes),
                  (self.decode_device in DECODE_DEVICES, "decode_device", f"one of {', '.join(DECODE_DEVICES)}",
                   self.decode_device)]
        for ok, name, expected, found in checks:
            if not ok:
                raise TrainUsageError(f"{name}: expected {expected}, found {found!r}")

    def train_options(self) -> TrainOptions:
        # The trainer's own per-epoch bars stay off: the benchmark's bar says which mode and round runs.
        return TrainOptions(model=self.model, epochs=2, steps_per_epoch=self.steps, batch_size=self.batch_size,
                            image_size=self.image_size, augment=self.augment, val_split="", progress=False,
                            mixed_precision=self.mixed_precision, train_split=self.split)
