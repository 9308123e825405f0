"""What one reconcile hands back to the worker loop: a `Result`, or a `TerminalError` raised.

Room: between reconcile and the queue. The reconciler only says what it wants (look again in N seconds, or
nothing); it never calls the queue's retry methods. Only the worker loop (`service/controller.py`) turns an
outcome into queue calls: an exception → rate-limited requeue, `TerminalError` → forget (logged, counted),
`requeue_after` → forget + add_after, success → forget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.kube import caches, watching

__all__ = ["CacheBehind", "Result", "TerminalError", "wait_written"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a reconcile that did not fail."""

    requeue_after: float | None = None
    """Seconds until the rollout is looked at again (a pause expiring, a verify retry); None: nothing."""


class TerminalError(Exception):
    """Retrying cannot help (e.g. InvalidSpec once its status is written): forget the key, log, count."""


class CacheBehind(Exception):
    """Our own write did not reach the cache in time: deciding on from an older copy could undo it; retry."""


async def wait_written(reflector: watching.Reflector, answer: Mapping[str, Any], within: float) -> None:
    """Wait until `reflector`'s cache shows the write that answered `answer`; CacheBehind after `within` s."""
    version = caches.resource_version_of(answer)
    if version and not await reflector.wait_seen(version, within):
        raise CacheBehind(f"the {reflector.resource.name} cache did not show our write (resourceVersion "
                          f"{version}) within {within:g}s")
