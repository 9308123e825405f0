"""Single flight with a freshness window: concurrent readers of the same key share one AWS read.

Room: act (AWS). Shares the reads that change rarely (listeners, the load balancer scan, target group names;
rules and target health use `coalescing`); it never holds a value longer than its window and never caches
failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.aws import throttling

__all__ = ["SingleFlight"]

K = TypeVar("K")
V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    stamp: float


class SingleFlight(Generic[K, V]):
    """`get(key, load)` returns a value at most `fresh_seconds` old, loading it once for all waiters."""

    def __init__(self, fresh_seconds: float, *, monotonic: throttling.Monotonic) -> None:
        self.fresh_seconds = fresh_seconds
        self._monotonic = monotonic
        self._done: dict[K, _Entry[V]] = {}
        self._flying: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._done.get(key)
        if entry is not None and self._monotonic() - entry.stamp <= self.fresh_seconds:
            return entry.value
        flying = self._flying.get(key)
        if flying is not None:
            # shield: one cancelled waiter must not cancel the read the others are waiting for.
            return await asyncio.shield(flying)
        task: asyncio.Future[V] = asyncio.ensure_future(self._load(key, load))
        # Every waiter may be cancelled; the failure then has no reader and must not be reported as lost.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._flying[key] = task
        return await asyncio.shield(task)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
            self._done[key] = _Entry(value, self._monotonic())
            return value
        finally:
            self._flying.pop(key, None)

    def forget(self, key: K) -> None:
        """Drop a cached value (e.g. the rule we looked for was not there: read again next time)."""
        self._done.pop(key, None)

    def clear(self) -> None:
        self._done.clear()
