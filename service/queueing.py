"""The work queue between watch handlers and reconcile workers: client-go's rate-limited delaying queue.

Room: queue (observe → **queue** → reconcile). Promises, as client-go's: a key waiting is stored once; a key
being processed is never handed to a second worker, and an `add` meanwhile replays after `done`; among
pending delays for a key the earliest wins; `add_rate_limited` waits the larger of a per-key exponential
backoff (with jitter, capped low) and a global token bucket, and at least its `at_least` (a server's
Retry-After). It never decides *whether* to retry (only the worker loop does) and never reads the wall clock:
time and sleep come from the injected `Clock`.

After `shutdown()`, `get()` raises `QueueShutDown` at once, even with keys still queued: those are dropped,
since reconciling is level-based and whoever runs next lists everything again.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prometheus_client import CollectorRegistry

from service import backoff as backoffs
from service import clock as clocks
from service import token_bucket, workqueue_metrics

__all__ = [
    "ItemBackoff",
    "QueueShutDown",
    "RateLimiter",
    "RateLimitingQueue",
    "RetrySettings",
    "default_rate_limiter",
]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """`get()` on a queue that has been shut down: the worker should return."""


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """How a work queue spaces the retries of failed keys; the defaults retry a rollout within seconds."""

    base_delay_seconds: float = 0.005
    """First per-key backoff after a failure; it doubles with every further failure."""

    max_delay_seconds: float = 10.0
    """Cap of the per-key backoff (the reference caps at 10 s too)."""

    jitter: float = 0.1
    """Each backoff is shortened by a random fraction up to this, so failing keys do not retry in lockstep."""

    qps: float = 10.0
    """Refill rate of the token bucket shared by all keys' retries (client-go's default)."""

    burst: int = 100
    """Size of that bucket: this many retries pass at once before the rate applies."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_delay_seconds) and self.base_delay_seconds > 0):
            raise ValueError(f"base_delay_seconds must be finite and > 0, not {self.base_delay_seconds!r}")
        if not (math.isfinite(self.max_delay_seconds) and self.max_delay_seconds >= self.base_delay_seconds):
            raise ValueError("max_delay_seconds must be finite and at least base_delay_seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), not {self.jitter!r}")
        if not (math.isfinite(self.qps) and self.qps > 0) or self.burst < 1:
            raise ValueError("the retry bucket needs a finite qps > 0 and a burst >= 1")


class RateLimiter(Protocol):
    """client-go's RateLimiter: how long to wait before the next retry of a key, and its failure count."""

    def when(self, key: Hashable) -> float:
        """Record one more failure of `key`; return the seconds to wait before retrying it."""
        ...

    def forget(self, key: Hashable) -> None:
        """Stop tracking `key`: its next failure starts from the base delay again."""
        ...

    def num_requeues(self, key: Hashable) -> int:
        """How many failures of `key` have been recorded since it was last forgotten."""
        ...


class ItemBackoff:
    """Per-key exponential backoff: base * 2**failures, capped, shortened by up to `jitter` at random."""

    def __init__(self, *, base: float, cap: float, jitter: float, rng: random.Random) -> None:
        self._backoff = backoffs.Backoff(base, cap, jitter=jitter)
        self._rng = rng
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return self._backoff.delay(failures, self._rng)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class _MaxOf:
    """client-go's default controller limiter: the larger of the key's backoff and the bucket's wait."""

    def __init__(self, backoff: ItemBackoff, bucket: token_bucket.TokenBucket) -> None:
        self._backoff, self._bucket = backoff, bucket

    def when(self, key: Hashable) -> float:
        # Both are asked every time, as client-go's MaxOfRateLimiter does: each failure spends a token.
        return max(self._backoff.when(key), self._bucket.reserve())

    def forget(self, key: Hashable) -> None:
        self._backoff.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self._backoff.num_requeues(key)


def default_rate_limiter(retry: RetrySettings, *, clock: clocks.Clock,
                         rng: random.Random | None = None) -> RateLimiter:
    """The per-key backoff combined with the global bucket, both from `retry`."""
    backoff = ItemBackoff(base=retry.base_delay_seconds, cap=retry.max_delay_seconds,
                          jitter=retry.jitter, rng=rng or random.Random())
    return _MaxOf(backoff, token_bucket.TokenBucket(retry.qps, retry.burst, monotonic=clock.monotonic))


