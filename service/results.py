"""What one reconcile hands back to the worker loop: a `Result`, or a `TerminalError` raised.

Room: between reconcile and the queue. The reconciler only says what it wants (look again in N seconds, or
nothing); it never calls the queue's retry methods. Only the worker loop (`service/controller.py`) turns an
outcome into queue calls: an exception → rate-limited requeue, `TerminalError` → forget (logged, counted),
`requeue_after` → forget + add_after, success → forget.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.kube import caches, watching

__all__ = ["CacheBehind", "Deferred", "Result", "TerminalError", "Written", "deferring", "wait_written",
           "wrote_unwatched"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a reconcile that did not fail."""

    requeue_after: float | None = None
    """Seconds until the rollout is looked at again (a pause expiring, a verify retry); None: nothing."""


class TerminalError(Exception):
    """Retrying cannot help (e.g. InvalidSpec once its status is written): forget the key, log, count."""


class CacheBehind(Exception):
    """Our own write did not reach the cache in time: deciding on from an older copy could undo it; retry."""


Written = tuple[watching.Reflector, Mapping[str, Any]]


@dataclass(slots=True)
class Deferred:
    """The writes of one reconcile: those its next reconcile waits for, and how many others it made."""

    written: list[Written] = field(default_factory=list)
    unwatched: int = 0
    """Writes no cache is waited on for (an eviction, a deletion, an AnalysisRun terminated)."""


_DEFERRED: contextvars.ContextVar[Deferred | None] = contextvars.ContextVar("deferred_writes", default=None)


@contextlib.contextmanager
def deferring() -> Iterator[Deferred]:
    """Inside, `wait_written` does not wait: it lists the write for the next reconcile to wait for
    (service.expectations). A Rollout reconcile runs inside it: no decision of it reads back its writes."""
    deferred = Deferred()
    token = _DEFERRED.set(deferred)
    try:
        yield deferred
    finally:
        _DEFERRED.reset(token)


def wrote_unwatched() -> None:
    """Count a write no decision waits to see (under `deferring()`; else nothing): after it, the reconcile
    does not decide again at once, from caches that cannot show it yet."""
    deferred = _DEFERRED.get()
    if deferred is not None:
        deferred.unwatched += 1


async def wait_written(reflector: watching.Reflector, answer: Mapping[str, Any], within: float) -> None:
    """Wait until `reflector`'s cache shows the write that answered `answer`; CacheBehind after `within` s.
    Under `deferring()`, record it instead."""
    deferred = _DEFERRED.get()
    if deferred is not None:
        deferred.written.append((reflector, answer))
        return
    version = caches.resource_version_of(answer)
    if version and not await reflector.wait_seen(version, within):
        raise CacheBehind(f"the {reflector.resource.name} cache did not show our write (resourceVersion "
                          f"{version}) within {within:g}s")
