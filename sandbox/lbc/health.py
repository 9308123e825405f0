"""LBC simulator, health room: the registration clock, what ELBv2 would say about each target it registered.

A target is `initial` for targetInitialSeconds after RegisterTargets, then `healthy`; a deregistered one is
`draining` for the deregistration delay, then gone. It only remembers times; it never calls AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["DRAINING", "Health", "TargetClock"]

Target = tuple[str, int]  # (Id, Port)


@dataclass(frozen=True, slots=True)
class Health:
    """One target's TargetHealth as DescribeTargetHealth answers it (healthy carries no reason)."""

    state: str
    reason: str | None = None
    description: str | None = None


_REGISTERING = Health("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
_CHECKING = Health("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
_HEALTHY = Health("healthy")
DRAINING = Health("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")


@dataclass(frozen=True, slots=True)
class _Registered:
    at: float
    healthy_at: float


_Before = tuple[Target, _Registered | None, float | None]  # a target's registration and end of draining


class TargetClock:
    """Registration and deregistration times per target group; the timings are fixed when each event happens,
    so a knob change applies to later registrations only."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._registered: dict[str, dict[Target, _Registered]] = {}
        self._draining: dict[str, dict[Target, float]] = {}  # target -> when it is gone

    def registered(self, arn: str, targets: Iterable[Target], *,
                   initial_seconds: float) -> Callable[[], None]:
        """Registering from now on; returns how to undo it if the call failed."""
        now = self._now()
        before: list[_Before] = []
        for target in targets:
            before.append((target, self._registered.get(arn, {}).get(target),
                           self._draining.get(arn, {}).pop(target, None)))
            self._registered.setdefault(arn, {})[target] = _Registered(now, now + initial_seconds)
        return lambda: self._restore(arn, before)

    def deregistered(self, arn: str, targets: Iterable[Target], *,
                     delay_seconds: float) -> Callable[[], None]:
        """Forget the targets (draining for `delay_seconds`); returns how to undo it if the call failed."""
        now = self._now()
        before: list[_Before] = []
        for target in targets:
            before.append((target, self._registered.get(arn, {}).pop(target, None),
                           self._draining.get(arn, {}).get(target)))
            if delay_seconds > 0:
                self._draining.setdefault(arn, {})[target] = now + delay_seconds

        return lambda: self._restore(arn, before)

    def _restore(self, arn: str, before: list[_Before]) -> None:
        """Put back each target's (registration, end of draining) as they were before a failed call."""
        for target, registered, draining in before:
            if registered is None:
                self._registered.get(arn, {}).pop(target, None)
            else:
                self._registered.setdefault(arn, {})[target] = registered
            if draining is None:
                self._draining.get(arn, {}).pop(target, None)
            else:
                self._draining.setdefault(arn, {})[target] = draining

    def health(self, arn: str, target_id: str, port: int) -> Health | None:
        """What ELBv2 says about the target now; None when this clock never registered it (ask moto)."""
        target, now = (target_id, port), self._now()
        gone_at = self._draining.get(arn, {}).get(target)
        if gone_at is not None and now < gone_at:
            return DRAINING
        seen = self._registered.get(arn, {}).get(target)
        if seen is None:
            return None
        if now >= seen.healthy_at:
            return _HEALTHY
        # The real ELB first finishes registering, then runs the initial health checks: half the time each.
        return _REGISTERING if now < (seen.at + seen.healthy_at) / 2 else _CHECKING

    def draining(self, arn: str) -> list[Target]:
        """Targets of the group still draining (moto forgot them at once), in order; forgets expired ones."""
        now = self._now()
        waiting = self._draining.get(arn, {})
        for target in [t for t, gone_at in waiting.items() if gone_at <= now]:
            del waiting[target]
        return sorted(waiting)
