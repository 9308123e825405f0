"""Coalesced reads: callers of one key within a short window share one AWS read, and may ask for a newer one.

Room: act (AWS). Keeps N rollouts on one ALB (or one target group) from each paying for the same read, and
lets a caller that saw a stale answer wait for the next shared read instead of reading privately. It never
caches failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.aws import throttling

__all__ = ["DEFAULT_WINDOW_SECONDS", "MAX_REMEMBERED", "STAMP_EPSILON", "CoalescedReads", "FailedReads"]

DEFAULT_WINDOW_SECONDS = 0.2
MAX_REMEMBERED = 20_000  # keys left unverified that are remembered; the oldest go first
STAMP_EPSILON = 1e-6  # "a read started after this one", on the monotonic clock

K = TypeVar("K")
V = TypeVar("V")


@dataclass(slots=True)
class _Done(Generic[V]):
    value: V
    started: float
    finished: float


@dataclass(slots=True, eq=False)
class _Read(Generic[V]):
    """One read of a key: waiting for its window (`started` None), then in flight."""

    started: float | None = None
    task: asyncio.Future[tuple[V, float]] = field(init=False)


class CoalescedReads(Generic[K, V]):
    """`get(key, load, newer_than=)`: a fresh answer, a read in flight, or the next read (after `window`)."""

    def __init__(self, fresh_seconds: float, *, window: float = DEFAULT_WINDOW_SECONDS,
                 monotonic: throttling.Monotonic, sleep: throttling.Sleep = asyncio.sleep) -> None:
        self.fresh_seconds = fresh_seconds
        self.window = window
        self._monotonic = monotonic
        self._sleep = sleep
        self._done: dict[K, _Done[V]] = {}
        self._flying: dict[K, _Read[V]] = {}
        self._next: dict[K, _Read[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]], *, newer_than: float | None = None) -> V:
        """The value only; see `get_with_stamp`."""
        value, _ = await self.get_with_stamp(key, load, newer_than=newer_than)
        return value

    async def get_with_stamp(self, key: K, load: Callable[[], Awaitable[V]], *,
                             newer_than: float | None = None) -> tuple[V, float]:
        """(value, monotonic time its read started); with `newer_than`, only a read started at/after it."""
        done = self._done.get(key)
        if (done is not None and self._monotonic() - done.finished <= self.fresh_seconds
                and (newer_than is None or done.started >= newer_than)):
            return done.value, done.started
        flying = self._flying.get(key)
        if flying is not None and flying.started is not None and (
                newer_than is None or flying.started >= newer_than):
            read = flying
        else:
            read = self._next.get(key) or self._schedule(key, load)
        # shield: one cancelled waiter must not cancel the read the others are waiting for.
        return await asyncio.shield(read.task)

    def _schedule(self, key: K, load: Callable[[], Awaitable[V]]) -> _Read[V]:
        read: _Read[V] = _Read()
        read.task = asyncio.ensure_future(self._run(key, read, load))
        # Every waiter may be cancelled; the failure then has no reader and must not be reported as lost.
        read.task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._next[key] = read
        return read

    async def _run(self, key: K, read: _Read[V], load: Callable[[], Awaitable[V]]) -> tuple[V, float]:
        try:
            await self._sleep(self.window)  # callers arriving meanwhile join this read
        finally:
            if self._next.get(key) is read:
                del self._next[key]
        started = read.started = self._monotonic()
        self._flying[key] = read
        try:
            value = await load()
        finally:
            if self._flying.get(key) is read:
                del self._flying[key]
        done = self._done.get(key)
        # A slow read that finishes after a later one must not replace the later one's answer.
        if done is None or done.started <= started:
            self._done[key] = _Done(value, started, self._monotonic())
        return value, started

    def forget(self, key: K) -> None:
        """Drop a cached value: the next caller reads again."""
        self._done.pop(key, None)

    def clear(self) -> None:
        self._done.clear()


class FailedReads(Generic[K]):
    """When the read that left each key unverified started: its next check asks for a newer shared read
    instead of the same answer again. Bounded to `limit` keys, the oldest forgotten first."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._stamps: dict[K, float] = {}

    def newer_than(self, key: K) -> float | None:
        stamp = self._stamps.get(key)
        return None if stamp is None else stamp + STAMP_EPSILON

    def remember(self, key: K, stamp: float | None) -> None:
        """`stamp` None: the key is verified now, nothing to remember."""
        self._stamps.pop(key, None)
        if stamp is None:
            return
        if len(self._stamps) >= self.limit:
            self._stamps.pop(next(iter(self._stamps)))
        self._stamps[key] = stamp

    def keys(self) -> list[K]:
        return list(self._stamps)
