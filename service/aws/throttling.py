"""Client-side rate shaping for ELBv2: a token bucket that slows down on Throttling, and the retry policy.

Room: act (AWS). Decides how long to wait before a call and whether an error is worth retrying; it never
calls AWS itself, never sleeps and never reads the wall clock (time is injected). The tokens are those of
`service.token_bucket`, the retry delays those of `service.backoff`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from service import backoff as backoffs
from service import token_bucket

__all__ = [
    "RETRYABLE_CODES",
    "THROTTLING_CODES",
    "AdaptiveBucket",
    "Monotonic",
    "RetryPolicy",
    "Sleep",
    "is_retryable",
    "is_throttling",
]

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Codes AWS uses for "slow down"; 5xx statuses are retried as well (see is_retryable).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
RETRYABLE_CODES = THROTTLING_CODES | {"ServiceUnavailable", "InternalFailure", "InternalError"}


def is_retryable(code: str, http_status: int) -> bool:
    """Throttling-like codes and server-side (5xx) failures are transient; everything else is an answer."""
    return code in RETRYABLE_CODES or http_status >= 500


def is_throttling(code: str) -> bool:
    return code in THROTTLING_CODES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a number of attempts and a total deadline."""

    max_attempts: int = 6
    base_seconds: float = 0.2
    cap_seconds: float = 10.0
    deadline_seconds: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt` (1-based): uniform in [0, min(cap, base * 2**attempt)]."""
        return backoffs.Backoff(self.base_seconds, self.cap_seconds, jitter=1.0).delay(attempt, rng)


class AdaptiveBucket:
    """Shapes every ELBv2 call of the process; `slow_down()` halves the rate for a while after throttling.

    The tokens are those of one `service.token_bucket.TokenBucket`; this only moves its rate: down on
    throttling (not below `min_rate`), then back up stepwise, doubling every `recovery_seconds`.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        monotonic: Monotonic,
        min_rate: float = 0.2,
        recovery_seconds: float = 30.0,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0) or burst < 1 or not recovery_seconds > 0:
            raise ValueError("token bucket needs a finite rate > 0, burst >= 1 and recovery_seconds > 0")
        self.configured_rate = rate
        self.min_rate = min(min_rate, rate)
        self.recovery_seconds = recovery_seconds
        self._monotonic = monotonic
        self._bucket = token_bucket.TokenBucket(rate, burst, monotonic=monotonic)
        self._recover_at: float | None = None

    @property
    def rate(self) -> float:
        return self._bucket.rate

    @property
    def burst(self) -> int:
        return self._bucket.burst

    @property
    def tokens(self) -> float:
        return self._bucket.tokens

    def _refill(self, now: float) -> None:
        self._bucket.refill(now)  # at the rate in force until now
        # Recovery is stepwise: double the rate every recovery period until the configured rate is back.
        # Closed form, no loop: however far the clock jumps, this costs the same and cannot spin.
        if self._recover_at is None or now < self._recover_at:
            return
        periods = min(int((now - self._recover_at) // self.recovery_seconds) + 1, 64)
        grown = self._bucket.rate * float(2 ** periods)
        if grown >= self.configured_rate:
            self._bucket.rate, self._recover_at = self.configured_rate, None
        else:
            self._bucket.rate = grown
            self._recover_at += periods * self.recovery_seconds

    def reserve(self, max_wait: float | None = None) -> float | None:
        """Take one token now, possibly on credit; returns the seconds to wait before using it.

        Returns None (and takes nothing) when the wait would exceed `max_wait`. No await happens between
        refill and reservation, so concurrent callers queue up in order without a lock.
        """
        self._refill(self._monotonic())
        return self._bucket.take(max_wait)

    def slow_down(self) -> None:
        """Throttling or a 5xx: halve the rate (not below min_rate), drop saved-up burst, recover later."""
        now = self._monotonic()
        self._refill(now)
        self._bucket.rate = max(self.min_rate, self._bucket.rate / 2)
        self._bucket.keep_at_most(1.0)
        self._recover_at = now + self.recovery_seconds
