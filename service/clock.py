"""Where `service/` reads time and how it waits: a `Clock` protocol, the system clock, and a stepped fake.

Room: shared by every room of the flow (queue, reconcile, apply). Nothing in `service/` calls `time`,
`datetime.now` or `asyncio.sleep` directly for scheduling: it asks an injected clock, so tests can jump ahead
without waiting. `FakeClock` never waits for real time and never moves by itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Wall time for timestamps written to status, monotonic time for intervals, and a way to wait."""

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` of this clock's time (at once when `seconds` <= 0)."""
        ...


class SystemClock:
    """The real clock: UTC wall time, `time.monotonic` and `asyncio.sleep`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when `advance` is called; sleepers wake when their deadline has passed.

    `now()` and `monotonic()` move together. A sleep of 0 or less yields once and returns.
    """

    def __init__(self, *, start: datetime = DEFAULT_START, monotonic_start: float = 1000.0) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("FakeClock start must be an aware datetime")
        self._start = start.astimezone(UTC)
        self._monotonic_start = monotonic_start
        self._elapsed = 0.0
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._monotonic_start + self._elapsed

    async def sleep(self, seconds: float) -> None:
        if not seconds > 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.monotonic() + seconds, next(self._order), future))
        # A cancelled sleeper stays in the heap as a cancelled future; advance() and `sleepers` skip it.
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake, in deadline order, every sleeper whose deadline is now due."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"FakeClock advances by a finite number of seconds >= 0, not {seconds!r}")
        self._elapsed += seconds
        now = self.monotonic()
        while self._sleepers and self._sleepers[0][0] <= now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for time to pass (tests await this before advancing)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    @property
    def next_deadline(self) -> float | None:
        """The monotonic time the earliest pending sleeper wakes at, or None."""
        pending = [deadline for deadline, _, future in self._sleepers if not future.done()]
        return min(pending) if pending else None
