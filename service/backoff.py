"""Exponential backoff with jitter: the one retry-delay formula of the work queue, the reflectors and AWS.

Room: shared by queue, observe and act. A delay is `min(cap, base * factor**n)`, of which the last `jitter`
fraction is random: jitter 1 is "full jitter" (AWS retries), 0.5 "equal jitter" (watch reconnects), 0.1 a
small spread (work-queue retries). Each caller keeps its own parameters and its own failure count; this module
only computes delays, never sleeps and never reads a clock (the random source is passed in).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["Backoff"]

# Any sane base times factor**64 is far above any cap; the bound keeps the float finite however long a
# failure streak lasts.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays that grow by `factor` per failure up to `cap`; the last `jitter` fraction of each is random."""

    base: float
    """Ceiling of the delay for exponent 0, in seconds."""
    cap: float
    """Largest ceiling, in seconds."""
    jitter: float
    """Fraction of the ceiling drawn at random: the delay lies in [ceiling * (1 - jitter), ceiling]."""
    factor: float = 2.0
    """Growth of the ceiling per step of the exponent."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base) and self.base >= 0 and math.isfinite(self.cap) and self.cap >= 0):
            raise ValueError("backoff needs a finite base >= 0 and a finite cap >= 0")
        if not 0 <= self.jitter <= 1 or not (math.isfinite(self.factor) and self.factor >= 1):
            raise ValueError("backoff needs a jitter in [0, 1] and a finite factor >= 1")

    def ceiling(self, exponent: int) -> float:
        """`min(cap, base * factor**exponent)`: the longest delay for that exponent."""
        return min(self.cap, self.base * self.factor ** min(max(exponent, 0), _MAX_EXPONENT))

    def delay(self, exponent: int, rng: random.Random) -> float:
        """A delay for `exponent` (the number of failures before, or the attempt, as the caller counts)."""
        ceiling = self.ceiling(exponent)
        return ceiling * (1.0 - self.jitter) + rng.uniform(0.0, ceiling * self.jitter)
