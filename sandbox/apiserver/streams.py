"""Change notification for the emulator: watch events, live subscriptions, the replayable history.

Part of the sandbox API emulator; it never changes objects, it only records and fans out what storage did.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.apiserver import errors
from sandbox.apiserver.indexes import copy_json

__all__ = ["EventType", "History", "Subscription", "WatchEvent"]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change: the object as written (for DELETED, its last state with the deletion's RV).

    `previous` is the state before a MODIFIED, so filtered watches can turn selector exits into DELETED.
    """

    type: EventType
    resource: str
    object: dict[str, Any]
    previous: dict[str, Any] | None = None

    @property
    def resource_version(self) -> int:
        return int(self.object["metadata"]["resourceVersion"])


class Subscription:
    """Live events for one resource (all when None) as an async iterator; `close()` ends it."""

    def __init__(self, resource: str | None, on_close: Callable[[Subscription], None]) -> None:
        self.resource = resource
        self._queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self._on_close = on_close
        self.closed = False

    def deliver(self, event: WatchEvent) -> None:
        if not self.closed and (self.resource is None or self.resource == event.resource):
            self._queue.put_nowait(
                WatchEvent(event.type, event.resource, copy_json(event.object), event.previous)
            )

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)
            self._on_close(self)

    def pending(self) -> int:
        return self._queue.qsize()

    def ready(self) -> WatchEvent | None:
        """The next event if one is queued, else None: a busy watch takes it without a task and a timer.
        StopAsyncIteration once closed, as iterating does."""
        if self._queue.empty():
            return None
        event = self._queue.get_nowait()
        if event is None:
            raise StopAsyncIteration
        return event

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> WatchEvent:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class History:
    """Bounded event log for watch resumption; events at or below `floor` are gone (410 Expired)."""

    def __init__(self, limit: int) -> None:
        self._events: collections.deque[WatchEvent] = collections.deque()
        self._limit = limit
        self.floor = 0
        self._subscribers: list[Subscription] = []

    def record(self, event: WatchEvent) -> None:
        self._events.append(event)
        while len(self._events) > self._limit:
            self.floor = self._events.popleft().resource_version
        for sub in list(self._subscribers):
            sub.deliver(event)

    def subscribe(self, resource: str | None) -> Subscription:
        sub = Subscription(resource, self._subscribers.remove)
        self._subscribers.append(sub)
        return sub

    def since(self, resource: str, resource_version: int) -> list[WatchEvent]:
        """Events of `resource` newer than `resource_version`; 410 when that point was compacted away."""
        if resource_version < self.floor:
            raise errors.expired(resource_version, self.floor)
        return [
            WatchEvent(e.type, e.resource, copy_json(e.object), e.previous)
            for e in self._events
            if e.resource == resource and e.resource_version > resource_version
        ]

    def compact(self, resource_version: int) -> None:
        """Forget everything up to `resource_version`."""
        self.floor = max(self.floor, resource_version)
        while self._events and self._events[0].resource_version <= self.floor:
            self._events.popleft()

    def subscriber_count(self) -> int:
        return len(self._subscribers)
