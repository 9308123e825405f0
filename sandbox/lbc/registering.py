"""LBC simulator, registration room: converges one target group's targets to a binding's ready endpoints.

Targets no longer wanted are deregistered at once (the real controller deregisters first); new ones are
registered targetRegistrationSeconds after they were first wanted. Every call is told to the registration
clock (`health.TargetClock`). It never touches Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.lbc import health

__all__ = ["Registrar", "Timings"]

Target = tuple[str, int]  # (pod IP, port)
_CHUNK = 200  # the real controller's RegisterTargets batch size


@dataclass(frozen=True, slots=True)
class Timings:
    registration_seconds: float = 0.0
    initial_seconds: float = 0.0
    deregistration_delay_seconds: float = 0.0


def _shape(targets: Iterable[Target]) -> list[dict[str, Any]]:
    return [{"Id": ip, "Port": port} for ip, port in targets]


class Registrar:
    """RegisterTargets/DeregisterTargets through one aiobotocore ELBv2 client, paced by `Timings`."""

    def __init__(self, elbv2: Any, clock: health.TargetClock, *, now: Callable[[], float],
                 on_registered: Callable[[str, float], None] | None = None) -> None:
        self._elbv2 = elbv2
        self._clock = clock
        self._now = now
        self._on_registered = on_registered  # (target group ARN, seconds until healthy): a benchmark's log
        self._due: dict[str, dict[Target, float]] = {}  # target group -> wanted target -> when to register

    async def sync(self, arn: str, targets: Iterable[Target], timings: Timings) -> float | None:
        """Deregister the unwanted targets and register the due ones; returns when the next registration is
        due (a `now` time), or None when the group holds exactly the wanted targets."""
        described = await self._elbv2.describe_target_health(TargetGroupArn=arn)
        current = {(d["Target"]["Id"], int(d["Target"]["Port"]))
                   for d in described["TargetHealthDescriptions"]
                   if d["TargetHealth"]["State"] not in ("draining", "unhealthy.draining")}
        wanted = set(targets)
        if stale := sorted(current - wanted):
            # draining from the moment of the call, as ELBv2 does: a DescribeTargetHealth racing the call must
            # not see the target gone before it drains
            undo = self._clock.deregistered(arn, stale, delay_seconds=timings.deregistration_delay_seconds)
            try:
                await self._elbv2.deregister_targets(TargetGroupArn=arn, Targets=_shape(stale))
            except BaseException:
                undo()
                raise
        missing = wanted - current
        now = self._now()
        due = {target: self._due.get(arn, {}).get(target, now + timings.registration_seconds)
               for target in missing}
        ready = sorted(target for target, at in due.items() if at <= now)
        for start in range(0, len(ready), _CHUNK):
            chunk = ready[start:start + _CHUNK]
            # `initial` from the moment of the call, as ELBv2 says: told to the clock after the call, a
            # DescribeTargetHealth in between saw moto's `healthy` (a probe passed, then targets went back)
            undo = self._clock.registered(arn, chunk, initial_seconds=timings.initial_seconds)
            try:
                await self._elbv2.register_targets(TargetGroupArn=arn, Targets=_shape(chunk))
            except BaseException:
                undo()
                raise
            if self._on_registered is not None:
                self._on_registered(arn, timings.initial_seconds)
        waiting = {target: at for target, at in due.items() if at > now}
        if not waiting:
            self._due.pop(arn, None)
            return None
        self._due[arn] = waiting
        return min(waiting.values())
