"""Writes a reconcile made and the next reconcile of the same Rollout must find in the caches first.

Room: between apply and the next reconcile (client-go's ControllerExpectations, by resourceVersion). An effect
whose answer no later decision of the same reconcile reads records the write here instead of waiting for the
watch to bring it back: the worker is free at once, and the watch event of that write queues the Rollout
again. A reconcile that starts before its caches show those writes does nothing and waits for that event;
one still unseen after `within` seconds is given up with `CacheBehind` (retried, as a late cache was before).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from service import results
from service.kube import caches, watching

__all__ = ["Expectations", "Pending"]


@dataclass(frozen=True, slots=True)
class Pending:
    """One write not yet seen: in which cache, at which resourceVersion, since when."""

    reflector: watching.Reflector
    resource_version: str
    since: float


class Expectations:
    """Per Rollout key, the writes its next reconcile waits for; `within` seconds at most."""

    def __init__(self, *, within: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.within = within
        self._monotonic = monotonic
        self._pending: dict[str, list[Pending]] = {}

    def expect(self, key: str, reflector: watching.Reflector, answer: Mapping[str, Any]) -> None:
        """Remember the write that answered `answer` (an object without a resourceVersion needs nothing)."""
        version = caches.resource_version_of(answer)
        if version:
            self._pending.setdefault(key, []).append(Pending(reflector, version, self._monotonic()))

    def unseen(self, key: str) -> list[Pending]:
        """The writes of `key` its caches do not show yet; CacheBehind (and forgotten) once one is late."""
        pending = [p for p in self._pending.get(key, ()) if not p.reflector.has_seen(p.resource_version)]
        if not pending:
            self._pending.pop(key, None)
            return []
        late = [p for p in pending if self._monotonic() - p.since > self.within]
        if late:
            self._pending.pop(key, None)
            first = late[0]
            raise results.CacheBehind(
                f"the {first.reflector.resource.name} cache did not show our write (resourceVersion "
                f"{first.resource_version}) within {self.within:g}s")
        self._pending[key] = pending
        return pending

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)
