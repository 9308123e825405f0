"""LBC simulator, record room: when each target group's forward weight reached AWS, and when targets it
registered for a Service became healthy, by wall-clock time.

Weights are kept per target-group resource id (`<ns>/<ingress>-<service>:<port>`), registrations per Service
(`<ns>/<service>`), so a benchmark can tell when the ALB started carrying a weight or serving new pods without
polling ELBv2. Bounded: the last few changes per key, at most `limit` keys.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from sandbox.lbc import models

__all__ = ["ServingLog", "WeightLog"]

_PER_ID = 8


class WeightLog:
    """`record(stack)` after a deploy; `changes()` → {resource id: [[wall seconds, weight], ...]}."""

    def __init__(self, *, clock: Callable[[], float] = time.time, limit: int = 50_000) -> None:
        self._clock = clock
        self._limit = limit
        self._changes: dict[str, deque[tuple[float, int | None]]] = {}

    def record(self, stack: models.StackModel) -> None:
        now = self._clock()
        for resource_id, weight in _weights(stack).items():
            seen = self._changes.get(resource_id)
            if seen is None:
                if len(self._changes) >= self._limit:
                    self._changes.pop(next(iter(self._changes)))
                seen = self._changes[resource_id] = deque(maxlen=_PER_ID)
            if not seen or seen[-1][1] != weight:
                seen.append((now, weight))

    def changes(self, prefix: str = "") -> dict[str, list[list[float | int | None]]]:
        return {rid: [[at, weight] for at, weight in seen]
                for rid, seen in self._changes.items() if rid.startswith(prefix)}


class ServingLog:
    """`record(service, after)` when registered targets become healthy `after` seconds from now;
    `times()` → {"<ns>/<service>": [wall seconds, ...]}."""

    def __init__(self, *, clock: Callable[[], float] = time.time, limit: int = 50_000) -> None:
        self._clock = clock
        self._limit = limit
        self._times: dict[str, deque[float]] = {}

    def record(self, service: str, after: float = 0.0) -> None:
        seen = self._times.get(service)
        if seen is None:
            if len(self._times) >= self._limit:
                self._times.pop(next(iter(self._times)))
            seen = self._times[service] = deque(maxlen=_PER_ID)
        seen.append(self._clock() + after)

    def times(self, prefix: str = "") -> dict[str, list[float]]:
        return {key: list(seen) for key, seen in self._times.items() if key.startswith(prefix)}


def _weights(stack: models.StackModel) -> dict[str, int | None]:
    """The weight each of the stack's own target groups gets from the first rule that forwards to it."""
    found: dict[str, int | None] = {}
    actions = [rule.action for rule in stack.rules] + [stack.default_action]
    for action in actions:
        if not isinstance(action, models.ForwardModel):
            continue
        for ref, weight in action.target_groups:
            if ref.resource_id is not None:
                found.setdefault(ref.resource_id, weight)
    return found
