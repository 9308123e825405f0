"""What one reconcile hands back to the worker loop: a `Result`, or a `TerminalError` raised.

Room: between reconcile and the queue. The reconciler only says what it wants (look again in N seconds, or
nothing); it never calls the queue's retry methods. Only the worker loop (`service/controller.py`) turns an
outcome into queue calls: an exception → rate-limited requeue, `TerminalError` → forget (logged, counted),
`requeue_after` → forget + add_after, success → forget.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Result", "TerminalError"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a reconcile that did not fail."""

    requeue_after: float | None = None
    """Seconds until the rollout is looked at again (a pause expiring, a verify retry); None: nothing."""


class TerminalError(Exception):
    """Retrying cannot help (e.g. InvalidSpec once its status is written): forget the key, log, count."""
