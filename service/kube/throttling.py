"""Honouring the API server: the client-side --qps/--burst limiter and the server's `Retry-After` hints.

Room: observe and apply (every request the controller sends to the API server). `RequestLimiter` is
client-go's token-bucket rate limiter (`flowcontrol.NewTokenBucketRateLimiter(qps, burst)`): writes, LISTs,
WATCH starts, Events and Lease calls each await a token of the one `service.token_bucket.TokenBucket` before
they are sent (a long-running WATCH counts once, when it starts), on the injected clock's sleep, never
polling; each wait is observed in `rest_client_rate_limiter_duration_seconds` (`service.client_metrics`).
As in client-go's `Request.request`, the token is taken before the request's own deadline starts, so a
throttled client does not time out requests it never sent. `retry_after_seconds` reads a 429/5xx answer's
hint; whoever retries that work (the worker loop, a reflector, leader election) waits at least that long.
It never retries, never decides what to send and never reads the caches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import structlog

from service import client_metrics, token_bucket
from service import clock as clocks

__all__ = ["LONG_WAIT_SECONDS", "RequestLimiter", "retry_after_seconds", "status_retry_after"]

log = structlog.get_logger(__name__)

LONG_WAIT_SECONDS = 1.0
"""A wait at least this long is logged (client-go's "Waited for ... due to client-side throttling")."""


class RequestLimiter:
    """At most `qps` requests a second on average to the API server, `burst` at once (--qps, --burst).

    One per process, shared by every caller of one ApiClient; `None` in its place means no limit (tests).
    """

    def __init__(self, qps: float, burst: int, *, clock: clocks.Clock,
                 metrics: client_metrics.KubeClientMetrics | None = None) -> None:
        self.bucket = token_bucket.TokenBucket(qps, burst, monotonic=clock.monotonic)
        """The tokens (`rate` is --qps, `burst` is --burst); it starts full."""
        self.metrics = metrics  # None for tests
        self._sleep = clock.sleep

    @property
    def qps(self) -> float:
        return self.bucket.rate

    @property
    def burst(self) -> int:
        return self.bucket.burst

    async def wait(self, method: str, url: str) -> float:
        """Return once a request `method` `url` may be sent; the seconds it waited for its token."""
        waited = await self.bucket.wait(self._sleep)
        if self.metrics is not None:
            self.metrics.observe_rate_limiter(method, url, waited)
        if waited >= LONG_WAIT_SECONDS:
            log.debug("waited for client-side throttling (--qps/--burst)", seconds=round(waited, 3),
                      verb=method.upper(), url=url)
        return waited


def _seconds(raw: Any) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        seconds = float(raw)
    except (TypeError, ValueError):  # an HTTP-date Retry-After: no hint rather than a wrong one
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def status_retry_after(status: Any) -> float | None:
    """`details.retryAfterSeconds` of a Kubernetes Status (a dict, or its JSON text/bytes), if any."""
    if isinstance(status, bytes | bytearray | str):
        try:
            status = json.loads(status) if status.strip() else None
        except ValueError:
            return None
    details = status.get("details") if isinstance(status, Mapping) else None
    return _seconds(details.get("retryAfterSeconds")) if isinstance(details, Mapping) else None


def retry_after_seconds(headers: Mapping[str, str] | None, status: Any = None) -> float | None:
    """The server's hint: the `Retry-After` header in seconds, else the Status's `retryAfterSeconds`; None.

    An HTTP-date, a negative or a non-finite value is no hint at all (None).
    """
    raw = headers.get("Retry-After") if headers is not None else None
    if raw is not None:
        return _seconds(raw)
    return status_retry_after(status)
