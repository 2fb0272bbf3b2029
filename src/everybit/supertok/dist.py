"""Chunk-length distributions: "LO-HI:WEIGHT,..." (pick a range by weight, then a length uniformly in it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from everybit.common.errors import UsageError

# Chosen by the ablation in docs/supertok.md: long chunks (most lines whole) give the best held-out
# bytes/token; the 10% of short chunks cost nothing there and help a little on text unlike the training text.
DEFAULT_DIST = "4-15:0.1,16-63:0.3,64-255:0.6"
PREVIOUS_DIST = (
    "1-7:0.05,8-15:0.15,16-31:0.30,32-63:0.30,64-127:0.20"  # the first default, kept for the ablation
)
# The paper's published ranges (they sum to 1.10: only usable with --normalize) and the seed code's default.
PAPER_DIST = (
    "4-5:0.044,6-7:0.091,8-9:0.146,10-11:0.171,12-13:0.185,14-15:0.171,16-17:0.146,18-19:0.091,"
    "20-21:0.044,22-23:0.011"
)
SEED_CODE_DIST = "1-5:0.02,6-18:0.70,18-28:0.28"
MAX_LENGTH = 1 << 16


@dataclass(frozen=True)
class LengthDist:
    ranges: tuple[tuple[int, int], ...]
    weights: tuple[float, ...]

    def __str__(self) -> str:
        return ",".join(f"{lo}-{hi}:{w:g}" for (lo, hi), w in zip(self.ranges, self.weights, strict=True))

    @property
    def mean(self) -> float:
        return sum(w * (lo + hi) / 2 for (lo, hi), w in zip(self.ranges, self.weights, strict=True))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n chunk lengths (int64)."""
        lo = np.array([r[0] for r in self.ranges])
        hi = np.array([r[1] for r in self.ranges])
        pick = rng.choice(len(self.ranges), size=n, p=np.array(self.weights) / sum(self.weights))
        return rng.integers(lo[pick], hi[pick] + 1)


def parse_dist(text: str, normalize: bool = False) -> LengthDist:
    """Parses and checks a distribution; weights must sum to 1 (within 1e-6) unless normalize is set."""
    ranges, weights = [], []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            span, weight = item.split(":")
            lo, _, hi = span.partition("-")
            lo_n, hi_n, w = int(lo), int(hi or lo), float(weight)
        except ValueError:
            raise UsageError(f"--dist: {item!r} is not LO-HI:WEIGHT (e.g. 6-18:0.7)") from None
        if not 1 <= lo_n <= hi_n <= MAX_LENGTH:
            raise UsageError(f"--dist: range {span} must satisfy 1 <= LO <= HI <= {MAX_LENGTH}")
        if not (math.isfinite(w) and w >= 0):
            raise UsageError(f"--dist: weight {weight} of {span} must be a finite number >= 0")
        ranges.append((lo_n, hi_n))
        weights.append(w)
    total = sum(weights)
    if not ranges or total <= 0:
        raise UsageError("--dist: needs at least one range with a positive weight")
    if abs(total - 1) > 1e-6:
        if not normalize:
            raise UsageError(f"--dist: weights sum to {total:.6g}, not 1 (pass --normalize to rescale them)")
        weights = [w / total for w in weights]
    return LengthDist(tuple(ranges), tuple(weights))