class RateLimitingQueue(Generic[K]):
    """A fair, de-duplicating work queue with delayed and rate-limited adds, for one event loop.

    Every key returned by `get()` must be passed to `done()` exactly once. Delayed adds are driven by one
    timer task (started by the first delayed add) that sleeps on the clock until the earliest deadline.
    """

    def __init__(self, *, clock: clocks.Clock, name: str = "Rollouts", retry: RetrySettings | None = None,
                 rate_limiter: RateLimiter | None = None,
                 metrics: workqueue_metrics.WorkqueueMetrics | None = None,
                 rng: random.Random | None = None) -> None:
        """`name` labels the metrics (the reference's queues: "Rollouts", "Ingresses", "Services").

        `rate_limiter` None builds the default from `retry`; `metrics` None (for tests) records into a
        private registry; `rng` None seeds the jitter from the system.
        """
        self._name = name
        self._clock = clock
        self._limiter = rate_limiter or default_rate_limiter(retry or RetrySettings(), clock=clock, rng=rng)
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._waiting: dict[K, float] = {}
        self._deadlines: list[tuple[float, int, K]] = []
        self._order = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        self._timer_wake: asyncio.Future[None] | None = None
        self._shutting_down = False
        families = metrics or workqueue_metrics.WorkqueueMetrics(CollectorRegistry())
        self._metrics = families.recorder(name, monotonic=clock.monotonic,
                                          depth=lambda: len(self._dirty))

    @property
    def name(self) -> str:
        return self._name

    def __len__(self) -> int:
        """Keys ready to be handed out (not those being processed or waiting for a delay)."""
        return len(self._ready)

    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: K) -> None:
        """Queue `key` unless it already waits; if a worker holds it, it is handed out again after `done`."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._metrics.added(key)
        if key in self._processing:
            return
        self._ready.append(key)
        self._wake_getter()

    async def get(self) -> K:
        """Wait for the next key, oldest first; raises `QueueShutDown` once the queue is shut down."""
        while not self._ready or self._shutting_down:
            if self._shutting_down:
                raise QueueShutDown(f"work queue {self.name!r} is shut down")
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                # Woken, then cancelled before running: pass the wake-up on so the key is not stranded.
                elif self._ready and not getter.cancelled():
                    self._wake_getter()
                raise
        key = self._ready.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._metrics.started(key)
        return key

    def done(self, key: K) -> None:
        """The worker has finished `key`; raises ValueError if no worker holds it."""
        if key not in self._processing:
            raise ValueError(f"done({key!r}) on work queue {self.name!r}: that key is not being processed")
        self._processing.remove(key)
        self._metrics.finished(key)
        if key in self._dirty and not self._shutting_down:
            self._ready.append(key)
            self._wake_getter()

    def add_after(self, key: K, seconds: float) -> None:
        """Add `key` once `seconds` have passed; if it already waits for an earlier time, that one stands.

        A delay of 0 or less adds at once; a NaN or infinite delay is a caller's bug and raises ValueError.
        """
        if not math.isfinite(seconds):
            raise ValueError(f"add_after({key!r}) on work queue {self.name!r}: the delay must be finite, "
                             f"not {seconds!r}")
        if self._shutting_down:
            return
        self._metrics.retried()
        if seconds <= 0:
            self.add(key)
            return
        deadline = self._clock.monotonic() + seconds
        current = self._waiting.get(key)
        if current is not None and current <= deadline:
            return
        earliest = self._deadlines[0][0] if self._deadlines else math.inf
        self._waiting[key] = deadline
        heapq.heappush(self._deadlines, (deadline, next(self._order), key))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._run_timer(),
                                                                 name=f"workqueue-timer:{self.name}")
        elif deadline < earliest:
            self._wake_timer()

    def add_rate_limited(self, key: K, *, at_least: float = 0.0) -> None:
        """Add `key` after the limiter's delay: its own backoff or the global bucket, whichever is longer.

        `at_least` (e.g. the API server's Retry-After) lengthens that delay, never shortens it; the failure
        is recorded either way, so `num_requeues` grows and the next backoff doubles as usual.
        """
        if self._shutting_down:
            return
        if not math.isfinite(at_least):
            raise ValueError(f"add_rate_limited({key!r}) on work queue {self.name!r}: at_least must be "
                             f"finite, not {at_least!r}")
        self.add_after(key, max(at_least, self._limiter.when(key)))

    def forget(self, key: K) -> None:
        """Reset the backoff of `key` (after a success); `done` must still be called."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    def shutdown(self) -> None:
        """Stop: drop waiting keys, ignore adds, wake every `get()` with `QueueShutDown`, end the timer."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self._ready.clear()
        self._dirty.clear()
        self._waiting.clear()
        self._deadlines.clear()
        self._metrics.dropped()
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
        self._wake_timer()

    async def wait_closed(self) -> None:
        """After `shutdown()`: wait until the timer task has ended (RuntimeError if not shut down)."""
        if not self._shutting_down:
            raise RuntimeError(f"wait_closed() on work queue {self.name!r} before shutdown()")
        if self._timer is not None:
            await asyncio.wait({self._timer})

    async def __aenter__(self) -> RateLimitingQueue[K]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.shutdown()
        await self.wait_closed()

    def _wake_getter(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _wake_timer(self) -> None:
        if self._timer_wake is not None and not self._timer_wake.done():
            self._timer_wake.set_result(None)

    def _add_due(self) -> float | None:
        """Add every key whose deadline has passed; return the seconds until the next deadline, if any."""
        now = self._clock.monotonic()
        while self._deadlines:
            deadline, _, key = self._deadlines[0]
            if self._waiting.get(key) != deadline:
                heapq.heappop(self._deadlines)  # superseded by an earlier deadline for the same key
                continue
            if deadline > now:
                return deadline - now
            heapq.heappop(self._deadlines)
            del self._waiting[key]
            self.add(key)
        return None

    async def _run_timer(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._shutting_down:
            delay = self._add_due()
            self._timer_wake = loop.create_future()
            waits: set[asyncio.Future[None]] = {self._timer_wake}
            sleeper = None
            if delay is not None:
                sleeper = asyncio.ensure_future(self._clock.sleep(delay))
                waits.add(sleeper)
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if sleeper is not None and not sleeper.done():
                    sleeper.cancel()
                    # asyncio.wait never raises the sleeper's CancelledError, only our own cancellation.
                    await asyncio.wait({sleeper})
