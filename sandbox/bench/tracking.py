"""What the benchmark sees of its rollouts and Ingresses, from the watches, with the time each change arrived.

Room: the benchmark. `Tracker.until(goal)` waits until every rollout satisfies `goal`, checking only the
rollout an event was about (N rollouts, many events each: never a scan per event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.bench import workload

__all__ = ["RolloutView", "Tracker"]


@dataclass(frozen=True, slots=True)
class RolloutView:
    """The parts of a Rollout the phases wait on."""

    phase: str = ""
    step: int | None = None
    stable: str = ""
    current: str = ""
    image: str = ""
    message: str = ""

    @classmethod
    def of(cls, obj: dict[str, Any]) -> RolloutView:
        status = obj.get("status") or {}
        containers = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {})
                      .get("containers") or [{}])
        step = status.get("currentStepIndex")
        return cls(phase=str(status.get("phase", "")), step=step if isinstance(step, int) else None,
                   stable=str(status.get("stableRS", "")), current=str(status.get("currentPodHash", "")),
                   image=str(containers[0].get("image", "")), message=str(status.get("message", "")))


Goal = Callable[[RolloutView], bool]


@dataclass(slots=True)
class Tracker:
    """Latest view per rollout, the canary weight changes per Ingress, and when each step was verified."""

    names: frozenset[str]
    views: dict[str, RolloutView] = field(default_factory=dict)
    weights: dict[str, list[tuple[float, int | None]]] = field(default_factory=dict)
    stepped_at: dict[str, float] = field(default_factory=dict)
    _goal: Goal | None = None
    _done: set[str] = field(default_factory=set)
    _wanted: set[str] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_rollout(self, obj: dict[str, Any], at: float) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        if name not in self.names:
            return
        view = self.views[name] = RolloutView.of(obj)
        # The step is verified when the controller moves past setWeight (with --aws-verify-target-group it
        # moves only once ELBv2 carries the weight): the first view at step 1 with a canary not yet stable.
        if view.step == 1 and view.current != view.stable and view.image == workload.IMAGES[1]:
            self.stepped_at.setdefault(name, at)
        if self._goal is not None:
            if self._goal(view):
                self._done.add(name)
            else:
                self._done.discard(name)
        self._changed.set()

    def on_ingress(self, obj: dict[str, Any], at: float) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        if name not in self.names:
            return
        weight = workload.canary_weight(obj)
        seen = self.weights.setdefault(name, [])
        if not seen or seen[-1][1] != weight:
            seen.append((at, weight))

    def first_weight(self, name: str, weight: int, after: float) -> float | None:
        """When the Ingress first carried `weight` for the canary at or after `after` (wall seconds)."""
        return next((at for at, w in self.weights.get(name, []) if w == weight and at >= after), None)

    async def until(self, goal: Goal, what: str, within: float, names: Iterable[str] | None = None) -> float:
        """Wait until every rollout (or each of `names`) satisfies `goal`; returns when (wall seconds)."""
        wanted = self._wanted = set(names) if names is not None else set(self.names)
        self._goal = goal
        self._done = {name for name in wanted if name in self.views and goal(self.views[name])}
        deadline = time.monotonic() + within
        try:
            while not wanted <= self._done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(self._stuck(what, wanted, within))
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    continue
            return time.time()
        finally:
            self._goal = None

    def unfinished(self) -> list[str]:
        """The rollouts the last `until` was still waiting for."""
        return sorted(self._wanted - self._done)

    def _stuck(self, what: str, wanted: set[str], within: float) -> str:
        missing = sorted(wanted - self._done)
        sample = "; ".join(f"{name}: {self.views.get(name)}" for name in missing[:3])
        return f"{len(missing)}/{len(wanted)} rollouts not {what} after {within:.0f} s (e.g. {sample})"
