"""How far a benchmark's rounds disagree: the spread of each mode's rounds, and the warnings a reader of the figures
needs (a ratio above 1 that no input can reach, rounds too far apart to compare modes). No TensorFlow."""
from __future__ import annotations

import statistics

# Rounds of one mode further apart than this (max - min, over their median) cannot tell apart two modes that
# differ by the headline target's margin (tfrec / synthetic >= 0.95, a 5% gap): twice that margin is "noisy".
NOISY_SPREAD = 0.10
# Ratios that no input can push above 1: the synthetic mode feeds one batch already in memory, the model's ceiling.
BOUNDED_SUFFIX = "_vs_synthetic"


def round_spread(values: list[float | None]) -> float | None:
    """(max - min) / median of the rounds; None with fewer than two rounds (or a median of 0)."""
    values = [v for v in values if v is not None]
    if len(values) < 2 or not statistics.median(values):
        return None
    # Rounded once here, so that the report's table and its warnings print the same percentage.
    return round((max(values) - min(values)) / statistics.median(values), 4)


def _label(mode: str) -> str:
    return mode.replace("_", " ")


def _ratio_warning(name: str, rounds: list[float]) -> str:
    mode = name.removesuffix(BOUNDED_SUFFIX)
    text = (f"{_label(mode)} / synthetic = {statistics.median(rounds):.3f} is above 1, which no input can reach "
            "(synthetic feeds one batch from memory: the model's ceiling), so the difference is noise")
    if len(rounds) < 2:
        return text + "; measured in 1 round, its spread is unknown: rerun with --rounds 3 or more"
    return text + f"; its {len(rounds)} rounds ranged {min(rounds):.3f}-{max(rounds):.3f}"


def _spread_warning(mode: str, rounds: list[float], spread: float) -> str:
    return (f"{_label(mode)} images/s varied {100 * spread:.0f}% between rounds ({min(rounds):,.0f}-{max(rounds):,.0f} "
            f"over {len(rounds)} rounds): modes closer than that are within noise; run on an idle machine, or raise "
            "--steps-per-epoch and --rounds")


def noise_warnings(rates: dict[str, list[float]], ratio_rounds: dict[str, list[float]]) -> list[str]:
    """The warnings a run's rounds call for, from the rounds themselves.

    Args:
        rates: per mode, its images/s in each round.
        ratio_rounds: per ratio name (`tfrec_vs_synthetic`, ...), its value in each round (a / b of the same round).

    Returns:
        One sentence per finding: each ratio to synthetic whose median is above 1 (with the rounds' range, or
        a note that one round has none), then each mode whose rounds spread more than NOISY_SPREAD.
    """
    out = [_ratio_warning(name, rounds) for name, rounds in ratio_rounds.items()
           if name.endswith(BOUNDED_SUFFIX) and rounds and statistics.median(rounds) > 1]
    for mode, rounds in rates.items():
        spread = round_spread(rounds)
        if spread is not None and spread > NOISY_SPREAD:
            out.append(_spread_warning(mode, [v for v in rounds if v is not None], spread))
    return out
