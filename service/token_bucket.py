"""A token bucket: `rate` tokens a second up to `burst`; the one bucket of queue retries, AWS and Kubernetes.

Room: shared by queue and act. Every reservation takes one token at once, on credit if need be, and returns
how long to wait until that token is paid back; callers queue up in order without a lock because nothing
awaits between refill and reservation. The bucket reads time only through the injected `monotonic`; it
sleeps only in `wait`, and only on the sleep its caller passes (a clock's, so tests jump ahead). The AWS
client adapts the rate on throttling (`service.aws.throttling.AdaptiveBucket`) by setting `rate`; the
Kubernetes client's --qps/--burst limiter (`service.kube.throttling`) awaits `wait` before every request.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; starts full."""

    def __init__(self, rate: float, burst: int, *, monotonic: Callable[[], float]) -> None:
        if not (math.isfinite(rate) and rate > 0) or burst < 1:
            raise ValueError("token bucket needs a finite rate > 0 and burst >= 1")
        self.rate = rate
        """Tokens added per second from now on; may be changed (tokens already there stay)."""
        self.burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._stamp = monotonic()

    @property
    def tokens(self) -> float:
        """Tokens saved up at the last refill; negative while reservations are on credit."""
        return self._tokens

    def refill(self, now: float) -> None:
        """Add what `rate` earned since the last refill (a clock going back earns nothing)."""
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)

    def take(self, max_wait: float | None = None) -> float | None:
        """Take one token as of the last refill; the seconds until it is paid back.

        Returns None (and takes nothing) when that wait would exceed `max_wait`.
        """
        delay = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
        if max_wait is not None and delay > max_wait:
            return None
        self._tokens -= 1.0
        return delay

    def reserve(self) -> float:
        """Refill, then take one token whatever the wait; the seconds to wait before using it."""
        self.refill(self._monotonic())
        delay = self.take()
        assert delay is not None  # no max_wait: always taken
        return delay

    async def wait(self, sleep: Callable[[float], Awaitable[object]]) -> float:
        """Reserve a token and sleep (once, never polling) until it is paid back; the seconds waited.

        A wait cancelled before its end gives the token back, as client-go cancels a reservation whose
        context ends, so a cancelled caller does not slow down the callers behind it.
        """
        delay = self.reserve()
        if delay <= 0:
            return 0.0
        try:
            await sleep(delay)
        except BaseException:
            self.give_back()
            raise
        return delay

    def give_back(self) -> None:
        """Return one token taken by `reserve` or `take` but not used (never above `burst`)."""
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    def keep_at_most(self, tokens: float) -> None:
        """Drop saved-up tokens above `tokens` (e.g. no burst right after throttling)."""
        self._tokens = min(self._tokens, tokens)
